"""analyses.seed: the seed every random step of the analysis used (ADR 0037)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 19:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("analyses", sa.Column("seed", sa.BigInteger(), nullable=True), schema="ingest")


def downgrade() -> None:
    op.drop_column("analyses", "seed", schema="ingest")
