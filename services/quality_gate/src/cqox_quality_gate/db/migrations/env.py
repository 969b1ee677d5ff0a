"""Alembic environment of the quality schema."""

from cqox_quality_gate.db.models import metadata
from cqox_shared.db import run_migrations_env

run_migrations_env(metadata)
