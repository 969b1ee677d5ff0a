"""Translate ingest events into role mappings."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from cqox_contracts.v1 import AnalysisFailed, AnalysisRequested, DatasetIngested, DatasetMapped
from cqox_mapping.db.models import RoleMappingRecord
from cqox_mapping.domain import MappingError, dictionary_version, infer_roles
from cqox_shared.artifacts import read_frame
from cqox_shared.bus import HandlerContext


def map_roles_handler(
    confidence_threshold: float,
) -> Callable[[DatasetIngested | AnalysisRequested, HandlerContext], Awaitable[None]]:
    """Handler that maps the columns of the event's dataset and emits dataset.mapped."""

    async def handle(event: DatasetIngested | AnalysisRequested, ctx: HandlerContext) -> None:
        frame = await asyncio.to_thread(read_frame, ctx.store, event.dataset.parquet_uri)
        try:
            result = await asyncio.to_thread(
                infer_roles, frame, event.spec.roles, confidence_threshold=confidence_threshold
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
            return
        await ctx.session.merge(  # a re-mapping of the same analysis replaces the row
            RoleMappingRecord(
                analysis_id=event.analysis_id,
                tenant_id=event.tenant_id,
                dataset_id=event.dataset.dataset_id,
                dataset_version=event.dataset.version,
                roles=result.roles.model_dump(),
                assignments=[a.model_dump() for a in result.assignments],
                design=result.design,
                needs_confirmation=result.needs_confirmation,
                overrides=dict(event.spec.roles),
                dictionary_version=dictionary_version(),
            )
        )
        await ctx.emit(
            DatasetMapped(
                **event.caused(),
                producer=ctx.producer,
                dataset=event.dataset,
                analysis_id=event.analysis_id,
                spec=event.spec,
                roles=result.roles,
                assignments=result.assignments,
                design=result.design,
                needs_confirmation=result.needs_confirmation,
            )
        )

    return handle
