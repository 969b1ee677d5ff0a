"""seal webhook secrets: encrypt every stored secret with the keys in CQOX_WEBHOOK_SECRET_KEYS

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 03:45:00
"""

import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cqox_notification.sealing import SEALED_PREFIX, SECRET_KEYS_ENV, SecretSealer

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_subscriptions = sa.table(
    "subscriptions", sa.column("id", sa.String), sa.column("secret", sa.Text), schema="notification"
)


def upgrade() -> None:
    op.alter_column(
        "subscriptions", "secret", type_=sa.Text(), existing_type=sa.String(length=200), schema="notification"
    )
    sealer = SecretSealer(os.environ.get(SECRET_KEYS_ENV, ""))
    bind = op.get_bind()
    rows = bind.execute(sa.select(_subscriptions.c.id, _subscriptions.c.secret)).all()
    for row in rows:
        if not row.secret.startswith(SEALED_PREFIX):
            bind.execute(
                _subscriptions.update()
                .where(_subscriptions.c.id == row.id)
                .values(secret=sealer.seal(row.secret))
            )


def downgrade() -> None:
    sealer = SecretSealer(os.environ.get(SECRET_KEYS_ENV, ""))
    bind = op.get_bind()
    rows = bind.execute(sa.select(_subscriptions.c.id, _subscriptions.c.secret)).all()
    for row in rows:
        if row.secret.startswith(SEALED_PREFIX):
            bind.execute(
                _subscriptions.update()
                .where(_subscriptions.c.id == row.id)
                .values(secret=sealer.open(row.secret))
            )
