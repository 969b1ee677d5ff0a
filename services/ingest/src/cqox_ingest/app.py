"""Ingest wiring: the public HTTP API; says dataset.ingested and analysis.requested; hears every
stream to keep the analyses read model (GET /v1/analyses/{id}, SSE)."""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, InterfaceError, OperationalError

from cqox_contracts.v1 import (
    AnalysisFailed,
    AnalysisRequested,
    AuditRecorded,
    DatasetConfirmed,
    DatasetIngested,
    Event,
)
from cqox_ingest import api, audit, handlers
from cqox_ingest.admin.keys import KEY_EVENTS, DatabaseKeyStore
from cqox_ingest.db import MIGRATIONS
from cqox_ingest.db.models import metadata
from cqox_ingest.domain import Deadlines
from cqox_ingest.load_shedding import LoadShedding
from cqox_ingest.readers import IngestError
from cqox_ingest.security_headers import SecurityHeaders
from cqox_ingest.upload_limit import UploadLimit
from cqox_shared.auth import AuthNotConfigured, AuthSettings, auth_from_settings, install_docs
from cqox_shared.body_limit import BodyLimit
from cqox_shared.bus import Subscription
from cqox_shared.cli import parse_service_args
from cqox_shared.ratelimit import RateLimit
from cqox_shared.runtime import ServiceRuntime
from cqox_shared.settings import Settings
from cqox_shared.tracing import recording_spans

SERVICE = "ingest"
READ_MODEL_STREAMS = (
    "CQOX_DATASETS",
    "CQOX_ANALYSES",
    "CQOX_ESTIMATES",
    "CQOX_REPORTS",
    "CQOX_NOTIFICATIONS",
)


# Seconds a client is told to wait when PostgreSQL is unavailable (a restart takes a few seconds),
# and when the artifact store is full (an operator has to act).
DATABASE_RETRY_AFTER_S = 5
STORAGE_RETRY_AFTER_S = 60


class IngestSettings(Settings, AuthSettings):
    """Ingest settings (CQOX_ prefix); authentication settings (keys, pepper, OIDC) in AuthSettings."""

    http_port: int = 8000
    # Lifetime of an issued API key unless its request says otherwise.
    api_key_ttl_days: int = 90
    # Analyses one tenant may have in flight at once (0: no limit); one not updated for
    # analysis_quota_stale_s stops counting.
    max_concurrent_analyses: int = 50
    analysis_quota_stale_s: float = 3600.0
    max_upload_bytes: int = 200 * 1024 * 1024
    max_columns: int = 2000
    max_cell_bytes: int = 1 << 20
    max_inflated_bytes: int = 1 << 30
    max_inflation_ratio: int = 200
    # Per-principal limits per replica (0 disables); uploads are POST /v1/datasets.
    rate_limit_requests_per_minute: int = 600
    rate_limit_uploads_per_minute: int = 60
    # Deadlines (ADR 0022): an analysis with no progress at a stage for longer than that stage's
    # deadline (JSON, e.g. {"mapping": 600}; stages not named keep their default), or unfinished
    # after analysis_deadline_s, fails with the stage and the reason (0 turns one off).
    stage_deadlines_s: dict[str, float] = {}
    analysis_deadline_s: float = 7200.0
    deadline_sweep_interval_s: float = 5.0
    # Load (bench/load): past this many requests in progress the API answers 503 with Retry-After
    # (event streams and health checks do not count; 0 turns it off). No pre-ping round trip per
    # pooled connection: the status read retries once on a connection that died instead.
    max_in_flight_requests: int = 32
    db_pool_pre_ping: bool = False
    # Read audits wait in a buffer of this many entries (a full buffer drops and counts them) and
    # are written in batches of audit_batch_size, at least every audit_flush_interval_s.
    audit_buffer_capacity: int = 10_000
    audit_batch_size: int = 500
    audit_flush_interval_s: float = 0.5


