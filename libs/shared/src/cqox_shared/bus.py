"""NATS JetStream messaging made safe for at-least-once delivery.

- `Bus.publish_raw` is the one publish path: it sets `Nats-Msg-Id = event_id` so JetStream
  drops duplicates inside each stream's (explicit) duplicate window. Only `OutboxRelay` calls it.
- Services never publish straight from a handler: `HandlerContext.emit` writes the event to
  the service's `outbox` table in the same transaction as its effects; `OutboxRelay` publishes.
- Flows are declared (ADR 0016): a `Subscription` names the event class it hears and the event
  classes it may publish; its subject and durable name are derived from them, and `emit` refuses
  an event class the subscription did not declare.
- `Consumer` runs one durable pull consumer with explicit acks. Each message is handled in
  one transaction that also records `(consumer, event_id)` in `processed_events`, so a
  redelivered message is acknowledged without repeating its effects. Failures are retried
  with back-off up to `max_deliver`; then (or at once for undecodable/rejected messages) the
  message is dead-lettered and the analysis is marked failed with the reason.
- Long handlers keep their message alive with in-progress acks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import nats
import sqlalchemy as sa
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from opentelemetry import trace
from pydantic import ValidationError
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cqox_contracts.v1 import (
    STREAMS,
    AnalysisFailed,
    Event,
    MessageDeadLettered,
    StreamSpec,
    UnknownEventError,
    parse_event,
    stream_for,
)
from cqox_shared.logging import get_logger
from cqox_shared.metrics import HANDLE_SECONDS, MESSAGES, PUBLISHED
from cqox_shared.tracing import extract_context, inject_headers, tracer

log = get_logger("cqox.bus")


# What every consumer may say on its own, besides its flows' declarations: a message that
# exhausted its deliveries or was rejected is parked, and its analysis marked failed.
DEAD_LETTER_PUBLISHES: tuple[type[Event], ...] = (MessageDeadLettered, AnalysisFailed)


class RejectMessage(Exception):
    """Raised by a handler for a message that can never succeed: dead-letter it at once."""


class Bus:
    """A NATS connection with JetStream, the stream definitions and the one publish helper."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.nc: NatsClient | None = None
        self.js: JetStreamContext | None = None

    async def connect(self, url: str) -> None:
        """Connect (retrying while the server comes up) and open JetStream."""
        self.nc = await nats.connect(
            url,
            name=f"cqox-{self.service}",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=5,
            allow_reconnect=True,
        )
        self.js = self.nc.jetstream(timeout=10)

    @property
    def connected(self) -> bool:
        """Whether the NATS connection is up."""
        return self.nc is not None and self.nc.is_connected

    async def ensure_streams(self) -> None:
        """Create or update every v1 stream (idempotent; safe for concurrent starters)."""
        assert self.js is not None
        for spec in STREAMS:
            config = StreamConfig(
                name=spec.name,
                subjects=list(spec.subjects),
                description=spec.description,
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                max_age=spec.max_age_s,
                duplicate_window=spec.duplicate_window_s,
            )
            try:
                await self.js.stream_info(spec.name)
                await self.js.update_stream(config)
            except NotFoundError:
                try:
                    await self.js.add_stream(config)
                except Exception:  # another service created it meanwhile
                    await self.js.update_stream(config)

    async def publish_raw(
        self, subject: str, payload: bytes, event_id: str, headers: dict[str, str] | None = None
    ) -> None:
        """Publish bytes with `Nats-Msg-Id` set, waiting for the stream's ack."""
        assert self.js is not None
        all_headers = dict(headers or {})
        all_headers["Nats-Msg-Id"] = event_id
        await self.js.publish(subject, payload, headers=all_headers)

    async def close(self) -> None:
        """Close the connection (unacked work is redelivered; unpublished events wait in the outbox)."""
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await self.nc.flush(timeout=2)
            with contextlib.suppress(Exception):
                await self.nc.close()
        self.nc = None
        self.js = None


def outbox_row(event: Event) -> dict[str, Any]:
    """The outbox row for an event, carrying the current trace context in its headers."""
    headers = inject_headers({"Cqox-Correlation-Id": event.correlation_id})
    return {
        "event_id": str(event.event_id),
        "subject": event.subject,
        "payload": event.model_dump_json(),
        "headers": headers,
    }


