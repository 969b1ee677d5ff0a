"""Tables of the `mapping` schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cqox_shared.db import messaging_tables

SCHEMA = "mapping"
metadata = MetaData(schema=SCHEMA)
processed_events, outbox = messaging_tables(metadata)


class Base(DeclarativeBase):
    """Declarative base bound to the mapping schema."""

    metadata = metadata


class RoleMappingRecord(Base):
    """The roles inferred (or overridden) for one analysis."""

    __tablename__ = "role_mappings"

    analysis_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(100), index=True)
    dataset_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    dataset_version: Mapped[int]
    roles: Mapped[dict[str, Any]] = mapped_column(JSONB)
    assignments: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    design: Mapped[str] = mapped_column(sa.String(40))
    needs_confirmation: Mapped[bool]
    overrides: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    dictionary_version: Mapped[str] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
