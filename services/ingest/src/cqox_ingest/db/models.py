"""Tables of the `ingest` schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cqox_shared.db import messaging_tables

SCHEMA = "ingest"
metadata = MetaData(schema=SCHEMA)
processed_events, outbox = messaging_tables(metadata)


class Base(DeclarativeBase):
    """Declarative base bound to the ingest schema."""

    metadata = metadata


class Dataset(Base):
    """A named dataset of a tenant; its content lives in versions."""

    __tablename__ = "datasets"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(100), index=True)
    name: Mapped[str] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class DatasetVersion(Base):
    """One uploaded file of a dataset: the raw file, its Parquet conversion, registered schema and profile."""

    __tablename__ = "dataset_versions"

    dataset_id: Mapped[str] = mapped_column(sa.ForeignKey("datasets.id"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(sa.String(300))
    file_format: Mapped[str] = mapped_column(sa.String(20))
    encoding: Mapped[str | None] = mapped_column(sa.String(40))
    raw_uri: Mapped[str] = mapped_column(sa.Text)
    parquet_uri: Mapped[str] = mapped_column(sa.Text)
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    n_rows: Mapped[int] = mapped_column(sa.BigInteger)
    n_columns: Mapped[int]
    columns: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    notes: Mapped[list[str]] = mapped_column(JSONB, default=list)
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    schema_diff: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class Analysis(Base):
    """Read model of one analysis, projected from every event that carries its id."""

    __tablename__ = "analyses"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(100), index=True)
    dataset_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    dataset_version: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(30))
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    design: Mapped[str | None] = mapped_column(sa.String(40))
    roles: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    assignments: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    needs_confirmation: Mapped[bool] = mapped_column(default=False)
    # The rest of dataset.mapped: designs considered (and why), notes, threshold, dictionary versions.
    mapping_context: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    planned_methods: Mapped[list[str]] = mapped_column(JSONB, default=list)
    # The seed of every random step (the spec's, or derived from the file's content); None until estimated.
    seed: Mapped[int | None] = mapped_column(sa.BigInteger)
    estimates: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    failures: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    gates: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    # The quality gate's headline (one estimand, its median method, the reason); None until assessed.
    headline: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The headline's sensitivity panel (and any requested), and GO / CAUTION / HOLD with reasons.
    sensitivity: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    verdict: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    notifications: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now(), onupdate=sa.func.now()
    )

    @classmethod
    def accepted(
        cls, analysis_id: str, tenant_id: str, dataset_id: str, version: int, spec: dict[str, Any]
    ) -> Analysis:
        """A new analysis of a dataset version, accepted and empty: its events fill it in."""
        return cls(
            id=analysis_id,
            tenant_id=tenant_id,
            dataset_id=dataset_id,
            dataset_version=version,
            status="accepted",
            spec=spec,
            assignments=[],
            estimates=[],
            failures=[],
            gates=[],
            notifications=[],
            planned_methods=[],
        )


class AnalysisEvent(Base):
    """Every event of an analysis in arrival order (feeds the SSE stream)."""

    __tablename__ = "analysis_events"

    seq: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    analysis_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    event_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    event_type: Mapped[str] = mapped_column(sa.String(80))
    subject: Mapped[str] = mapped_column(sa.String(300))
    producer: Mapped[str] = mapped_column(sa.String(80))
    occurred_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    summary: Mapped[str] = mapped_column(sa.Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)


class AuditEntry(Base):
    """Who did what through the API; append-only (a trigger refuses UPDATE, DELETE, TRUNCATE)."""

    __tablename__ = "audit_log"
    # The admin read API pages one tenant's entries newest first.
    __table_args__ = (sa.Index("ix_ingest_audit_log_tenant_id_id", "tenant_id", "id"),)

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(100), index=True)
    role: Mapped[str] = mapped_column(sa.String(20))
    actor: Mapped[str] = mapped_column(sa.String(200), server_default="")  # key id or token subject
    client: Mapped[str] = mapped_column(sa.String(100), server_default="")
    action: Mapped[str] = mapped_column(sa.String(80))
    target: Mapped[str] = mapped_column(sa.String(200))
    outcome: Mapped[str] = mapped_column(sa.String(20), server_default="ok")
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class ApiKey(Base):
    """An issued API key: its id and the HMAC of its secret under the server pepper, never the secret."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(100), index=True)
    role: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str] = mapped_column(sa.String(200))
    digest: Mapped[str] = mapped_column(sa.String(64))
    created_by: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    expires_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # The key this one replaced when it was issued by a rotation.
    rotated_from: Mapped[str | None] = mapped_column(sa.String(32))
