"""audit log: who (key id or token subject), client address, outcome; append-only by trigger

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION ingest.audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ingest.audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def upgrade() -> None:
    op.add_column(
        "audit_log", sa.Column("actor", sa.String(200), nullable=False, server_default=""), schema="ingest"
    )
    op.add_column(
        "audit_log", sa.Column("client", sa.String(100), nullable=False, server_default=""), schema="ingest"
    )
    op.add_column(
        "audit_log", sa.Column("outcome", sa.String(20), nullable=False, server_default="ok"), schema="ingest"
    )
    op.create_index("ix_ingest_audit_log_tenant_id_id", "audit_log", ["tenant_id", "id"], schema="ingest")
    op.execute(APPEND_ONLY)
    op.execute(
        "CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON ingest.audit_log "
        "FOR EACH ROW EXECUTE FUNCTION ingest.audit_log_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON ingest.audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION ingest.audit_log_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON ingest.audit_log")
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_update_delete ON ingest.audit_log")
    op.execute("DROP FUNCTION IF EXISTS ingest.audit_log_append_only()")
    op.drop_index("ix_ingest_audit_log_tenant_id_id", table_name="audit_log", schema="ingest")
    op.drop_column("audit_log", "outcome", schema="ingest")
    op.drop_column("audit_log", "client", schema="ingest")
    op.drop_column("audit_log", "actor", schema="ingest")
