"""Notification wiring: hears report.generated, analysis.failed and dataset.rejected; delivers
signed webhooks with retries; says notification.delivered | notification.failed. Hears key.issued,
key.rotated and key.revoked to accept ingest-issued API keys. Serves the subscription API over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from cqox_contracts.v1 import (
    AnalysisFailed,
    DatasetRejected,
    KeyIssued,
    KeyRevoked,
    KeyRotated,
    NotificationDelivered,
    NotificationFailed,
    ReportGenerated,
)
from cqox_notification import api, handlers, keys
from cqox_notification.db import MIGRATIONS
from cqox_notification.db.models import metadata
from cqox_notification.domain import DispatchLimits
from cqox_notification.sealing import SecretKeysInvalid, SecretSealer
from cqox_shared.auth import AuthNotConfigured, AuthSettings, auth_from_settings, install_docs
from cqox_shared.body_limit import BodyLimit
from cqox_shared.bus import Subscription
from cqox_shared.cli import parse_service_args
from cqox_shared.logging import get_logger
from cqox_shared.ratelimit import RateLimit
from cqox_shared.runtime import ServiceRuntime
from cqox_shared.settings import Settings

SERVICE = "notification"
log = get_logger("cqox.notification")


class NotificationSettings(Settings, AuthSettings):
    """Notification settings (CQOX_ prefix); authentication (keys, pepper, OIDC) in AuthSettings."""

    http_port: int = 8000
    webhook_max_attempts: int = 5
    webhook_backoff_s: float = 2.0
    # Whole-call bound of one attempt (connect, send, answer); at most 64 KiB of an answer is read.
    webhook_timeout_s: float = 10.0
    # Calls in flight per replica: in all, per receiver (scheme://host:port), per tenant.
    webhook_concurrency: int = 32
    webhook_concurrency_per_target: int = 4
    webhook_concurrency_per_tenant: int = 16
    # CQOX_WEBHOOK_SECRET_KEYS: Fernet keys, comma-separated; the first seals signing secrets,
    # every one opens them (rotation). Without it a fixed local-only key is used, with a warning.
    webhook_secret_keys: str = ""
    # CQOX_WEBHOOK_ALLOW_PRIVATE_TARGETS: let webhooks reach private, loopback, link-local and
    # other non-public addresses (refused by default against SSRF; the embedded stack allows them).
    webhook_allow_private_targets: bool = False
    # Per-principal limit per replica (0 disables); this API takes no uploads.
    rate_limit_requests_per_minute: int = 600
    # How long a replica trusts an ingest-issued key it looked up before it looks again: a key
    # revoked at ingest stops working here within this time after its key.revoked arrives.
    key_cache_s: float = 2.0


def build_runtime(settings: NotificationSettings | None = None) -> ServiceRuntime:
    """The notification runtime: one consumer per notified event type plus the dispatcher,
    which says notification.delivered | notification.failed."""
    settings = settings or NotificationSettings()
    sealer = SecretSealer(settings.webhook_secret_keys)
    subscriptions = [
        Subscription(cls, handlers.enqueue_deliveries)
        for cls in (ReportGenerated, AnalysisFailed, DatasetRejected)
    ]
    # Keys issued by ingest, mirrored (their states signed under the pepper both services share).
    replicate_key = keys.key_replicator(settings.auth_pepper.encode() if settings.auth_pepper else None)
    subscriptions += [Subscription(cls, replicate_key) for cls in (KeyIssued, KeyRotated, KeyRevoked)]
    return ServiceRuntime(
        SERVICE,
        settings=settings,
        metadata=metadata,
        migrations=MIGRATIONS,
        subscriptions=subscriptions,
        publishes={"webhook dispatcher": (NotificationDelivered, NotificationFailed)},
        background=[
            handlers.dispatcher(
                handlers.DispatchPolicy(
                    max_attempts=settings.webhook_max_attempts,
                    backoff_base_s=settings.webhook_backoff_s,
                    timeout_s=settings.webhook_timeout_s,
                    allow_private_targets=settings.webhook_allow_private_targets,
                    limits=DispatchLimits(
                        concurrency=settings.webhook_concurrency,
                        per_target=settings.webhook_concurrency_per_target,
                        per_tenant=settings.webhook_concurrency_per_tenant,
                    ),
                ),
                sealer,
            )
        ],
    )


def create_app(settings: NotificationSettings | None = None) -> FastAPI:
    """The FastAPI app; the bus runtime starts and stops with it."""
    settings = settings or NotificationSettings()
    runtime = build_runtime(settings)
    sealer = SecretSealer(settings.webhook_secret_keys)
    if not sealer.configured:
        log.warning(
            "CQOX_WEBHOOK_SECRET_KEYS is not set: webhook secrets are sealed with a local-only key "
            "that anyone can derive; set it outside a local stack"
        )

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
    # Configured keys, OIDC tokens, and keys issued by ingest (mirrored from its key events).
    auth = auth_from_settings(
        settings, settings.default_tenant, "notification", store=keys.ReplicaKeyStore(runtime)
    )
    auth.cache_s = settings.key_cache_s
    install_docs(app, auth)
    app.include_router(
        api.router(
            runtime,
            auth.authenticate,
            allow_private_targets=settings.webhook_allow_private_targets,
            sealer=sealer,
        )
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
    except (AuthNotConfigured, SecretKeysInvalid) as exc:
        raise SystemExit(f"cqox-notification: {exc}") from None
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_level="warning")
