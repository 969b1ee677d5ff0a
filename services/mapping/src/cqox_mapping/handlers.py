"""Translate ingest events into role mappings; a confirmation re-maps and re-emits dataset.mapped."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert

from cqox_contracts.v1 import (
    AnalysisFailed,
    AnalysisRequested,
    DatasetConfirmed,
    DatasetIngested,
    DatasetMapped,
)
from cqox_mapping.db.models import DatasetOverride, RoleMappingRecord
from cqox_mapping.domain import MappingError, MappingResult, dictionary_version, infer_roles
from cqox_shared.artifacts import read_frame
from cqox_shared.bus import HandlerContext

Overrides = dict[str, str | list[str]]


def _applicable(stored: Mapping[str, Any], columns: set[str]) -> Overrides:
    """Stored overrides whose columns still exist in this version (a cutoff always applies)."""
    kept: Overrides = {}
    for role, value in stored.items():
        names = [value] if isinstance(value, str) else list(value)
        if role == "cutoff" or all(name in columns for name in names):
            kept[role] = value
    return kept


async def _map_and_emit(
    event: DatasetIngested | AnalysisRequested | DatasetConfirmed,
    ctx: HandlerContext,
    overrides: Overrides,
    *,
    confirmed: bool,
    confidence_threshold: float,
) -> MappingResult | None:
    """Infer roles, record them, and emit dataset.mapped (or analysis.failed for bad overrides)."""
    frame = await asyncio.to_thread(read_frame, ctx.store, event.dataset.parquet_uri)
    try:
        result = await asyncio.to_thread(
            infer_roles,
            frame,
            overrides,
            confidence_threshold=confidence_threshold,
            confirmed=confirmed,
        )
    except MappingError as exc:
        await ctx.emit(
            AnalysisFailed(
                **event.caused(),
                producer=ctx.producer,
                analysis_id=event.analysis_id,
                stage="mapping",
                reason=str(exc),
            )
        )
        return None
    versions = dictionary_version()
    await ctx.session.merge(  # a re-mapping of the same analysis replaces the row
        RoleMappingRecord(
            analysis_id=event.analysis_id,
            tenant_id=event.tenant_id,
            dataset_id=event.dataset.dataset_id,
            dataset_version=event.dataset.version,
            roles=result.roles.model_dump(mode="json"),
            assignments=[a.model_dump(mode="json") for a in result.assignments],
            design=result.design,
            needs_confirmation=result.needs_confirmation,
            overrides=dict(overrides),
            dictionary_version=versions,
            designs=[d.model_dump(mode="json") for d in result.designs],
            notes=result.notes,
            confirmed=confirmed,
            confidence_threshold=confidence_threshold,
        )
    )
    spec = event.spec.model_copy(update={"roles": dict(overrides)}) if overrides else event.spec
    await ctx.emit(
        DatasetMapped(
            **event.caused(),
            producer=ctx.producer,
            dataset=event.dataset,
            analysis_id=event.analysis_id,
            spec=spec,
            roles=result.roles,
            assignments=result.assignments,
            design=result.design,
            needs_confirmation=result.needs_confirmation,
            designs=result.designs,
            confidence_threshold=confidence_threshold,
            notes=result.notes,
            dictionary_version=versions,
            confirmed=confirmed,
        )
    )
    return result


def map_roles_handler(
    confidence_threshold: float,
) -> Callable[[DatasetIngested | AnalysisRequested, HandlerContext], Awaitable[None]]:
    """Handler that maps the columns of the event's dataset and emits dataset.mapped.

    Roles a person confirmed earlier for the same dataset apply first; the request's own
    overrides win over them.
    """

    async def handle(event: DatasetIngested | AnalysisRequested, ctx: HandlerContext) -> None:
        stored = await ctx.session.get(DatasetOverride, (event.tenant_id, event.dataset.dataset_id))
        columns = {c.name for c in event.dataset.columns}
        remembered = _applicable(stored.roles, columns) if stored is not None else {}
        # Everything the person confirmed still applies: no need to ask again.
        confirmed = stored is not None and bool(stored.roles) and len(remembered) == len(stored.roles)
        overrides: Overrides = {**remembered, **event.spec.roles}
        await _map_and_emit(
            event, ctx, overrides, confirmed=confirmed, confidence_threshold=confidence_threshold
        )

    return handle


def confirm_roles_handler(
    confidence_threshold: float,
) -> Callable[[DatasetConfirmed, HandlerContext], Awaitable[None]]:
    """Handler for a person's confirmation: re-map with their roles, remember them, re-emit mapped."""

    async def handle(event: DatasetConfirmed, ctx: HandlerContext) -> None:
        overrides: Overrides = {**event.spec.roles, **event.roles}
        result = await _map_and_emit(
            event, ctx, overrides, confirmed=True, confidence_threshold=confidence_threshold
        )
        if result is None:
            return
        values = {
            "tenant_id": event.tenant_id,
            "dataset_id": event.dataset.dataset_id,
            "roles": overrides,
            "analysis_id": event.analysis_id,
        }
        await ctx.session.execute(
            pg_insert(DatasetOverride)
            .values(**values)
            .on_conflict_do_update(
                index_elements=["tenant_id", "dataset_id"],
                set_={"roles": overrides, "analysis_id": event.analysis_id},
            )
        )

    return handle
