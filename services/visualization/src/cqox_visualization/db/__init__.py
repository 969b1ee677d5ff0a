"""The `visualization` schema: report and figure metadata, plus the bus runtime's tables."""

from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
