"""analysis sensitivity panels and verdict

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 01:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "analyses",
        sa.Column("sensitivity", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema="ingest",
    )
    op.add_column(
        "analyses",
        sa.Column("verdict", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema="ingest",
    )


def downgrade() -> None:
    op.drop_column("analyses", "verdict", schema="ingest")
    op.drop_column("analyses", "sensitivity", schema="ingest")
