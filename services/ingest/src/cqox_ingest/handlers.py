"""Project every event of an analysis into the ingest read model; fail the analyses that
waited past their deadlines."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from cqox_contracts.v1 import AnalysisFailed, DatasetIngested, Event
from cqox_ingest.db.models import Analysis, AnalysisEvent
from cqox_ingest.domain import AWAITED_STAGE, Deadlines, overdue, project, summarize
from cqox_shared.bus import HandlerContext
from cqox_shared.logging import get_logger

if TYPE_CHECKING:
    from cqox_shared.runtime import ServiceRuntime

log = get_logger("cqox.ingest")
# uuid5 namespace of deadline failures: one analysis fails by deadline once, whoever notices.
DEADLINE_NAMESPACE = uuid.UUID("0f2d8c52-8e0c-4f0e-a2f4-3b6c1d9e7a10")

PROJECTED = (
    "status",
    "design",
    "roles",
    "assignments",
    "needs_confirmation",
    "mapping_context",
    "planned_methods",
    "seed",
    "estimates",
    "failures",
    "gates",
    "headline",
    "sensitivity",
    "verdict",
    "report",
    "notifications",
    "error",
)


async def project_event(event: Event, ctx: HandlerContext) -> None:
    """Record the event in the analysis timeline and update the analysis row (locked)."""
    analysis_id = getattr(event, "analysis_id", None) or event.correlation_id
    analysis = await ctx.session.get(Analysis, analysis_id, with_for_update=True)
    if analysis is None:
        if isinstance(event, DatasetIngested):
            return  # created with the upload itself; nothing else to do
        raise RuntimeError(f"analysis {analysis_id} not in the read model yet")  # retried later
    if event.tenant_id != analysis.tenant_id:
        # The bus is a trust boundary: an event naming another tenant's analysis is dropped, not
        # projected (it could point the analysis at that tenant's objects).
        log.warning(
            "event for another tenant's analysis ignored",
            analysis_id=analysis_id,
            event_type=event.event_type,
            event_tenant=event.tenant_id,
            producer=event.producer,
        )
        return
    await ctx.session.execute(
        pg_insert(AnalysisEvent)
        .values(
            analysis_id=analysis_id,
            event_id=str(event.event_id),
            event_type=event.event_type,
            subject=event.subject,
            producer=event.producer,
            occurred_at=event.occurred_at,
            summary=summarize(event),
            payload=event.model_dump(mode="json"),
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
    )
    state = project({name: getattr(analysis, name) for name in PROJECTED}, event)
    await ctx.session.execute(
        sa.update(Analysis).where(Analysis.id == analysis_id).values(**{k: state[k] for k in PROJECTED})
    )


async def fail_overdue(
    ctx: HandlerContext, deadlines: Deadlines, *, now: datetime | None = None, limit: int = 50
) -> list[AnalysisFailed]:
    """Fail the open analyses past a deadline: `analysis.failed` with the stage and reason, applied
    to the read model in this transaction (so the SSE stream shows it, then ends) and queued in the
    outbox for every other service. Returns the failures."""
    now = now or datetime.now(UTC)
    stale = now - timedelta(seconds=deadlines.shortest_s)
    candidates = (
        await ctx.session.scalars(
            sa.select(Analysis)
            .where(
                Analysis.status.in_(AWAITED_STAGE),
                sa.or_(Analysis.updated_at < stale, Analysis.created_at < stale),
            )
            .order_by(Analysis.updated_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    failures: list[AnalysisFailed] = []
    for analysis in candidates:
        verdict = overdue(analysis.status, analysis.created_at, analysis.updated_at, now, deadlines)
        if verdict is None:
            continue
        stage, reason = verdict
        failed = AnalysisFailed(
            event_id=uuid.uuid5(DEADLINE_NAMESPACE, analysis.id),
            correlation_id=analysis.id,
            tenant_id=analysis.tenant_id,
            producer=ctx.producer,
            analysis_id=analysis.id,
            stage=stage,
            reason=reason,
        )
        log.warning("analysis past its deadline", analysis_id=analysis.id, stage=stage, reason=reason)
        await project_event(failed, ctx)
        await ctx.emit(failed)
        failures.append(failed)
    return failures


def deadline_watchdog(deadlines: Deadlines, interval_s: float) -> Callable[[ServiceRuntime], Awaitable[None]]:
    """Background task failing, every `interval_s`, the analyses that waited past a deadline."""

    async def watch(runtime: ServiceRuntime) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                async with runtime.transaction() as ctx:
                    await fail_overdue(ctx, deadlines)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be down: the next round tries again
                log.warning("deadline sweep failed", error=repr(exc))

    return watch
