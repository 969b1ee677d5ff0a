"""The `quality` schema: gate results per analysis, plus the bus runtime's tables."""

from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
