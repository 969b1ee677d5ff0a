"""api key replica: keys issued by ingest, mirrored from key.issued / key.rotated / key.revoked

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rotated_from", sa.String(length=32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("key_id"),
        schema="notification",
    )
    op.create_index(
        op.f("ix_notification_api_keys_tenant_id"), "api_keys", ["tenant_id"], unique=False, schema="notification"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_notification_api_keys_tenant_id"), table_name="api_keys", schema="notification")
    op.drop_table("api_keys", schema="notification")
