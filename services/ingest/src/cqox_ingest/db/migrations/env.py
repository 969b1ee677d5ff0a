"""Alembic environment of the ingest schema."""

from cqox_ingest.db.models import metadata
from cqox_shared.db import run_migrations_env

run_migrations_env(metadata)
