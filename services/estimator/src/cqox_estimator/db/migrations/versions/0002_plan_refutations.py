"""plan refutations: the refuted methods of a plan and what their refuters reported

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 01:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "plans",
        sa.Column(
            "refuted",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        schema="estimator",
    )
    op.create_table(
        "plan_refutations",
        sa.Column("analysis_id", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("refutations", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("analysis_id", "method"),
        schema="estimator",
    )


def downgrade() -> None:
    op.drop_table("plan_refutations", schema="estimator")
    op.drop_column("plans", "refuted", schema="estimator")
