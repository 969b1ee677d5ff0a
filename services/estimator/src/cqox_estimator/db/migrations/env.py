"""Alembic environment of the estimator schema."""

from cqox_estimator.db.models import metadata
from cqox_shared.db import run_migrations_env

run_migrations_env(metadata)
