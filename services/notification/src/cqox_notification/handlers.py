"""Turn result events into webhook deliveries, and deliver them with retries."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from cqox_contracts.v1 import Event, NotificationDelivered, NotificationFailed
from cqox_notification.db.models import Delivery, DeliveryAttempt, Subscription
from cqox_notification.domain import SIGNATURE_HEADER, TIMESTAMP_HEADER, backoff_s, sign
from cqox_notification.targets import PinnedTarget, TargetProblem, check_target
from cqox_shared.bus import HandlerContext
from cqox_shared.logging import get_logger

if TYPE_CHECKING:
    from cqox_shared.runtime import ServiceRuntime

log = get_logger("cqox.notification")


async def enqueue_deliveries(event: Event, ctx: HandlerContext) -> None:
    """Create one pending delivery per matching subscription of the event's tenant."""
    analysis_id = getattr(event, "analysis_id", event.correlation_id)
    subscriptions = (
        await ctx.session.scalars(
            sa.select(Subscription).where(
                Subscription.tenant_id == event.tenant_id,
                Subscription.active.is_(True),
                sa.or_(Subscription.analysis_id.is_(None), Subscription.analysis_id == analysis_id),
            )
        )
    ).all()
    for sub in subscriptions:
        if event.event_type not in sub.event_types:
            continue
        await ctx.session.execute(
            pg_insert(Delivery)
            .values(
                id=str(uuid.uuid4()),
                subscription_id=sub.id,
                tenant_id=event.tenant_id,
                analysis_id=analysis_id,
                correlation_id=event.correlation_id,
                causation_id=str(event.event_id),
                event_id=str(event.event_id),
                event_type=event.event_type,
                payload=event.model_dump_json(),
            )
            .on_conflict_do_nothing(index_elements=["subscription_id", "event_id"])
        )


def dispatcher(
    *,
    max_attempts: int,
    backoff_base_s: float,
    timeout_s: float = 10.0,
    interval_s: float = 0.5,
    allow_private_targets: bool = False,
) -> Callable[[ServiceRuntime], Awaitable[None]]:
    """Background task delivering due webhooks (rows locked so replicas never double-send).

    Unless `allow_private_targets`, the target is resolved again before every attempt, a
    delivery whose host now resolves to a non-public address fails at once (no retry), and the
    request connects to the address that was checked (no second lookup to rebind)."""

    async def run(runtime: ServiceRuntime) -> None:
        async with webhook_client(timeout_s) as client:
            while True:
                try:
                    sent = await _deliver_due(
                        runtime,
                        client,
                        max_attempts=max_attempts,
                        backoff_base_s=backoff_base_s,
                        allow_private_targets=allow_private_targets,
                    )
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("delivery loop failed; will retry", error=repr(exc))
                    sent = 0
                if not sent:
                    await asyncio.sleep(interval_s)

    return run


def webhook_client(timeout_s: float) -> httpx.AsyncClient:
    """The HTTP client webhooks are posted with: no redirects followed, no connection reused."""
    # A pinned request connects to an IP address, and httpcore pools connections by origin
    # (scheme, IP, port) only: a kept-alive TLS connection opened for a.example (SNI and
    # certificate checked for that name) could be reused for b.example on the same address.
    # So no idle connection is kept; webhooks are low-volume, an extra handshake is cheap.
    # HTTP(S)_PROXY from the environment is ignored (trust_env=False): a proxy would resolve the
    # name itself, and httpcore's CONNECT tunnel does not carry the pinned TLS server name.
    return httpx.AsyncClient(
        timeout=timeout_s,
        follow_redirects=False,
        limits=httpx.Limits(max_keepalive_connections=0),
        trust_env=False,
    )


async def post_webhook(
    client: httpx.AsyncClient, target: PinnedTarget, *, content: bytes, headers: dict[str, str]
) -> httpx.Response:
    """POST `content` to the target's checked address, under its original Host and TLS name."""
    return await client.post(
        target.url, content=content, headers={**headers, **target.headers}, extensions=target.extensions
    )


async def _deliver_due(
    runtime: ServiceRuntime,
    client: httpx.AsyncClient,
    *,
    max_attempts: int,
    backoff_base_s: float,
    allow_private_targets: bool = False,
) -> int:
    async with runtime.transaction() as ctx:
        due = (
            await ctx.session.scalars(
                sa.select(Delivery)
                .where(Delivery.status == "pending", Delivery.next_attempt_at <= sa.func.now())
                .order_by(Delivery.next_attempt_at)
                .limit(10)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for delivery in due:
            sub = await ctx.session.get(Subscription, delivery.subscription_id)
            if sub is None or not sub.active:
                delivery.status = "cancelled"
                continue
            await _attempt(
                ctx,
                client,
                delivery,
                sub,
                max_attempts=max_attempts,
                backoff_base_s=backoff_base_s,
                allow_private_targets=allow_private_targets,
            )
        return len(due)


async def _attempt(
    ctx: HandlerContext,
    client: httpx.AsyncClient,
    delivery: Delivery,
    sub: Subscription,
    *,
    max_attempts: int,
    backoff_base_s: float,
    allow_private_targets: bool = False,
) -> None:
    body = delivery.payload.encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "cqox-notification/1",
        "X-Cqox-Event": delivery.event_type,
        "X-Cqox-Delivery": delivery.id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(sub.secret, timestamp, body),
    }
    delivery.attempts += 1
    started = time.perf_counter()
    status_code: int | None = None
    error = ""
    refused = False  # by the target policy: final, never retried
    target = await check_target(sub.url, allow_private=allow_private_targets)
    if isinstance(target, TargetProblem):
        error, refused = target.reason, target.permanent
    else:
        try:
            response = await post_webhook(client, target, content=body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
    duration_ms = (time.perf_counter() - started) * 1000
    ctx.session.add(
        DeliveryAttempt(
            delivery_id=delivery.id,
            attempt=delivery.attempts,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
        )
    )
    common = {
        "correlation_id": delivery.correlation_id,
        "causation_id": uuid.UUID(delivery.causation_id),
        "tenant_id": delivery.tenant_id,
        "producer": ctx.producer,
        "analysis_id": delivery.analysis_id,
        "subscription_id": sub.id,
        "channel": "webhook",
        "target": sub.url,
        "attempts": delivery.attempts,
    }
    if not error:
        delivery.status = "delivered"
        delivery.delivered_at = datetime.now(UTC)
        await ctx.emit(NotificationDelivered(**common, status_code=status_code))
    elif refused or delivery.attempts >= max_attempts:
        delivery.status = "failed"
        delivery.last_error = error
        reason = error if refused else f"gave up after {delivery.attempts} attempts: {error}"
        await ctx.emit(NotificationFailed(**common, reason=reason))
    else:
        delivery.last_error = error
        delivery.next_attempt_at = datetime.now(UTC) + timedelta(
            seconds=backoff_s(delivery.attempts, backoff_base_s)
        )
    log.info(
        "webhook attempt",
        delivery=delivery.id,
        attempt=delivery.attempts,
        status_code=status_code,
        error=error,
    )
