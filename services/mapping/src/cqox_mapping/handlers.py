"""Translate ingest events into role mappings; a confirmation re-maps and re-emits dataset.mapped.

Each flow is a compute step (read the dataset, infer the roles: no transaction open) and a handler
that records the result and its event in one short transaction claiming the event id (ADR 0022).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
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
from cqox_shared.bus import Compute, HandlerContext, WorkContext

Overrides = dict[str, str | list[str]]


def _applicable(stored: Mapping[str, Any], columns: set[str]) -> Overrides:
    """Stored overrides whose columns still exist in this version (a cutoff always applies)."""
    kept: Overrides = {}
    for role, value in stored.items():
        names = [value] if isinstance(value, str) else list(value)
        if role == "cutoff" or all(name in columns for name in names):
            kept[role] = value
    return kept


@dataclass(frozen=True)
class Inferred:
    """What the compute step found: the overrides it applied, whether a person confirmed them, and
    the roles inferred or why none could be."""

    overrides: Overrides
    confirmed: bool
    result: MappingResult | None = None
    error: str | None = None


async def _infer(
    event: DatasetIngested | AnalysisRequested | DatasetConfirmed,
    store: Any,
    overrides: Overrides,
    *,
    confirmed: bool,
    confidence_threshold: float,
) -> Inferred:
    """Read the dataset and infer its roles (the long part: no transaction is open)."""
    frame = await asyncio.to_thread(read_frame, store, event.dataset.parquet_uri)
    try:
        result = await asyncio.to_thread(
            infer_roles,
            frame,
            overrides,
            confidence_threshold=confidence_threshold,
            confirmed=confirmed,
        )
    except MappingError as exc:
        return Inferred(overrides, confirmed, error=str(exc))
    return Inferred(overrides, confirmed, result=result)


async def _record_and_emit(
    event: DatasetIngested | AnalysisRequested | DatasetConfirmed,
    ctx: HandlerContext,
    mapping: Inferred,
    *,
    confidence_threshold: float,
) -> MappingResult | None:
    """Record the inferred roles and emit dataset.mapped (or analysis.failed for bad overrides)."""
    if mapping.result is None:
        await ctx.emit(
            AnalysisFailed(
                **event.caused(),
                producer=ctx.producer,
                analysis_id=event.analysis_id,
                stage="mapping",
                reason=mapping.error or "the roles could not be inferred",
            )
        )
        return None
    result, overrides, confirmed = mapping.result, mapping.overrides, mapping.confirmed
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


def _computed(ctx: HandlerContext) -> Inferred:
    """The compute step's mapping (the subscription declares its `compute`)."""
    if not isinstance(ctx.computed, Inferred):
        raise TypeError(f"{ctx.flow}: the subscription has no mapping compute step")
    return ctx.computed


def map_roles_work(confidence_threshold: float) -> Compute:
    """Compute step of `map_roles_handler`: a short read of the roles a person confirmed earlier
    for the same dataset (they apply first; the request's own overrides win over them), then the
    inference with no transaction open (ADR 0022)."""

    async def work(event: DatasetIngested | AnalysisRequested, context: WorkContext) -> Inferred:
        async with context.sessions() as session:
            stored = await session.get(DatasetOverride, (event.tenant_id, event.dataset.dataset_id))
            stored_roles = dict(stored.roles) if stored is not None else {}
        columns = {c.name for c in event.dataset.columns}
        remembered = _applicable(stored_roles, columns)
        # Everything the person confirmed still applies: no need to ask again.
        confirmed = bool(stored_roles) and len(remembered) == len(stored_roles)
        overrides: Overrides = {**remembered, **event.spec.roles}
        return await _infer(
            event, context.store, overrides, confirmed=confirmed, confidence_threshold=confidence_threshold
        )

    return work


def map_roles_handler(
    confidence_threshold: float,
) -> Callable[[DatasetIngested | AnalysisRequested, HandlerContext], Awaitable[None]]:
    """Handler recording the roles its compute step (`map_roles_work`) inferred, and saying
    dataset.mapped, in one short transaction."""

    async def handle(event: DatasetIngested | AnalysisRequested, ctx: HandlerContext) -> None:
        await _record_and_emit(event, ctx, _computed(ctx), confidence_threshold=confidence_threshold)

    return handle


def confirm_roles_work(confidence_threshold: float) -> Compute:
    """Compute step of `confirm_roles_handler`: re-map with the person's roles, no transaction open."""

    async def work(event: DatasetConfirmed, context: WorkContext) -> Inferred:
        overrides: Overrides = {**event.spec.roles, **event.roles}
        return await _infer(
            event, context.store, overrides, confirmed=True, confidence_threshold=confidence_threshold
        )

    return work


def confirm_roles_handler(
    confidence_threshold: float,
) -> Callable[[DatasetConfirmed, HandlerContext], Awaitable[None]]:
    """Handler for a person's confirmation: record the re-mapping, remember their roles, re-emit
    mapped (one short transaction after `confirm_roles_work`)."""

    async def handle(event: DatasetConfirmed, ctx: HandlerContext) -> None:
        mapping = _computed(ctx)
        result = await _record_and_emit(event, ctx, mapping, confidence_threshold=confidence_threshold)
        if result is None:
            return
        values = {
            "tenant_id": event.tenant_id,
            "dataset_id": event.dataset.dataset_id,
            "roles": mapping.overrides,
            "analysis_id": event.analysis_id,
        }
        await ctx.session.execute(
            pg_insert(DatasetOverride)
            .values(**values)
            .on_conflict_do_update(
                index_elements=["tenant_id", "dataset_id"],
                set_={"roles": mapping.overrides, "analysis_id": event.analysis_id},
            )
        )

    return handle
