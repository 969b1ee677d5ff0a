"""The `ingest` schema: datasets, versions and schemas, the analyses read model, events, audit."""

from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
