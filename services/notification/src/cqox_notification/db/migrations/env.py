"""Alembic environment of the notification schema."""

from cqox_notification.db.models import metadata
from cqox_shared.db import run_migrations_env

run_migrations_env(metadata)
