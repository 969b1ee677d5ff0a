"""Notification wiring: hears report.generated, analysis.failed and dataset.rejected; delivers
signed webhooks with retries; says notification.delivered | notification.failed. Serves the
subscription API over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from cqox_contracts.v1 import (
    AnalysisFailed,
    DatasetRejected,
    NotificationDelivered,
    NotificationFailed,
    ReportGenerated,
)
from cqox_notification import api, handlers
from cqox_notification.db import MIGRATIONS
from cqox_notification.db.models import metadata
from cqox_shared.auth import ApiKeyAuth, AuthNotConfigured, install_docs
from cqox_shared.body_limit import BodyLimit
from cqox_shared.bus import Subscription
from cqox_shared.cli import parse_service_args
from cqox_shared.ratelimit import RateLimit
from cqox_shared.runtime import ServiceRuntime
from cqox_shared.settings import Settings

SERVICE = "notification"


class NotificationSettings(Settings):
    """Notification settings (CQOX_ prefix)."""

    http_port: int = 8000
    api_keys: str = ""
    # CQOX_AUTH=disabled: run without API keys (every caller is admin of the default tenant);
    # without it and without CQOX_API_KEYS the service refuses to start.
    auth: str = "required"
    webhook_max_attempts: int = 5
    webhook_backoff_s: float = 2.0
    webhook_timeout_s: float = 10.0
    # CQOX_WEBHOOK_ALLOW_PRIVATE_TARGETS: let webhooks reach private, loopback, link-local and
    # other non-public addresses (refused by default against SSRF; the embedded stack allows them).
    webhook_allow_private_targets: bool = False
    # Per-principal limit per replica (0 disables); this API takes no uploads.
    rate_limit_requests_per_minute: int = 600


def build_runtime(settings: NotificationSettings | None = None) -> ServiceRuntime:
    """The notification runtime: one consumer per notified event type plus the dispatcher,
    which says notification.delivered | notification.failed."""
    settings = settings or NotificationSettings()
    subscriptions = [
        Subscription(cls, handlers.enqueue_deliveries)
        for cls in (ReportGenerated, AnalysisFailed, DatasetRejected)
    ]
    return ServiceRuntime(
        SERVICE,
        settings=settings,
        metadata=metadata,
        migrations=MIGRATIONS,
        subscriptions=subscriptions,
        publishes={"webhook dispatcher": (NotificationDelivered, NotificationFailed)},
        background=[
            handlers.dispatcher(
                max_attempts=settings.webhook_max_attempts,
                backoff_base_s=settings.webhook_backoff_s,
                timeout_s=settings.webhook_timeout_s,
                allow_private_targets=settings.webhook_allow_private_targets,
            )
        ],
    )


def create_app(settings: NotificationSettings | None = None) -> FastAPI:
    """The FastAPI app; the bus runtime starts and stops with it."""
    settings = settings or NotificationSettings()
    runtime = build_runtime(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        yield
        await runtime.stop()

    app = FastAPI(
        title="CQOx notification",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    auth = ApiKeyAuth(settings.api_keys, settings.default_tenant, mode=settings.auth)
    install_docs(app, auth)
    app.include_router(
        api.router(runtime, auth, allow_private_targets=settings.webhook_allow_private_targets)
    )
    app.add_middleware(
        RateLimit,
        service="notification",
        auth=auth,
        requests_per_minute=settings.rate_limit_requests_per_minute,
        uploads_per_minute=0,
    )
    app.add_middleware(BodyLimit)  # 413 over CQOX_MAX_BODY_BYTES
    for route in runtime.health_routes():
        app.router.routes.append(route)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point `cqox-notification`."""
    parse_service_args(
        "cqox-notification",
        "CQOx notification service: webhook subscriptions and deliveries, over HTTP.",
        NotificationSettings,
        argv,
    )
    settings = NotificationSettings()
    try:
        app = create_app(settings)
    except AuthNotConfigured as exc:
        raise SystemExit(f"cqox-notification: {exc}") from None
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_level="warning")
