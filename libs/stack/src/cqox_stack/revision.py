"""`python -m cqox_stack.revision SERVICE "message"`: autogenerate an Alembic revision for a
service's schema against a throwaway real PostgreSQL (existing revisions applied first)."""

from __future__ import annotations

import argparse
import importlib
import shutil
import tempfile
from pathlib import Path

import sqlalchemy as sa

from cqox_stack.processes import Postgres

TEMPLATE = Path(importlib.import_module("cqox_shared").__file__).parent / "migration_template"  # type: ignore[arg-type]


def autogenerate(service_module: str, message: str) -> None:
    """Write a new revision file into the service's `db/migrations/versions/`."""
    from alembic import command
    from alembic.config import Config

    from cqox_shared.db import ensure_database, migrate

    db_package = importlib.import_module(f"{service_module}.db")
    models = importlib.import_module(f"{service_module}.db.models")
    migrations: Path = db_package.MIGRATIONS
    schema: str = models.SCHEMA
    root = Path(tempfile.mkdtemp(prefix="cqox-rev-"))
    postgres = Postgres(root)
    try:
        postgres.start()
        url = postgres.url("cqox")
        ensure_database(url)
        migrate(url, migrations, schema)
        template = migrations / "script.py.mako"
        shutil.copy(TEMPLATE / "script.py.mako", template)
        try:
            engine = sa.create_engine(url)
            with engine.connect() as conn:
                config = Config()
                config.set_main_option("script_location", str(migrations))
                config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
                config.attributes["connection"] = conn
                config.attributes["schema"] = schema
                existing = len(list((migrations / "versions").glob("*.py")))
                command.revision(config, message=message, autogenerate=True, rev_id=f"{existing + 1:04d}")
            engine.dispose()
        finally:
            template.unlink()
    finally:
        postgres.remove()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("service", help="service package, e.g. ingest or quality_gate")
    parser.add_argument("message")
    args = parser.parse_args()
    autogenerate(f"cqox_{args.service.replace('-', '_')}", args.message)


if __name__ == "__main__":
    main()
