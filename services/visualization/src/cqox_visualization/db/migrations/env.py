"""Alembic environment of the visualization schema."""

from cqox_shared.db import run_migrations_env
from cqox_visualization.db.models import metadata

run_migrations_env(metadata)
