"""Tables of the `visualization` schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cqox_shared.db import messaging_tables

SCHEMA = "visualization"
metadata = MetaData(schema=SCHEMA)
processed_events, outbox = messaging_tables(metadata)


class Base(DeclarativeBase):
    """Declarative base bound to the visualization schema."""

    metadata = metadata


class ReportRecord(Base):
    """The report and figures drawn for one analysis."""

    __tablename__ = "reports"

    analysis_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(100), index=True)
    report_uri: Mapped[str] = mapped_column(sa.Text)
    artifacts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    headline: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class ReportLanguage(Base):
    """The report language an analysis's spec asked for (heard on dataset.qualified)."""

    __tablename__ = "report_languages"

    analysis_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(100), index=True)
    language: Mapped[str] = mapped_column(sa.String(8))