def build_runtime(settings: IngestSettings | None = None) -> ServiceRuntime:
    """The ingest runtime: one read-model consumer per stream; the HTTP API says
    dataset.ingested, analysis.requested and dataset.confirmed."""
    subscriptions = [
        Subscription(
            Event,
            handlers.project_event,
            stream=stream,
            formerly=f"ingest-readmodel-{stream.removeprefix('CQOX_').lower()}",
        )
        for stream in READ_MODEL_STREAMS
    ]
    settings = settings or IngestSettings()
    deadlines = Deadlines.configured(settings.stage_deadlines_s, settings.analysis_deadline_s)
    return ServiceRuntime(
        SERVICE,
        settings=settings,
        metadata=metadata,
        migrations=MIGRATIONS,
        subscriptions=subscriptions,
        publishes={
            "HTTP API": (DatasetIngested, AnalysisRequested, DatasetConfirmed, *KEY_EVENTS),
            "audit log": (AuditRecorded,),
            "deadline watchdog": (AnalysisFailed,),
        },
        background=[
            handlers.deadline_watchdog(deadlines, settings.deadline_sweep_interval_s),
            audit.read_audit_writer(  # read audits in batches, off the request path
                capacity=settings.audit_buffer_capacity,
                batch=settings.audit_batch_size,
                interval_s=settings.audit_flush_interval_s,
            ),
        ],
    )


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    """The FastAPI app; the bus runtime starts and stops with it."""
    settings = settings or IngestSettings()
    runtime = build_runtime(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        yield
        await runtime.stop()

    app = FastAPI(
        title="CQOx ingest API",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # FastAPI's own request spans, only when they are recorded (an exporter or a sampler is
        # configured): otherwise each request paid for a span nobody could see (bench/load).
        telemetry={"tracing": recording_spans()},
    )
    auth = auth_from_settings(settings, settings.default_tenant, SERVICE, store=DatabaseKeyStore(runtime))
    install_docs(app, auth)
    # The routers reach these through cqox_ingest.dependencies.
    app.state.runtime, app.state.auth = runtime, auth
    app.include_router(api.status)
    app.include_router(api.router)
    app.add_middleware(UploadLimit, limit=settings.max_upload_bytes)
    app.add_middleware(BodyLimit, exempt=api.UPLOAD_ROUTES)  # 413 over CQOX_MAX_BODY_BYTES
    # Added after the body limits, so it runs before them: a refused request is answered unread.
    app.add_middleware(
        RateLimit,
        service="ingest",
        auth=auth,
        requests_per_minute=settings.rate_limit_requests_per_minute,
        uploads_per_minute=settings.rate_limit_uploads_per_minute,
        upload_routes=api.UPLOAD_ROUTES,
    )
    # Before the rate limit: an overloaded replica refuses at once, however cheap the check after.
    app.add_middleware(LoadShedding, max_in_flight=settings.max_in_flight_requests)
    # Outermost: refusals (503, 429, 413) carry the headers too.
    app.add_middleware(SecurityHeaders)
    for route in runtime.health_routes():
        app.router.routes.append(route)

    @app.exception_handler(IngestError)
    async def refused(_: Request, exc: IngestError) -> JSONResponse:
        return JSONResponse({"detail": exc.message, **exc.extra}, status_code=exc.status_code)

    @app.exception_handler(DataError)
    async def unstorable(_: Request, exc: DataError) -> JSONResponse:
        # A value PostgreSQL cannot hold (a NUL character, an out-of-range number) is the
        # caller's input, not our failure.
        return JSONResponse(
            {"detail": "a value in the request cannot be stored (e.g. a NUL character); nothing was applied"},
            status_code=422,
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        # PostgreSQL down, restarting or unreachable: the transaction never committed, and an
        # upload removes what it stored, so a retry is safe.
        return JSONResponse(
            {
                "detail": "the database is unavailable (down or restarting); nothing was stored or "
                f"changed. Retry after {DATABASE_RETRY_AFTER_S} s"
            },
            status_code=503,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        )

    @app.exception_handler(OSError)
    async def storage_failed(request: Request, exc: OSError) -> JSONResponse:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            # The artifact store (or the upload spool) is full: nothing was registered, and what
            # was stored of this upload has been removed.
            return JSONResponse(
                {
                    "detail": "the server has no space left to store this upload (artifact store full); "
                    "nothing was stored. Retry later, or ask an operator to free space in the artifact store"
                },
                status_code=507,
                headers={"Retry-After": str(STORAGE_RETRY_AFTER_S)},
            )
        return await unexpected(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, HTTPException):
            raise exc
        return JSONResponse({"detail": "internal error; the request was not applied"}, status_code=500)

    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point `cqox-ingest`."""
    parse_service_args(
        "cqox-ingest",
        "CQOx ingest API: uploads, analyses, the read model and its Server-Sent Events.",
        IngestSettings,
        argv,
    )
    settings = IngestSettings()
    try:
        app = create_app(settings)
    except AuthNotConfigured as exc:
        raise SystemExit(f"cqox-ingest: {exc}") from None
    # No access log: one line per request costs the event loop more than a status read's query.
    # Loop and HTTP parser "auto": uvloop and httptools (in the lock file since ADR 0031's
    # follow-up), about a millisecond of CPU less per request than asyncio and h11.
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_level="warning", access_log=False)
