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
    """The roles inferred (or overridden) for one analysis, with the designs considered."""

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
    dictionary_version: Mapped[str] = mapped_column(sa.String(200))
    designs: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=sa.text("'[]'::jsonb"))
    notes: Mapped[list[str]] = mapped_column(JSONB, server_default=sa.text("'[]'::jsonb"))
    confirmed: Mapped[bool] = mapped_column(server_default=sa.false())
    confidence_threshold: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class DatasetOverride(Base):
    """Roles a person confirmed or set for a dataset; reused by its later analyses and versions."""

    __tablename__ = "dataset_overrides"

    tenant_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    roles: Mapped[dict[str, Any]] = mapped_column(JSONB)
    analysis_id: Mapped[str] = mapped_column(sa.String(64))
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now(), onupdate=sa.func.now()
    )
