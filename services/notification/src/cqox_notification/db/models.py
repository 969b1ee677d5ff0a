"""Tables of the `notification` schema."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cqox_shared.db import messaging_tables

SCHEMA = "notification"
metadata = MetaData(schema=SCHEMA)
processed_events, outbox = messaging_tables(metadata)


class Base(DeclarativeBase):
    """Declarative base bound to the notification schema."""

    metadata = metadata


class Subscription(Base):
    """A webhook a tenant registered, optionally for one analysis only."""

    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(100), index=True)
    url: Mapped[str] = mapped_column(sa.Text)
    # Sealed (encrypted) with the keys in CQOX_WEBHOOK_SECRET_KEYS: `fernet:<token>`.
    secret: Mapped[str] = mapped_column(sa.Text)
    event_types: Mapped[list[str]] = mapped_column(JSONB)
    analysis_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class Delivery(Base):
    """One event to deliver to one subscription; retried until delivered or given up.

    `pending` → `in_flight` (claimed by one dispatcher until `lease_until`, under `claim_token`)
    → `delivered` | `failed` | back to `pending` for a retry; a lapsed lease is claimed again."""

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.UniqueConstraint("subscription_id", "event_id"),
        sa.Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(
        sa.ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[str] = mapped_column(sa.String(100))
    analysis_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    correlation_id: Mapped[str] = mapped_column(sa.String(64))
    causation_id: Mapped[str] = mapped_column(sa.String(64))
    event_id: Mapped[str] = mapped_column(sa.String(64))
    event_type: Mapped[str] = mapped_column(sa.String(80))
    payload: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    lease_until: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    claim_token: Mapped[str | None] = mapped_column(sa.String(64))
    delivered_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class DeliveryAttempt(Base):
    """One HTTP attempt of a delivery, with its outcome."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(sa.ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int]
    status_code: Mapped[int | None]
    error: Mapped[str] = mapped_column(sa.Text, default="")
    duration_ms: Mapped[float]
    attempted_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class ReplicaKey(Base):
    """An API key issued by ingest, mirrored from its key events: the HMAC digest of its secret
    (never the secret), tenant, role, expiry and revocation. Tenant, role and digest never change
    once stored; expiry only shortens; a revocation is never undone."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(100), index=True)
    role: Mapped[str] = mapped_column(sa.String(20))
    digest: Mapped[str] = mapped_column(sa.String(64))
    expires_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    rotated_from: Mapped[str | None] = mapped_column(sa.String(32))
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now(), onupdate=sa.func.now()
    )
