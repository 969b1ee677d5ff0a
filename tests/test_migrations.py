"""Every service's Alembic migrations build exactly the schema its models declare."""

from __future__ import annotations

import importlib
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cqox_shared.db import ensure_database, migrate

pytestmark = pytest.mark.integration

SERVICES = ("ingest", "mapping", "estimator", "quality_gate", "visualization", "notification")


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_match_models_and_rerun_as_a_no_op(infra, service: str) -> None:  # type: ignore[no-untyped-def]
    db = importlib.import_module(f"cqox_{service}.db")
    models = importlib.import_module(f"cqox_{service}.db.models")
    url = infra.database_url.rsplit("/", 1)[0] + f"/mig_{uuid.uuid4().hex[:8]}"
    ensure_database(url)
    migrate(url, db.MIGRATIONS, models.SCHEMA)
    migrate(url, db.MIGRATIONS, models.SCHEMA)  # idempotent: a restart migrates nothing
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "include_schemas": True,
                    "version_table_schema": models.SCHEMA,
                    "include_name": lambda name, type_, _: type_ != "schema" or name == models.SCHEMA,
                },
            )
            differences = compare_metadata(context, models.metadata)
            version = conn.execute(
                sa.text(f'SELECT version_num FROM "{models.SCHEMA}".alembic_version')
            ).scalar()
    finally:
        engine.dispose()
    assert differences == [], f"models of {service} differ from its migrations: {differences}"
    assert version is not None
