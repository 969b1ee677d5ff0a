"""issued API keys, hashed at rest

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 03:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rotated_from", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("key_id"),
        schema="ingest",
    )
    op.create_index(
        op.f("ix_ingest_api_keys_tenant_id"), "api_keys", ["tenant_id"], unique=False, schema="ingest"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_ingest_api_keys_tenant_id"), table_name="api_keys", schema="ingest")
    op.drop_table("api_keys", schema="ingest")
