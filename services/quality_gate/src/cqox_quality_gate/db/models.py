"""Tables of the `quality` schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cqox_contracts.v1 import GateResult
from cqox_shared.db import messaging_tables

SCHEMA = "quality"
metadata = MetaData(schema=SCHEMA)
processed_events, outbox = messaging_tables(metadata)


class Base(DeclarativeBase):
    """Declarative base bound to the quality schema."""

    metadata = metadata


class GateRecord(Base):
    """One gate evaluated for one analysis at one stage (data before, causal after estimation)."""

    __tablename__ = "gate_results"
    __table_args__ = (sa.UniqueConstraint("analysis_id", "stage", "name"),)

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    analysis_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(100))
    stage: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str] = mapped_column(sa.String(200))
    category: Mapped[str] = mapped_column(sa.String(20))
    threshold: Mapped[float | None]
    value: Mapped[float | None]
    passed: Mapped[bool]
    severity: Mapped[str] = mapped_column(sa.String(10))
    message: Mapped[str] = mapped_column(sa.Text, default="")
    applies_to: Mapped[list[str]] = mapped_column(JSONB, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())

    @classmethod
    def from_gate(cls, gate: GateResult, *, analysis_id: str, tenant_id: str, stage: str) -> GateRecord:
        """A row for one gate result."""
        return cls(analysis_id=analysis_id, tenant_id=tenant_id, stage=stage, **gate.model_dump())

    def to_gate(self) -> GateResult:
        """The gate result this row holds."""
        return GateResult(
            name=self.name,
            category=self.category,  # type: ignore[arg-type]
            threshold=self.threshold,
            value=self.value,
            passed=self.passed,
            severity=self.severity,  # type: ignore[arg-type]
            message=self.message,
            applies_to=self.applies_to,
            details=self.details,
        )


class AnalysisSettings(Base):
    """What an analysis's spec asks of the causal gates, kept from dataset.mapped until it is assessed."""

    __tablename__ = "analysis_settings"

    analysis_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(100))
    # Per-analysis threshold overrides (GateThresholds field -> value).
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # Methods that get a sensitivity panel besides the headline ("all" for every method).
    sensitivity: Mapped[list[str]] = mapped_column(JSONB, default=list)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
