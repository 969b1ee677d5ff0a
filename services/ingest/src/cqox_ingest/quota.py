"""Per-tenant quota of concurrent analyses: a route that would start one more answers 429 with the
reason and Retry-After while the tenant has `max_concurrent_analyses` in flight.

In flight: not finished (completed, rejected, failed), not parked waiting for a person to confirm
the mapping (that holds no compute), and updated within `analysis_quota_stale_s` (a stuck analysis
stops counting, so a lost event cannot lock a tenant out). The count is read before the route's
transaction, so concurrent requests can overshoot the limit by how many arrive at once: a soft limit
on fan-out, not an exact one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi import HTTPException, Request
from prometheus_client import Counter

from cqox_ingest.db.models import Analysis
from cqox_ingest.dependencies import Caller, Runtime
from cqox_ingest.domain import TERMINAL

# Routes that start an analysis (an upload starts one; a confirmed mapping may start a re-run).
STARTS_ANALYSIS = frozenset(
    {("POST", "/v1/datasets"), ("POST", "/v1/analyses"), ("PUT", "/v1/datasets/{dataset_id}/mapping")}
)
NOT_IN_FLIGHT = (*TERMINAL, "awaiting_confirmation")
RETRY_AFTER_S = 30

QUOTA_REFUSED = Counter(
    "cqox_analysis_quota_refused_total",
    "Requests refused with 429 by the per-tenant analysis quota",
    ["tenant"],
)


async def in_flight(runtime: Runtime, tenant_id: str, stale_s: float) -> int:
    """How many of the tenant's analyses are running now."""
    since = datetime.now(UTC) - timedelta(seconds=stale_s)
    async with runtime.sessions() as session:  # type: ignore[misc]
        count = await session.scalar(
            sa.select(sa.func.count())
            .select_from(Analysis)
            .where(
                Analysis.tenant_id == tenant_id,
                Analysis.status.not_in(NOT_IN_FLIGHT),
                Analysis.updated_at >= since,
            )
        )
    return int(count or 0)


async def analysis_quota(request: Request, caller: Caller, runtime: Runtime) -> None:
    """Router dependency: 429 when the route would start an analysis over the tenant's quota."""
    route = request.scope.get("route")
    if (request.method, getattr(route, "path", "")) not in STARTS_ANALYSIS or caller.role == "viewer":
        return  # a viewer's write is refused by the route itself (403)
    limit = int(getattr(runtime.settings, "max_concurrent_analyses", 0))
    if limit <= 0:
        return
    running = await in_flight(
        runtime, caller.tenant_id, float(getattr(runtime.settings, "analysis_quota_stale_s", 3600))
    )
    if running >= limit:
        QUOTA_REFUSED.labels(caller.tenant_id).inc()
        raise HTTPException(
            429,
            f"tenant {caller.tenant_id} has {running} analyses in flight and may run at most {limit} at once "
            f"(CQOX_MAX_CONCURRENT_ANALYSES); retry when one finishes",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