class OutboxRelay:
    """Publishes outbox rows that are not yet published, oldest first."""

    def __init__(self, bus: Bus, sessions: async_sessionmaker, outbox: Table) -> None:  # type: ignore[type-arg]
        self.bus = bus
        self.sessions = sessions
        self.outbox = outbox
        self._lock = asyncio.Lock()

    async def flush(self, batch: int = 200) -> int:
        """Publish pending rows; rows locked by another replica are skipped. Returns the count."""
        published = 0
        async with self._lock:
            while True:
                async with self.sessions() as session, session.begin():
                    rows = (
                        await session.execute(
                            sa.select(self.outbox)
                            .where(self.outbox.c.published_at.is_(None))
                            .order_by(self.outbox.c.id)
                            .limit(batch)
                            .with_for_update(skip_locked=True)
                        )
                    ).all()
                    if not rows:
                        return published
                    for row in rows:
                        await self.bus.publish_raw(
                            row.subject, row.payload.encode(), row.event_id, dict(row.headers or {})
                        )
                        PUBLISHED.labels(self.bus.service, event_type_of(row.subject)).inc()
                    await session.execute(
                        sa.update(self.outbox)
                        .where(self.outbox.c.id.in_([r.id for r in rows]))
                        .values(published_at=sa.func.now())
                    )
                    published += len(rows)

    async def run(self, interval_s: float = 1.0) -> None:
        """Background loop catching rows left by a crash between commit and publish."""
        while True:
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox relay failed; will retry", error=str(exc))
            await asyncio.sleep(interval_s)


class UndeclaredPublishError(RejectMessage):
    """A handler emitted an event class its flow did not declare in `publishes=`.

    A programming error that no redelivery can fix, so the message is dead-lettered at once and
    the analysis fails with this message as its reason.
    """


@dataclass
class HandlerContext:
    """What a handler gets besides its event: the open transaction and a way to emit events.

    `publishes` is the flow's declaration; `emit` refuses any other event class.
    """

    session: AsyncSession
    outbox: Table
    producer: str
    publishes: frozenset[type[Event]]
    flow: str
    store: Any = None
    emitted: list[Event] = field(default_factory=list)

    async def emit(self, event: Event) -> None:
        """Queue an event in the outbox, committed together with the handler's effects."""
        if type(event) not in self.publishes:
            declared = ", ".join(sorted(cls.__name__ for cls in self.publishes)) or "nothing"
            raise UndeclaredPublishError(
                f"{self.flow} may not publish {type(event).__name__}: it declares publishes=({declared})"
            )
        await self.session.execute(sa.insert(self.outbox).values(**outbox_row(event)))
        self.emitted.append(event)


Handler = Callable[[Any, HandlerContext], Awaitable[None]]


def event_type_of(subject: str) -> str:
    """The event type a subject carries: `cqox.v1.estimate.completed.psm` -> `estimate.completed`."""
    return ".".join(subject.split(".")[2:4])


def durable_name(service: str, subject: str) -> str:
    """The durable consumer name of a service's subscription to `subject`, the same everywhere.

    `quality-gate` on `cqox.v1.dataset.mapped` -> `quality-gate-dataset-mapped`; wildcards are
    spelled out (`*` -> `any`, `>` -> `all`): `estimator-estimate-completed-any`, `ingest-dataset-all`.
    """
    tokens = subject.removeprefix("cqox.v1.").split(".")
    return "-".join([service, *({"*": "any", ">": "all"}.get(t, t) for t in tokens)])


