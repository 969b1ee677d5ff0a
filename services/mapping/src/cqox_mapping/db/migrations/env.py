"""Alembic environment of the mapping schema."""

from cqox_mapping.db.models import metadata
from cqox_shared.db import run_migrations_env

run_migrations_env(metadata)
