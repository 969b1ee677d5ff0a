"""analysis headline

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 01:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "analyses",
        sa.Column("headline", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema="ingest",
    )


def downgrade() -> None:
    op.drop_column("analyses", "headline", schema="ingest")
