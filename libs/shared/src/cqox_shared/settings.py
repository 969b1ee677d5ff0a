"""Service configuration from environment variables (prefix CQOX_)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Settings every service reads; services subclass to add their own."""

    model_config = SettingsConfigDict(env_prefix="CQOX_", extra="ignore")

    nats_url: str = "nats://127.0.0.1:4222"
    # The service's own NATS user (SECURITY.md: the bus is a trust boundary); unset: credentials in
    # the URL, if any.
    nats_user: str | None = None
    nats_password: str | None = None
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/cqox"
    artifact_url: str = "file:///tmp/cqox-artifacts"
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_secure: bool = False
    s3_region: str | None = None
    log_level: str = "INFO"
    http_host: str = "0.0.0.0"
    http_port: int = 9100
    ack_wait_s: float = 60.0
    max_deliver: int = 5
    default_tenant: str = "default"
    instance_id: str = ""
    # Retention of the bus runtime's tables, pruned by a background task every interval.
    # Published outbox rows are history only; a processed-event record must outlive any redelivery
    # or replay of its message, so keep it longer than the streams' max_age (7 days).
    outbox_retention_s: float = 24 * 3600
    processed_events_retention_s: float = 8 * 24 * 3600
    retention_interval_s: float = 3600
    # Every Postgres connection (ADR 0021): a query or lock wait longer than the statement timeout
    # fails, a transaction left idle longer than the idle timeout is ended by the server, and TCP
    # keepalives notice a half-open connection. A handler meeting a database outage keeps its
    # message (in-progress acks) and waits up to db_outage_wait_s for the database to come back
    # before the delivery counts as failed.
    db_statement_timeout_s: float = 60.0
    db_idle_in_transaction_timeout_s: float = 300.0
    db_connect_timeout_s: float = 10.0
    db_keepalives_idle_s: int = 30
    db_outage_wait_s: float = 120.0
