"""delivery leases: claimed deliveries are in flight until a lease ends, no lock held meanwhile

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 03:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "deliveries", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True), schema="notification"
    )
    op.add_column("deliveries", sa.Column("claim_token", sa.String(length=64), nullable=True), schema="notification")
    op.create_index(
        "ix_notification_deliveries_due",
        "deliveries",
        ["status", "next_attempt_at"],
        unique=False,
        schema="notification",
    )


def downgrade() -> None:
    op.drop_index("ix_notification_deliveries_due", table_name="deliveries", schema="notification")
    op.drop_column("deliveries", "claim_token", schema="notification")
    op.drop_column("deliveries", "lease_until", schema="notification")
