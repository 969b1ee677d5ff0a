"""Turn result events into webhook deliveries, and deliver them with retries."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from cqox_contracts.v1 import Event, NotificationDelivered, NotificationFailed
from cqox_notification.db.models import Delivery, DeliveryAttempt, Subscription
from cqox_notification.domain import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DispatchLimits,
    DueDelivery,
    backoff_s,
    fair_pick,
    redact_url,
    sign,
    target_key,
)
from cqox_notification.sealing import SecretSealer
from cqox_notification.targets import RESOLVE_TIMEOUT_S, PinnedTarget, TargetProblem, check_target
from cqox_shared.bus import HandlerContext
from cqox_shared.logging import get_logger

if TYPE_CHECKING:
    from cqox_shared.runtime import ServiceRuntime

log = get_logger("cqox.notification")
# Bytes of a receiver's answer read at most: only its status matters, the rest is discarded.
MAX_RESPONSE_BYTES = 64 * 1024


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


@dataclass(frozen=True)
class DispatchPolicy:
    """How webhooks are sent: retries, time bounds, concurrency limits and target policy."""

    max_attempts: int
    backoff_base_s: float
    timeout_s: float = 10.0
    interval_s: float = 0.5
    allow_private_targets: bool = False
    limits: DispatchLimits = field(default_factory=DispatchLimits)
    max_response_bytes: int = MAX_RESPONSE_BYTES

    @property
    def lease_s(self) -> float:
        """How long a claimed delivery stays in flight before another dispatcher may take it:
        longer than any one attempt (resolution plus the whole request), with a margin."""
        return RESOLVE_TIMEOUT_S + self.timeout_s + 30.0


@dataclass(frozen=True)
class Claim:
    """A delivery this dispatcher owns until its lease ends: what to send, where, signed how."""

    delivery_id: str
    claim_token: str
    tenant_id: str
    target: str
    url: str
    sealed_secret: str
    subscription_id: str
    event_type: str
    payload: str
    attempt: int


@dataclass(frozen=True)
class WebhookReply:
    """What a receiver answered: its status and how much of its body was read (capped)."""

    status_code: int
    body_bytes: int
    truncated: bool


def dispatcher(policy: DispatchPolicy, sealer: SecretSealer) -> Callable[[ServiceRuntime], Awaitable[None]]:
    """Background task delivering due webhooks concurrently, fairly across tenants and targets.

    Each pass claims due deliveries in one short transaction (`FOR UPDATE SKIP LOCKED`, marked
    in flight under a lease), then calls the receivers with no transaction open, then records
    each outcome in its own short transaction. At most `limits.concurrency` calls run at once,
    `limits.per_target` per receiver and `limits.per_tenant` per tenant, so a slow receiver only
    ever holds its own slots. Unless `allow_private_targets`, the target is resolved again before
    every attempt, a host now resolving to a non-public address fails at once (no retry), and the
    request connects to the address that was checked (no second lookup to rebind)."""

    async def run(runtime: ServiceRuntime) -> None:
        async with webhook_client(policy.timeout_s) as client:
            await Dispatch(runtime, client, policy, sealer).run()

    return run


class Dispatch:
    """The running dispatcher of one process: its calls in flight and its claiming loop."""

    def __init__(
        self, runtime: ServiceRuntime, client: httpx.AsyncClient, policy: DispatchPolicy, sealer: SecretSealer
    ) -> None:
        self.runtime, self.client, self.policy, self.sealer = runtime, client, policy, sealer
        self.calls: set[asyncio.Task[None]] = set()
        self.busy_targets: Counter[str] = Counter()
        self.busy_tenants: Counter[str] = Counter()
        self.wake = asyncio.Event()
        self.turn = 0

    async def run(self) -> None:
        """Claim and start due deliveries until cancelled; idle passes wait for a slot or a tick."""
        try:
            while True:
                started = 0
                free = self.policy.limits.concurrency - len(self.calls)
                if free > 0:
                    try:
                        started = await self.claim_and_start(free)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        log.warning("delivery claim failed; will retry", error=repr(exc))
                if not started:
                    self.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), self.policy.interval_s)
        finally:
            for call in list(self.calls):
                call.cancel()
            await asyncio.gather(*self.calls, return_exceptions=True)

    async def claim_and_start(self, free: int) -> int:
        """Claim up to `free` due deliveries fairly and start a call for each; how many started."""
        claims = await claim_due(
            self.runtime,
            busy_targets=self.busy_targets,
            busy_tenants=self.busy_tenants,
            policy=self.policy,
            free=free,
            first_tenant=self.turn,
        )
        self.turn += 1
        for claim in claims:
            self.busy_targets[claim.target] += 1
            self.busy_tenants[claim.tenant_id] += 1
            call = asyncio.create_task(self._call(claim))
            self.calls.add(call)
            call.add_done_callback(self.calls.discard)
        return len(claims)

    async def _call(self, claim: Claim) -> None:
        try:
            outcome = await call_receiver(self.client, claim, self.sealer, self.policy)
            await record_attempt(self.runtime, claim, outcome, self.policy)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the lease lapses and another pass retries it
            log.warning(
                "delivery failed to record; its lease will lapse", delivery=claim.delivery_id, error=repr(exc)
            )
        finally:
            self.busy_targets[claim.target] -= 1
            self.busy_tenants[claim.tenant_id] -= 1
            self.wake.set()


def _due(now: sa.ColumnElement[datetime]) -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.and_(Delivery.status == "pending", Delivery.next_attempt_at <= now),
        sa.and_(Delivery.status == "in_flight", Delivery.lease_until < now),
    )


async def claim_due(
    runtime: ServiceRuntime,
    *,
    busy_targets: Counter[str],
    busy_tenants: Counter[str],
    policy: DispatchPolicy,
    free: int,
    first_tenant: int = 0,
) -> list[Claim]:
    """Claim due deliveries in one short transaction: rows locked with SKIP LOCKED (another
    replica's claims are passed over), chosen round-robin across tenants and targets, marked
    in flight under a lease and a fresh claim token; deliveries of inactive subscriptions are
    cancelled. No lock outlives the transaction."""
    limits = policy.limits
    async with runtime.transaction() as ctx:
        session = ctx.session
        now = sa.func.now()
        tenants = (
            await session.scalars(
                sa.select(Delivery.tenant_id)
                .where(_due(now))
                .group_by(Delivery.tenant_id)
                .order_by(sa.func.min(Delivery.next_attempt_at))
                .limit(200)
            )
        ).all()
        due: list[DueDelivery] = []
        rows: dict[str, tuple[Delivery, Subscription]] = {}
        for tenant in tenants:
            room = limits.per_tenant - busy_tenants[tenant]
            if room <= 0:
                continue
            # A few more than the tenant's room, so a receiver at its limit does not hide others.
            found = (
                await session.execute(
                    sa.select(Delivery, Subscription)
                    .join(Subscription, Subscription.id == Delivery.subscription_id)
                    .where(_due(now), Delivery.tenant_id == tenant)
                    .order_by(Delivery.next_attempt_at)
                    .limit(room + limits.per_target * 4)
                    .with_for_update(of=Delivery, skip_locked=True)
                )
            ).all()
            for delivery, sub in found:
                if not sub.active:
                    delivery.status = "cancelled"
                    continue
                rows[delivery.id] = (delivery, sub)
                due.append(DueDelivery(delivery.id, tenant, target_key(sub.url)))
        picked = fair_pick(
            due,
            busy_targets=busy_targets,
            busy_tenants=busy_tenants,
            limits=limits,
            free=free,
            first_tenant=first_tenant,
        )
        lease_until = datetime.now(UTC) + timedelta(seconds=policy.lease_s)
        claims = []
        for item in picked:
            delivery, sub = rows[item.delivery_id]
            delivery.status = "in_flight"
            delivery.lease_until = lease_until
            delivery.claim_token = uuid.uuid4().hex
            delivery.attempts += 1  # counted when claimed: a call that kills us still counts
            claims.append(
                Claim(
                    delivery_id=delivery.id,
                    claim_token=delivery.claim_token,
                    tenant_id=item.tenant_id,
                    target=item.target,
                    url=sub.url,
                    sealed_secret=sub.secret,
                    subscription_id=sub.id,
                    event_type=delivery.event_type,
                    payload=delivery.payload,
                    attempt=delivery.attempts,
                )
            )
        return claims


@dataclass(frozen=True)
class CallOutcome:
    """One attempt's result: status, error (empty when delivered), whether final, duration."""

    status_code: int | None
    error: str
    refused: bool
    duration_ms: float


async def call_receiver(
    client: httpx.AsyncClient, claim: Claim, sealer: SecretSealer, policy: DispatchPolicy
) -> CallOutcome:
    """Sign and POST one delivery, no transaction open; the whole call is bounded by the timeout
    and at most `max_response_bytes` of the answer are read."""
    body = claim.payload.encode()
    timestamp = int(time.time())
    started = time.perf_counter()
    status_code: int | None = None
    error = ""
    refused = False  # by the target policy: final, never retried
    try:
        secret = sealer.open(claim.sealed_secret)
    except ValueError as exc:
        return CallOutcome(None, str(exc), True, 0.0)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "cqox-notification/1",
        "Accept-Encoding": "identity",
        "X-Cqox-Event": claim.event_type,
        "X-Cqox-Delivery": claim.delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    target = await check_target(claim.url, allow_private=policy.allow_private_targets)
    if isinstance(target, TargetProblem):
        error, refused = target.reason, target.permanent
    else:
        try:
            async with asyncio.timeout(policy.timeout_s):
                reply = await post_webhook(
                    client, target, content=body, headers=headers, max_bytes=policy.max_response_bytes
                )
            status_code = reply.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except TimeoutError:
            error = f"no complete answer within {policy.timeout_s:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
    return CallOutcome(status_code, error, refused, (time.perf_counter() - started) * 1000)


def webhook_client(timeout_s: float) -> httpx.AsyncClient:
    """The HTTP client webhooks are posted with: no redirects followed, no connection reused."""
    # A pinned request connects to an IP address, and httpcore pools connections by origin
    # (scheme, IP, port) only: a kept-alive TLS connection opened for a.example (SNI and
    # certificate checked for that name) could be reused for b.example on the same address.
    # So no idle connection is kept; webhooks are low-volume, an extra handshake is cheap.
    # HTTP(S)_PROXY from the environment is ignored (trust_env=False): a proxy would resolve the
    # name itself, and httpcore's CONNECT tunnel does not carry the pinned TLS server name.
    # The pool is unbounded here: the dispatcher bounds concurrency itself, per target and tenant.
    return httpx.AsyncClient(
        timeout=timeout_s,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
        trust_env=False,
    )


async def post_webhook(
    client: httpx.AsyncClient,
    target: PinnedTarget,
    *,
    content: bytes,
    headers: dict[str, str],
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> WebhookReply:
    """POST `content` to the target's checked address, under its original Host and TLS name;
    read at most `max_bytes` of the answer and drop the connection after that."""
    request = client.build_request(
        "POST",
        target.url,
        content=content,
        headers={**headers, **target.headers},
        extensions=target.extensions,
    )
    response = await client.send(request, stream=True)
    received, truncated = 0, False
    try:
        # Raw bytes, never decoded: a small compressed answer cannot inflate past the cap.
        chunks = response.aiter_raw() if not response.is_stream_consumed else _already_read(response)
        async for chunk in chunks:
            received += len(chunk)
            if received > max_bytes:
                truncated = True
                break
    finally:
        await response.aclose()
    return WebhookReply(response.status_code, min(received, max_bytes), truncated)


async def _already_read(response: httpx.Response) -> AsyncIterator[bytes]:
    yield response.content  # a transport that hands over the whole answer at once


async def record_attempt(
    runtime: ServiceRuntime, claim: Claim, outcome: CallOutcome, policy: DispatchPolicy
) -> None:
    """Record an attempt in one short transaction, if the claim is still ours: the attempt row,
    the delivery's new state, and notification.delivered | notification.failed when final."""
    async with runtime.transaction() as ctx:
        delivery = await ctx.session.get(Delivery, claim.delivery_id, with_for_update=True)
        if delivery is None or delivery.status != "in_flight" or delivery.claim_token != claim.claim_token:
            log.warning("delivery lease lapsed before its outcome was recorded", delivery=claim.delivery_id)
            return
        ctx.session.add(
            DeliveryAttempt(
                delivery_id=delivery.id,
                attempt=claim.attempt,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
            )
        )
        delivery.lease_until = None
        delivery.claim_token = None
        common = {
            "correlation_id": delivery.correlation_id,
            "causation_id": uuid.UUID(delivery.causation_id),
            "tenant_id": delivery.tenant_id,
            "producer": ctx.producer,
            "analysis_id": delivery.analysis_id,
            "subscription_id": claim.subscription_id,
            "channel": "webhook",
            # The URL itself can be a credential (tokens in its path or query): never in an event.
            "target": redact_url(claim.url),
            "attempts": claim.attempt,
        }
        if not outcome.error:
            delivery.status = "delivered"
            delivery.delivered_at = datetime.now(UTC)
            await ctx.emit(NotificationDelivered(**common, status_code=outcome.status_code))
        elif outcome.refused or claim.attempt >= policy.max_attempts:
            delivery.status = "failed"
            delivery.last_error = outcome.error
            reason = (
                outcome.error
                if outcome.refused
                else f"gave up after {claim.attempt} attempts: {outcome.error}"
            )
            await ctx.emit(NotificationFailed(**common, reason=reason))
        else:
            delivery.status = "pending"
            delivery.last_error = outcome.error
            delivery.next_attempt_at = datetime.now(UTC) + timedelta(
                seconds=backoff_s(claim.attempt, policy.backoff_base_s)
            )
    log.info(
        "webhook attempt",
        delivery=claim.delivery_id,
        attempt=claim.attempt,
        status_code=outcome.status_code,
        error=outcome.error,
    )
