"""Analysis service functions: the spec a user gives, a new analysis, the read model and its
events, and the artifacts a report names. Database functions take a keyword-only `session`."""

from __future__ import annotations

import json
import uuid
import weakref
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from fastapi import HTTPException, Request
from fastapi.responses import Response
from pydantic import ValidationError
from pydantic_core import to_json
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from cqox_contracts.v1 import SEED_RANGE, AnalysisRequested, AnalysisSpec
from cqox_ingest import audit
from cqox_ingest.analyses import artifacts, streams
from cqox_ingest.analyses.models import (
    AnalysisCreated,
    AnalysisIn,
    AnalysisLinks,
    AnalysisOut,
    MappingContext,
)
from cqox_ingest.datasets import service as datasets
from cqox_ingest.db.models import Analysis, AnalysisEvent
from cqox_ingest.domain import SSE_KEEPALIVE_S, sse_poll_delay
from cqox_shared.auth import Principal
from cqox_shared.db import is_dead_connection
from cqox_shared.runtime import ServiceRuntime

# The keys of the upload's JSON 'analysis' field.
SPEC_KEYS = ("methods", "roles", "ci_level", "seed", "options", "sensitivity", "thresholds")


def spec_of(
    methods: Any,
    roles: Any,
    ci_level: Any = 0.95,
    seed: Any = None,
    options: Any = None,
    sensitivity: Any = None,
    thresholds: Any = None,
) -> AnalysisSpec:
    """The analysis spec from what a user gave ('a,b' lists methods); 422 naming a bad field."""
    if isinstance(methods, str) and methods != "auto":
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    if isinstance(roles, dict):
        # Numbers are numbers: a cutoff given as 0.5 travels as the text '0.5' in the v1 event.
        roles = {
            role: repr(value) if isinstance(value, float) else str(value) if _is_integer(value) else value
            for role, value in roles.items()
        }
    try:
        spec = AnalysisSpec(
            methods=methods,
            roles=roles or {},
            ci_level=ci_level,
            seed=seed,
            options=options or {},
            sensitivity=sensitivity or [],
            thresholds=thresholds or {},
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise HTTPException(422, f"invalid analysis spec ({where}): {error['msg']}") from exc
    if spec.seed is not None and not 0 <= spec.seed < SEED_RANGE:
        raise HTTPException(
            422,
            f"invalid analysis spec (seed): {spec.seed} is outside 0 to {SEED_RANGE - 1}, the seeds "
            "NumPy and scikit-learn accept",
        )
    return spec


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def spec_from_form(analysis: str | None) -> AnalysisSpec:
    """The spec in an upload's 'analysis' form field (a JSON object); 422 naming what is wrong."""
    try:
        raw_spec = json.loads(analysis) if analysis else {}
    except json.JSONDecodeError as exc:
        raise HTTPException(422, f"the 'analysis' field is not valid JSON: {exc}") from exc
    if not isinstance(raw_spec, dict):
        raise HTTPException(422, "the 'analysis' field must be a JSON object")
    unknown = sorted(set(raw_spec) - set(SPEC_KEYS))
    if unknown:
        raise HTTPException(
            422, f"unknown key(s) in 'analysis': {', '.join(unknown)}; known: {', '.join(SPEC_KEYS)}"
        )
    return spec_of(
        raw_spec.get("methods", "auto"),
        raw_spec.get("roles"),
        raw_spec.get("ci_level", 0.95),
        raw_spec.get("seed"),
        raw_spec.get("options"),
        raw_spec.get("sensitivity"),
        raw_spec.get("thresholds"),
    )


async def create(runtime: ServiceRuntime, caller: Principal, body: AnalysisIn) -> AnalysisCreated:
    """Record a new analysis of a stored dataset version and say analysis.requested."""
    spec = spec_of(
        body.methods, body.roles, body.ci_level, body.seed, body.options, body.sensitivity, body.thresholds
    )
    analysis_id = str(uuid.uuid4())
    async with runtime.transaction() as ctx:
        dataset = await datasets.get(session=ctx.session, dataset_id=body.dataset_id, caller=caller)
        version = await datasets.one_version(session=ctx.session, dataset_id=dataset.id, version=body.version)
        if version is None:
            raise HTTPException(404, f"dataset {dataset.id} has no version {body.version}")
        ctx.session.add(
            Analysis.accepted(
                analysis_id, caller.tenant_id, dataset.id, version.version, spec.model_dump(mode="json")
            )
        )
        audit.record(ctx.session, caller, "analysis.create", analysis_id, dataset_id=dataset.id)
        ref = datasets.version_ref(dataset.name, version)
        await ctx.emit(
            AnalysisRequested(
                correlation_id=analysis_id,
                tenant_id=caller.tenant_id,
                producer=ctx.producer,
                dataset=ref,
                analysis_id=analysis_id,
                spec=spec,
            )
        )
    return AnalysisCreated(
        analysis_id=analysis_id,
        dataset_id=dataset.id,
        version=version.version,
        links=AnalysisLinks.of(dataset.id, analysis_id),
    )


async def get(*, session: AsyncSession, analysis_id: str, caller: Principal) -> Analysis:
    """The caller's analysis, or 404 (another tenant's analysis does not exist for them)."""
    analysis = await session.get(Analysis, analysis_id)
    if analysis is None or analysis.tenant_id != caller.tenant_id:
        raise HTTPException(404, f"no analysis {analysis_id}")
    return analysis


# The status read, the most polled route (bench/load): one Core statement on an autocommit
# connection (one round trip: no BEGIN/ROLLBACK, no ORM identity map); its rows have the ORM's
# attribute names, so `read_model` takes either.
_ANALYSIS_ROW = sa.select(Analysis.__table__).where(Analysis.__table__.c.id == sa.bindparam("analysis_id"))


_AUTOCOMMIT: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = weakref.WeakKeyDictionary()


async def read(runtime: ServiceRuntime, analysis_id: str, caller: Principal) -> sa.Row[Any]:
    """The caller's analysis as a plain row, or 404; retried once on a connection that died
    (PostgreSQL restarted: the pool is invalidated and the retry gets a fresh connection)."""
    assert runtime.engine is not None
    engine = _AUTOCOMMIT.get(runtime.engine)
    if engine is None:  # built once per engine: each execution_options() call makes a new one
        engine = _AUTOCOMMIT[runtime.engine] = runtime.engine.execution_options(isolation_level="AUTOCOMMIT")
    for attempt in (1, 2):
        try:
            async with engine.connect() as conn:
                row = (await conn.execute(_ANALYSIS_ROW, {"analysis_id": analysis_id})).first()
            break
        except sa.exc.DBAPIError as exc:
            if attempt == 2 or not is_dead_connection(exc):
                raise
    if row is None or row.tenant_id != caller.tenant_id:
        raise HTTPException(404, f"no analysis {analysis_id}")
    return row


def read_model(analysis: Analysis | sa.Row[Any]) -> AnalysisOut:
    """The analysis as the API shows it, with report and artifact links."""
    return AnalysisOut(**_read_fields(analysis))


# The answer's keys in the documented model's order (inherited MappingContext fields first).
_OUT_FIELDS = tuple(AnalysisOut.model_fields)


def read_json(analysis: Analysis | sa.Row[Any]) -> bytes:
    """The read model's JSON, byte for byte what `read_model(...).model_dump_json()` writes, without
    validating the stored JSON again on the way out: the status read is the most polled route, and
    every value of it was validated when its event was projected (its fields are plain JSON, `Any`
    to the model, so validation would only copy them). Pydantic's own serializer writes it (NaN and
    infinities as null, datetimes in ISO 8601, as the model does)."""
    fields = _read_fields(analysis)
    if fields["confidence_threshold"] is not None:
        fields["confidence_threshold"] = float(fields["confidence_threshold"])  # the model's float
    fields["links"] = fields["links"].model_dump()
    return to_json({name: fields[name] for name in _OUT_FIELDS}, inf_nan_mode="null")


def _read_fields(analysis: Analysis | sa.Row[Any]) -> dict[str, Any]:
    """The values of `AnalysisOut` for one analysis (report and artifact links made public)."""
    report = None
    if analysis.report:
        # Download links, never object URIs or local paths.
        report = {
            "headline": analysis.report.get("headline", ""),
            "url": f"/v1/analyses/{analysis.id}/report",
            "artifacts": artifacts.public_artifacts(analysis.id, analysis.report.get("artifacts", [])),
        }
    estimates = [
        {**e, "artifacts": artifacts.public_artifacts(analysis.id, e["artifacts"])}
        if e.get("artifacts")
        else e
        for e in analysis.estimates
    ]
    return {
        "analysis_id": analysis.id,
        "dataset_id": analysis.dataset_id,
        "version": analysis.dataset_version,
        "status": analysis.status,
        "spec": analysis.spec,
        "design": analysis.design,
        "roles": analysis.roles,
        "mapping": analysis.assignments,
        "needs_confirmation": analysis.needs_confirmation,
        **MappingContext.of(analysis).model_dump(),
        "planned_methods": analysis.planned_methods,
        "seed": analysis.seed,
        "estimates": estimates,
        "failures": analysis.failures,
        "gates": analysis.gates,
        "headline": analysis.headline,
        "sensitivity": analysis.sensitivity or [],
        "verdict": analysis.verdict,
        "report": report,
        "notifications": analysis.notifications,
        "error": analysis.error,
        "created_at": analysis.created_at,
        "updated_at": analysis.updated_at,
        "links": AnalysisLinks.of(analysis.dataset_id, analysis.id),
    }


async def events(
    runtime: ServiceRuntime, analysis_id: str, after: int, request: Request
) -> AsyncIterator[bytes]:
    """Server-Sent Events of the analysis after sequence number `after`, until it ends or the
    client leaves: from the analysis's one poller on this replica (shared by all its streams),
    which reads the read model, backing off while idle; keep-alive comments while quiet."""

    async def poll(since: int) -> tuple[str | None, list[tuple[int, bytes]]]:
        async with runtime.sessions() as session:  # type: ignore[misc]
            # Status first: an event committed with (or before) a terminal status is then seen by
            # the next statement, so the stream never ends one event early.
            status = await session.scalar(sa.select(Analysis.status).where(Analysis.id == analysis_id))
            rows = (
                await session.scalars(
                    sa.select(AnalysisEvent)
                    .where(AnalysisEvent.analysis_id == analysis_id, AnalysisEvent.seq > since)
                    .order_by(AnalysisEvent.seq)
                    .limit(500)
                )
            ).all()
        return status, [(row.seq, _sse_event(row)) for row in rows]

    feed = streams.replica_feeds().follow(analysis_id, after, poll, sse_poll_delay, SSE_KEEPALIVE_S)
    try:
        async for chunk in feed:
            if await request.is_disconnected():
                return
            yield chunk
    finally:
        await feed.aclose()  # type: ignore[attr-defined]


def _sse_event(row: AnalysisEvent) -> bytes:
    data = {
        "seq": row.seq,
        "event_type": row.event_type,
        "subject": row.subject,
        "producer": row.producer,
        "occurred_at": row.occurred_at.isoformat(),
        "summary": row.summary,
    }
    return f"id: {row.seq}\nevent: {row.event_type}\ndata: {json.dumps(data)}\n\n".encode()


async def artifact(runtime: ServiceRuntime, analysis_id: str, name: str, caller: Principal) -> Response:
    """One artifact of the caller's analysis (report or estimate) by name: 404 until it exists, and
    404 when its URI lies outside the caller's tenant and analysis prefix."""
    async with runtime.sessions() as session:  # type: ignore[misc]
        analysis = await get(session=session, analysis_id=analysis_id, caller=caller)
    assert runtime.store is not None
    return await artifacts.serve(runtime.store, analysis, name, caller)