def subject_matches(pattern: str, subject: str) -> bool:
    """Whether a NATS subject filter (with `*` and `>` wildcards) captures `subject`."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)


@dataclass(frozen=True)
class Subscription:
    """One declared flow: the event class a durable pull consumer hears, its handler, and the
    event classes that handler may publish.

    The subject filter comes from `hears` (its `subject_template`, with `method` filled in for
    per-method events: one method, or `*` for all); `hears=Event` with `stream=` hears every event
    of that stream (the ingest read model). The durable name is `durable_name(service, subject)`.
    `formerly` names the durable this flow had before names were derived (ADR 0016): an event
    that durable already processed is not handled again.
    """

    hears: type[Event]
    handler: Handler
    publishes: tuple[type[Event], ...] = ()
    method: str | None = None
    stream: str | None = None
    formerly: str | None = None
    max_deliver: int | None = None
    ack_wait_s: float | None = None
    deliver_new_only: bool = False

    def __post_init__(self) -> None:
        if self.stream is not None:
            if self.hears is not Event:
                raise ValueError("stream= is for a subscription that hears every event (hears=Event)")
            stream_spec(self.stream)
        elif not self.hears.subject_template:
            raise ValueError(f"{self.hears.__name__} has no subject; name a stream to hear all events")
        if ("{method}" in self.hears.subject_template) != (self.method is not None):
            raise ValueError(
                f"{self.hears.__name__}: method= is required for per-method events, only for them"
            )
        for cls in self.publishes:
            if not (isinstance(cls, type) and issubclass(cls, Event) and cls.subject_template):
                raise ValueError(f"publishes= takes event classes, got {cls!r}")

    @property
    def subject(self) -> str:
        """The subject filter of the durable consumer."""
        if self.stream is not None:
            return stream_spec(self.stream).subjects[0]
        return self.hears.subject_template.format(method=self.method or "")

    @property
    def stream_name(self) -> str:
        """The stream that holds the subject."""
        return self.stream or stream_for(self.subject).name

    def durable(self, service: str) -> str:
        """The durable consumer name of this flow in `service`."""
        return durable_name(service, self.subject)

    def hears_event(self, event: Event) -> bool:
        """Whether `event` is one this flow declared it hears (class and subject)."""
        return isinstance(event, self.hears) and subject_matches(self.subject, event.subject)


def stream_spec(name: str) -> StreamSpec:
    """The v1 stream called `name`."""
    for spec in STREAMS:
        if spec.name == name:
            return spec
    raise ValueError(f"no stream {name!r}; known: {[s.name for s in STREAMS]}")


class Consumer:
    """Runs one `Subscription`: fetch, handle once in a transaction, ack, relay the outbox."""

    def __init__(
        self,
        service: str,
        subscription: Subscription,
        bus: Bus,
        sessions: async_sessionmaker,  # type: ignore[type-arg]
        processed: Table,
        outbox: Table,
        relay: OutboxRelay,
        *,
        store: Any = None,
        max_deliver: int = 5,
        ack_wait_s: float = 60.0,
    ) -> None:
        self.service = service
        self.sub = subscription
        self.bus = bus
        self.sessions = sessions
        self.processed = processed
        self.outbox = outbox
        self.relay = relay
        self.store = store
        self.max_deliver = subscription.max_deliver or max_deliver
        self.ack_wait_s = subscription.ack_wait_s or ack_wait_s
        self.stream = subscription.stream_name
        self.durable = subscription.durable(service)
        self.publishes = frozenset(subscription.publishes)

    async def _subscribe(self) -> Any:
        assert self.bus.js is not None
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            filter_subject=self.sub.subject,
            max_deliver=self.max_deliver,
            ack_wait=self.ack_wait_s,
            max_ack_pending=1000,
            deliver_policy=DeliverPolicy.NEW if self.sub.deliver_new_only else DeliverPolicy.ALL,
            description=f"{self.service}: {self.sub.subject}",
        )
        await self.bus.js.add_consumer(self.stream, config)
        return await self.bus.js.pull_subscribe_bind(self.durable, self.stream)

    async def run(self) -> None:
        """Fetch and handle messages until cancelled; resubscribe after errors."""
        while True:
            try:
                psub = await self._subscribe()
                while True:
                    try:
                        msgs = await psub.fetch(batch=1, timeout=2)
                    except (TimeoutError, nats.errors.TimeoutError):
                        continue
                    for msg in msgs:
                        await self.handle(msg)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer loop error; resubscribing", consumer=self.durable, error=repr(exc))
                await asyncio.sleep(1)

    async def _keep_alive(self, msg: Msg) -> None:
        interval = max(self.ack_wait_s / 3, 0.5)
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    async def handle(self, msg: Msg) -> None:
        """Handle one message exactly once in effect."""
        deliveries = msg.metadata.num_delivered if msg.metadata else 1
        try:
            event = parse_event(msg.data)
        except (UnknownEventError, ValidationError) as exc:
            await self._dead_letter(msg, None, f"undecodable message: {exc}", deliveries)
            await self._relay_quietly()
            return
        if not self.sub.hears_event(event):
            reason = f"{self.durable} hears {self.sub.hears.__name__}, not {type(event).__name__}"
            await self._dead_letter(msg, event, reason, deliveries)
            await self._relay_quietly()
            return
        import structlog

        structlog.contextvars.bind_contextvars(
            correlation_id=event.correlation_id, event_type=event.event_type, event_id=str(event.event_id)
        )
        started = time.perf_counter()
        keep_alive = asyncio.create_task(self._keep_alive(msg))
        ctx_otel = extract_context(dict(msg.headers or {}))
        try:
            with tracer().start_as_current_span(
                f"handle {self.durable}", context=ctx_otel, kind=trace.SpanKind.CONSUMER
            ) as span:
                span.set_attribute("cqox.correlation_id", event.correlation_id)
                span.set_attribute("messaging.destination", msg.subject)
                outcome, _ = await self.process(event)
            await msg.ack()
            MESSAGES.labels(self.service, self.durable, outcome).inc()
            log.info("handled", consumer=self.durable, outcome=outcome, deliveries=deliveries)
        except RejectMessage as exc:
            await self._dead_letter(msg, event, str(exc), deliveries)
        except Exception as exc:
            if deliveries >= self.max_deliver:
                await self._dead_letter(
                    msg,
                    event,
                    f"gave up after {deliveries} deliveries: {type(exc).__name__}: {exc}",
                    deliveries,
                )
            else:
                delay = min(2.0 ** (deliveries - 1), 30.0)
                log.warning(
                    "handler failed; will retry",
                    consumer=self.durable,
                    deliveries=deliveries,
                    retry_in_s=delay,
                    error=f"{type(exc).__name__}: {exc}",
                )
                MESSAGES.labels(self.service, self.durable, "retry").inc()
                with contextlib.suppress(Exception):
                    await msg.nak(delay=delay)
        finally:
            keep_alive.cancel()
            HANDLE_SECONDS.labels(self.service, self.durable).observe(time.perf_counter() - started)
            structlog.contextvars.unbind_contextvars("correlation_id", "event_type", "event_id")
        await self._relay_quietly()

    async def _claim(self, session: AsyncSession, event_id: str) -> bool:
        """Record that this consumer handled `event_id`; False if it (or its former name) had."""
        if self.sub.formerly is not None:
            seen = await session.execute(
                sa.select(self.processed.c.event_id).where(
                    self.processed.c.consumer == self.sub.formerly, self.processed.c.event_id == event_id
                )
            )
            if seen.first() is not None:
                return False
        result = await session.execute(
            pg_insert(self.processed)
            .values(consumer=self.durable, event_id=event_id)
            .on_conflict_do_nothing()
            .returning(self.processed.c.event_id)
        )
        return result.first() is not None

    async def process(self, event: Event) -> tuple[str, list[Event]]:
        """Handle a decoded event once, in one transaction; no NATS involved.

        Returns the outcome (`ok` or `duplicate`) and the events the handler queued in the outbox.
        """
        async with self.sessions() as session, session.begin():
            if not await self._claim(session, str(event.event_id)):
                return "duplicate", []
            ctx = HandlerContext(
                session=session,
                outbox=self.outbox,
                producer=self.service,
                publishes=self.publishes,
                flow=f"{self.service} ({self.durable})",
                store=self.store,
            )
            await self.sub.handler(event, ctx)
        return "ok", ctx.emitted

    async def _dead_letter(self, msg: Msg, event: Event | None, reason: str, deliveries: int) -> None:
        """Park the message in the dead-letter stream and mark its analysis failed, once."""
        correlation_id, tenant_id, event_id = _identity(msg.data, event)
        log.error("dead-lettering message", consumer=self.durable, reason=reason, subject=msg.subject)
        try:
            async with self.sessions() as session, session.begin():
                key = event_id or f"{msg.subject}:{msg.metadata.sequence.stream if msg.metadata else 0}"
                if await self._claim(session, key):
                    common = {
                        "correlation_id": correlation_id,
                        "tenant_id": tenant_id,
                        "producer": self.service,
                        "causation_id": event.event_id if event else None,
                    }
                    dead = MessageDeadLettered(
                        **common,
                        original_subject=msg.subject,
                        original_event_id=event_id,
                        consumer=self.durable,
                        deliveries=deliveries,
                        reason=reason,
                        payload=msg.data.decode("utf-8", errors="replace"),
                    )
                    await session.execute(sa.insert(self.outbox).values(**outbox_row(dead)))
                    # never answer a dead-lettered analysis.failed with another one (no loops)
                    if correlation_id and not isinstance(event, AnalysisFailed):
                        failed = AnalysisFailed(
                            **common, analysis_id=correlation_id, stage=self.service, reason=reason
                        )
                        await session.execute(sa.insert(self.outbox).values(**outbox_row(failed)))
            await msg.term()
            MESSAGES.labels(self.service, self.durable, "dead_lettered").inc()
        except Exception as exc:  # leave it to redelivery rather than lose it
            log.error("dead-lettering failed; message will be redelivered", error=repr(exc))
            with contextlib.suppress(Exception):
                await msg.nak(delay=5)

    async def _relay_quietly(self) -> None:
        try:
            await self.relay.flush()
        except Exception as exc:
            log.warning("outbox flush failed; background relay will retry", error=repr(exc))


def _identity(data: bytes, event: Event | None) -> tuple[str, str, str | None]:
    """Correlation id, tenant and event id of a message, even an undecodable one."""
    if event is not None:
        return event.correlation_id, event.tenant_id, str(event.event_id)
    try:
        raw = json.loads(data)
        if isinstance(raw, dict):
            return (
                str(raw.get("correlation_id", "")),
                str(raw.get("tenant_id", "default")),
                (str(raw["event_id"]) if raw.get("event_id") else None),
            )
    except (ValueError, UnicodeDecodeError):
        pass
    return "", "default", None
