"""Embedded CQOx stack: real nats-server and PostgreSQL from pip packages, services as processes."""
