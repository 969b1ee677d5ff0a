"""NATS JetStream messaging made safe for at-least-once delivery.

- `Bus.publish` is the one publish path: it sets `Nats-Msg-Id = event_id` so JetStream
  drops duplicates inside each stream's (explicit) duplicate window.
- Services never publish straight from a handler: `HandlerContext.emit` writes the event to
  the service's `outbox` table in the same transaction as its effects; `OutboxRelay` publishes.
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
    UnknownEventError,
    parse_event,
)
from cqox_shared.logging import get_logger
from cqox_shared.metrics import HANDLE_SECONDS, MESSAGES, PUBLISHED
from cqox_shared.tracing import extract_context, inject_headers, tracer

log = get_logger("cqox.bus")


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

    async def publish(self, event: Event) -> None:
        """Publish one event directly (outside a transaction: prefer the outbox)."""
        headers = inject_headers({"Cqox-Correlation-Id": event.correlation_id})
        await self.publish_raw(event.subject, event.model_dump_json().encode(), str(event.event_id), headers)
        PUBLISHED.labels(self.service, event.event_type).inc()

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
                        PUBLISHED.labels(self.bus.service, row.subject.split(".")[2]).inc()
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


@dataclass
class HandlerContext:
    """What a handler gets besides its event: the open transaction and a way to emit events."""

    session: AsyncSession
    outbox: Table
    deliveries: int
    producer: str
    store: Any = None
    emitted: list[Event] = field(default_factory=list)

    async def emit(self, event: Event) -> None:
        """Queue an event in the outbox, committed together with the handler's effects."""
        await self.session.execute(sa.insert(self.outbox).values(**outbox_row(event)))
        self.emitted.append(event)


Handler = Callable[[Any, HandlerContext], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """One durable pull consumer: the subject it filters, its name, and its handler."""

    subject: str
    durable: str
    handler: Handler
    stream: str | None = None
    max_deliver: int | None = None
    ack_wait_s: float | None = None
    deliver_new_only: bool = False


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
        self.stream = subscription.stream or _stream_name(subscription.subject)

    async def _subscribe(self) -> Any:
        assert self.bus.js is not None
        config = ConsumerConfig(
            durable_name=self.sub.durable,
            ack_policy=AckPolicy.EXPLICIT,
            filter_subject=self.sub.subject,
            max_deliver=self.max_deliver,
            ack_wait=self.ack_wait_s,
            max_ack_pending=1000,
            deliver_policy=DeliverPolicy.NEW if self.sub.deliver_new_only else DeliverPolicy.ALL,
            description=f"{self.service}: {self.sub.subject}",
        )
        await self.bus.js.add_consumer(self.stream, config)
        return await self.bus.js.pull_subscribe_bind(self.sub.durable, self.stream)

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
                log.warning("consumer loop error; resubscribing", consumer=self.sub.durable, error=repr(exc))
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
        import structlog

        structlog.contextvars.bind_contextvars(
            correlation_id=event.correlation_id, event_type=event.event_type, event_id=str(event.event_id)
        )
        started = time.perf_counter()
        keep_alive = asyncio.create_task(self._keep_alive(msg))
        ctx_otel = extract_context(dict(msg.headers or {}))
        try:
            with tracer().start_as_current_span(
                f"handle {self.sub.durable}", context=ctx_otel, kind=trace.SpanKind.CONSUMER
            ) as span:
                span.set_attribute("cqox.correlation_id", event.correlation_id)
                span.set_attribute("messaging.destination", msg.subject)
                outcome = await self._handle_once(event, deliveries)
            await msg.ack()
            MESSAGES.labels(self.service, self.sub.durable, outcome).inc()
            log.info("handled", consumer=self.sub.durable, outcome=outcome, deliveries=deliveries)
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
                    consumer=self.sub.durable,
                    deliveries=deliveries,
                    retry_in_s=delay,
                    error=f"{type(exc).__name__}: {exc}",
                )
                MESSAGES.labels(self.service, self.sub.durable, "retry").inc()
                with contextlib.suppress(Exception):
                    await msg.nak(delay=delay)
        finally:
            keep_alive.cancel()
            HANDLE_SECONDS.labels(self.service, self.sub.durable).observe(time.perf_counter() - started)
            structlog.contextvars.unbind_contextvars("correlation_id", "event_type", "event_id")
        await self._relay_quietly()

    async def _claim(self, session: AsyncSession, event_id: str) -> bool:
        result = await session.execute(
            pg_insert(self.processed)
            .values(consumer=self.sub.durable, event_id=event_id)
            .on_conflict_do_nothing()
            .returning(self.processed.c.event_id)
        )
        return result.first() is not None

    async def _handle_once(self, event: Event, deliveries: int) -> str:
        async with self.sessions() as session, session.begin():
            if not await self._claim(session, str(event.event_id)):
                return "duplicate"
            ctx = HandlerContext(
                session=session,
                outbox=self.outbox,
                deliveries=deliveries,
                producer=self.service,
                store=self.store,
            )
            await self.sub.handler(event, ctx)
        return "ok"

    async def _dead_letter(self, msg: Msg, event: Event | None, reason: str, deliveries: int) -> None:
        """Park the message in the dead-letter stream and mark its analysis failed, once."""
        correlation_id, tenant_id, event_id = _identity(msg.data, event)
        log.error("dead-lettering message", consumer=self.sub.durable, reason=reason, subject=msg.subject)
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
                        consumer=self.sub.durable,
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
            MESSAGES.labels(self.service, self.sub.durable, "dead_lettered").inc()
        except Exception as exc:  # leave it to redelivery rather than lose it
            log.error("dead-lettering failed; message will be redelivered", error=repr(exc))
            with contextlib.suppress(Exception):
                await msg.nak(delay=5)

    async def _relay_quietly(self) -> None:
        try:
            await self.relay.flush()
        except Exception as exc:
            log.warning("outbox flush failed; background relay will retry", error=repr(exc))


def _stream_name(subject: str) -> str:
    from cqox_contracts.v1 import stream_for

    return stream_for(subject).name


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
