"""Project every event of an analysis into the ingest read model."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from cqox_contracts.v1 import DatasetIngested, Event
from cqox_ingest.db.models import Analysis, AnalysisEvent
from cqox_ingest.domain import project, summarize
from cqox_shared.bus import HandlerContext

PROJECTED = (
    "status",
    "design",
    "roles",
    "assignments",
    "needs_confirmation",
    "mapping_context",
    "planned_methods",
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
