"""The `notification` schema: subscriptions, deliveries, attempts, plus the bus runtime's tables."""

from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
