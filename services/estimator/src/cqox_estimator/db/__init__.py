"""The `estimator` schema: plans, per-method results and estimates, plus the bus runtime's tables."""

from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
