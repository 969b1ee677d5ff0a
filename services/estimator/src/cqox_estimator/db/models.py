"""Tables of the `estimator` schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cqox_shared.db import messaging_tables

SCHEMA = "estimator"
metadata = MetaData(schema=SCHEMA)
processed_events, outbox = messaging_tables(metadata)


class Base(DeclarativeBase):
    """Declarative base bound to the estimator schema."""

    metadata = metadata


class Plan(Base):
    """The methods chosen for one analysis and whether the analysis is closed."""

    __tablename__ = "plans"

    analysis_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(100), index=True)
    dataset: Mapped[dict[str, Any]] = mapped_column(JSONB)
    roles: Mapped[dict[str, Any]] = mapped_column(JSONB)
    design: Mapped[str] = mapped_column(sa.String(40))
    methods: Mapped[list[str]] = mapped_column(JSONB)
    skipped: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    # Methods whose refutations the analysis waits for (beside their estimates), same deadline.
    refuted: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default=sa.text("'[]'::jsonb"))
    seed: Mapped[int] = mapped_column(sa.BigInteger)
    ci_level: Mapped[float]
    correlation_id: Mapped[str] = mapped_column(sa.String(64))
    deadline_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), index=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class PlanResult(Base):
    """What one planned method reported (completed or failed), as the aggregator saw it."""

    __tablename__ = "plan_results"

    analysis_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    method: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(20))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    error_type: Mapped[str] = mapped_column(sa.String(80), default="")
    reported_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class PlanRefutation(Base):
    """What one refuted method's refuters reported (completed or failed), as the aggregator saw it."""

    __tablename__ = "plan_refutations"

    analysis_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    method: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(20))
    refutations: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    reported_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class EstimateRecord(Base):
    """An estimate computed by a worker (which instance, how long), one per analysis and method."""

    __tablename__ = "estimates"

    analysis_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    method: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(100))
    worker: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(20))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    runtime_s: Mapped[float] = mapped_column(default=0.0)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
