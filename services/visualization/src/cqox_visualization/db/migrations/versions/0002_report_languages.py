"""report languages: the language each analysis's spec asked for

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_languages",
        sa.Column("analysis_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=100), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("analysis_id"),
        schema="visualization",
    )
    op.create_index(
        op.f("ix_visualization_report_languages_tenant_id"),
        "report_languages",
        ["tenant_id"],
        unique=False,
        schema="visualization",
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_visualization_report_languages_tenant_id"), table_name="report_languages", schema="visualization"
    )
    op.drop_table("report_languages", schema="visualization")
