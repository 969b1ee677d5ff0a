"""Analysis routes: start one, read it, follow its events, fetch its report and artifacts."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response, StreamingResponse

from cqox_ingest import audit
from cqox_ingest.analyses import service, streams
from cqox_ingest.analyses.models import AnalysisCreated, AnalysisIn, AnalysisOut
from cqox_ingest.dependencies import Caller, Runtime

router = APIRouter(prefix="/v1", tags=["analyses"])


@router.post("/analyses", status_code=202)
async def create_analysis(body: AnalysisIn, caller: Caller, runtime: Runtime) -> AnalysisCreated:
    """Start a new analysis of a stored dataset version."""
    caller.require("analyst")
    return await service.create(runtime, caller, body)


# The status read, the most polled route (bench/load), on a router of its own without the API
# router's dependencies: it audits itself with the same `audit_request`, and resolves no quota
# (it starts nothing). api.py gives it the same documented refusals.
status_router = APIRouter(prefix="/v1", tags=["analyses"])
_audited = contextlib.asynccontextmanager(audit.audit_request)


@status_router.get("/analyses/{analysis_id}", response_model=AnalysisOut)
async def get_analysis(analysis_id: str, request: Request, caller: Caller, runtime: Runtime) -> Response:
    """Status, estimates, gates and report links of an analysis."""
    async with _audited(request, caller, runtime):
        analysis = await service.read(runtime, analysis_id, caller)
    # Serialized once, without validating the stored JSON again: the same bytes as the
    # documented AnalysisOut would give.
    return Response(service.read_json(analysis), media_type="application/json")


@router.get(
    "/analyses/{analysis_id}/events",
    responses={429: {"description": "Too many event streams open for this key or this server"}},
)
async def stream_events(
    analysis_id: str, request: Request, caller: Caller, runtime: Runtime
) -> StreamingResponse:
    """Server-Sent Events: every event of the analysis as it happens, each with its sequence
    number as `id`; ends when it is done, or after the stream time limit (reconnect with
    `Last-Event-ID` to resume). At most so many streams per key and per server (429)."""
    async with runtime.sessions() as session:  # type: ignore[misc]
        await service.get(session=session, analysis_id=analysis_id, caller=caller)
    resume_from = request.headers.get("last-event-id") or "0"
    if not (resume_from.isascii() and resume_from.isdigit()):
        raise HTTPException(422, f"Last-Event-ID must be an event id this stream sent, not {resume_from!r}")
    slots = streams.replica_slots()
    slot = slots.acquire(streams.stream_key(caller))
    if isinstance(slot, streams.StreamRefused):
        raise HTTPException(429, slot.detail, headers={"Retry-After": str(slot.retry_after_s)})
    return streams.LimitedStream(
        streams.bounded(service.events(runtime, analysis_id, int(resume_from), request), slots.limits),
        slot,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/analyses/{analysis_id}/report")
async def get_report(analysis_id: str, caller: Caller, runtime: Runtime) -> Response:
    """The self-contained HTML report."""
    return await service.artifact(runtime, analysis_id, "report", caller)


@router.get("/analyses/{analysis_id}/artifacts/{name}")
async def get_artifact(analysis_id: str, name: str, caller: Caller, runtime: Runtime) -> Response:
    """A figure or other artifact of the analysis, by name."""
    return await service.artifact(runtime, analysis_id, name, caller)
