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
  message is dead-lettered and the analysis is marked failed with the reason, through NATS
  alone (`cqox_shared.deadletters`): the database only records it, later if need be.
- A database outage does not spend deliveries: the consumer keeps the message alive and waits
  (up to `db_outage_wait_s`) for the database before counting the delivery as failed.
- Long work runs outside any transaction: a subscription's `compute` step (an estimator fit)
  runs between a read-only idempotency check and the short transaction that claims the event
  and records the result (ADR 0021). Long handlers keep their message alive with in-progress acks.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import nats
import psycopg
import sqlalchemy as sa
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError
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
from cqox_shared.deadletters import DeadLetterLedger, Parked, dead_letter_events
from cqox_shared.fairness import TenantQueues, tenant_of
from cqox_shared.logging import get_logger
from cqox_shared.metrics import HANDLE_SECONDS, MESSAGES, PUBLISHED
from cqox_shared.tracing import extract_context, inject_headers, tracer

log = get_logger("cqox.bus")
# JetStream's "consumer create" error, here "deliver policy can not be updated" (JSConsumerCreateErrF).
CONSUMER_NOT_UPDATABLE = 10012


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

    async def connect(self, url: str, user: str | None = None, password: str | None = None) -> None:
        """Connect (retrying while the server comes up) and open JetStream."""
        credentials = {"user": user, "password": password} if user else {}
        self.nc = await nats.connect(
            url,
            **credentials,  # type: ignore[arg-type]
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

    `publishes` is the flow's declaration; `emit` refuses any other event class. `computed` is what
    the subscription's `compute` step returned (None without one).
    """

    session: AsyncSession
    outbox: Table
    producer: str
    publishes: frozenset[type[Event]]
    flow: str
    store: Any = None
    emitted: list[Event] = field(default_factory=list)
    computed: Any = None

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


@dataclass(frozen=True)
class WorkContext:
    """What a subscription's `compute` step gets: the artifact store, and no open database session.

    `sessions` opens a short one for a read the work depends on (a setting, a stored override):
    read, close, then compute; never hold it across the work.
    """

    store: Any
    producer: str
    flow: str
    sessions: Any = None


Compute = Callable[[Any, WorkContext], Awaitable[Any]]


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
    that durable already processed is not handled again. `compute`, if given, does the long work
    outside any transaction; the handler then records its result (`ctx.computed`) in a short one.
    `fair_window` > 1 makes the consumer fair across tenants (`Consumer.run_fair`).
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
    compute: Compute | None = None
    # Above 1: hold up to this many fetched messages and serve them round-robin by tenant (ADR 0028).
    fair_window: int = 0

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
        db_outage_wait_s: float = 0.0,
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
        self.db_outage_wait_s = db_outage_wait_s
        self.ledger = DeadLetterLedger(sessions, processed, outbox, self.durable)

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
        try:
            await self.bus.js.add_consumer(self.stream, config)
        except APIError as exc:
            if exc.err_code != CONSUMER_NOT_UPDATABLE or "deliver policy" not in (exc.description or ""):
                raise
            # The durable exists, made by an earlier release with another start policy, which
            # JetStream cannot change. Where a consumer starts matters only when it is created: this
            # one has its position, so it keeps its start and takes the rest of the declaration.
            stored = (await self.bus.js.consumer_info(self.stream, self.durable)).config
            log.info(
                "consumer keeps its start policy", consumer=self.durable, deliver=str(stored.deliver_policy)
            )
            await self.bus.js.add_consumer(
                self.stream,
                dataclasses.replace(
                    config,
                    deliver_policy=stored.deliver_policy,
                    opt_start_seq=stored.opt_start_seq,
                    opt_start_time=stored.opt_start_time,
                ),
            )
        return await self.bus.js.pull_subscribe_bind(self.durable, self.stream)

    async def run(self) -> None:
        """Fetch and handle messages until cancelled; resubscribe after errors."""
        while True:
            try:
                psub = await self._subscribe()
                if self.sub.fair_window > 1:
                    await self.run_fair(psub)
                while True:
                    if self.ledger.pending:
                        await self.ledger.flush()
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

    async def run_fair(self, psub: Any) -> None:
        """Serve the subscription fairly across tenants (ADR 0028): whenever it is free to start
        work, top the held window up to `fair_window` messages with what the stream has at once,
        then handle the oldest held message of the tenant whose turn it is. Held messages are kept
        alive with in-progress acks (no redelivery, no delivery spent); when the loop ends they
        are nak'ed so another replica takes them at once instead of after the ack wait."""
        held: TenantQueues[Msg] = TenantQueues()
        keep_alive = asyncio.create_task(self._keep_held_alive(held))
        try:
            while True:
                if self.ledger.pending:
                    await self.ledger.flush()
                room = self.sub.fair_window - len(held)
                if room > 0:
                    try:  # nothing held: wait for work; something held: take only what is there
                        msgs = await psub.fetch(batch=room, timeout=0.2 if len(held) else 2)
                    except (TimeoutError, nats.errors.TimeoutError):
                        msgs = []
                    for msg in msgs:
                        held.push(tenant_of(msg.data), msg)
                msg = held.pop()
                if msg is not None:
                    await self.handle(msg)
        finally:
            keep_alive.cancel()
            for msg in held.drain():
                with contextlib.suppress(Exception):
                    await msg.nak()

    async def _keep_held_alive(self, held: TenantQueues[Msg]) -> None:
        """In-progress acks for every message held in a fair window, often enough that none
        reaches its ack wait while it waits its turn."""
        interval = max(self.ack_wait_s / 3, 0.5)
        while True:
            await asyncio.sleep(interval)
            for msg in list(held):
                with contextlib.suppress(Exception):
                    await msg.in_progress()

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
        computed = _Computed()
        outage_budget = self.db_outage_wait_s
        try:
            while True:
                try:
                    with tracer().start_as_current_span(
                        f"handle {self.durable}", context=ctx_otel, kind=trace.SpanKind.CONSUMER
                    ) as span:
                        span.set_attribute("cqox.correlation_id", event.correlation_id)
                        span.set_attribute("messaging.destination", msg.subject)
                        outcome, _ = await self.process(event, computed=computed)
                    await msg.ack()
                    MESSAGES.labels(self.service, self.durable, outcome).inc()
                    log.info("handled", consumer=self.durable, outcome=outcome, deliveries=deliveries)
                except RejectMessage as exc:
                    await self._dead_letter(msg, event, str(exc), deliveries)
                except Exception as exc:
                    waited = await self._wait_out_database_outage(exc, outage_budget)
                    if waited is not None:  # the database is back: the same delivery tries again
                        outage_budget -= waited
                        continue
                    await self._retry_or_give_up(msg, event, exc, deliveries)
                break
        finally:
            keep_alive.cancel()
            HANDLE_SECONDS.labels(self.service, self.durable).observe(time.perf_counter() - started)
            structlog.contextvars.unbind_contextvars("correlation_id", "event_type", "event_id")
        await self._relay_quietly()

    async def _retry_or_give_up(self, msg: Msg, event: Event, exc: Exception, deliveries: int) -> None:
        """Nak with back-off, or dead-letter once the deliveries are spent."""
        if deliveries >= self.max_deliver:
            await self._dead_letter(
                msg,
                event,
                f"gave up after {deliveries} deliveries: {type(exc).__name__}: {exc}",
                deliveries,
            )
            return
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

    async def _wait_out_database_outage(self, exc: Exception, budget_s: float) -> float | None:
        """If `exc` came from an unreachable database, wait (the message kept alive) until it
        answers again; the seconds waited, or None when it was no outage or it outlasted `budget_s`."""
        if budget_s <= 0 or not is_database_unavailable(exc) or await self._database_answers():
            return None
        log.warning(
            "database unreachable; holding the message until it is back",
            consumer=self.durable,
            wait_up_to_s=round(budget_s, 1),
            error=f"{type(exc).__name__}: {exc}",
        )
        started = time.monotonic()
        while (waited := time.monotonic() - started) < budget_s:
            await asyncio.sleep(min(1.0, budget_s - waited))
            if await self._database_answers():
                log.info("database back; handling the message again", consumer=self.durable)
                return time.monotonic() - started
        return None

    async def _database_answers(self) -> bool:
        """Whether the service's database answers a trivial query within a few seconds."""
        try:
            async with asyncio.timeout(5), self.sessions() as session:
                await session.execute(sa.text("SELECT 1"))
            return True
        except Exception:
            return False

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

    async def _seen(self, event_id: str) -> bool:
        """Whether this consumer (or its former name) already handled `event_id` (read only)."""
        names = [self.durable] + ([self.sub.formerly] if self.sub.formerly else [])
        async with self.sessions() as session, session.begin():
            found = await session.execute(
                sa.select(self.processed.c.event_id).where(
                    self.processed.c.consumer.in_(names), self.processed.c.event_id == event_id
                )
            )
            return found.first() is not None

    async def process(self, event: Event, *, computed: _Computed | None = None) -> tuple[str, list[Event]]:
        """Handle a decoded event once; no NATS involved.

        With a `compute` step: a read-only check that the event is new, the long work outside any
        transaction, then one short transaction claiming the event and recording the result (a
        concurrent duplicate loses the claim and records nothing). Without one: claim and handle
        in one transaction. `computed` carries a finished computation into a retry of the same
        delivery. Returns the outcome (`ok` or `duplicate`) and the events queued in the outbox.
        """
        flow = f"{self.service} ({self.durable})"
        holder = computed if computed is not None else _Computed()
        if self.sub.compute is not None and not holder.done:
            if await self._seen(str(event.event_id)):
                return "duplicate", []
            holder.value = await self.sub.compute(
                event, WorkContext(self.store, self.service, flow, self.sessions)
            )
            holder.done = True
        async with self.sessions() as session, session.begin():
            if not await self._claim(session, str(event.event_id)):
                return "duplicate", []
            ctx = HandlerContext(
                session=session,
                outbox=self.outbox,
                producer=self.service,
                publishes=self.publishes,
                flow=flow,
                store=self.store,
                computed=holder.value,
            )
            await self.sub.handler(event, ctx)
        return "ok", ctx.emitted

    async def _dead_letter(self, msg: Msg, event: Event | None, reason: str, deliveries: int) -> None:
        """Park the message and fail its analysis through NATS alone, then terminate it; the
        database records the dead letter now or, if it is down, once it is back."""
        correlation_id, tenant_id, event_id = _identity(msg.data, event)
        stream = msg.metadata.stream if msg.metadata else self.stream
        stream_seq = msg.metadata.sequence.stream if msg.metadata else 0
        log.error("dead-lettering message", consumer=self.durable, reason=reason, subject=msg.subject)
        parked = Parked(stream, stream_seq, msg.subject, self.durable, self.service, deliveries, reason)
        events = dead_letter_events(
            parked,
            payload=msg.data,
            original=event,
            correlation_id=correlation_id,
            tenant_id=tenant_id,
            original_event_id=event_id,
            producer=self.service,
        )
        rows = [outbox_row(e) for e in events]
        try:
            for row in rows:
                await self.bus.publish_raw(
                    row["subject"], row["payload"].encode(), row["event_id"], row["headers"]
                )
                PUBLISHED.labels(self.service, event_type_of(row["subject"])).inc()
        except Exception as exc:  # NATS did not take it: leave the message to redelivery
            log.error("dead-lettering failed; message will be redelivered", error=repr(exc))
            with contextlib.suppress(Exception):
                await msg.nak(delay=5)
            return
        with contextlib.suppress(Exception):
            await msg.term()
        MESSAGES.labels(self.service, self.durable, "dead_lettered").inc()
        await self.ledger.record(event_id or f"{msg.subject}:{stream_seq}", rows)

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


@dataclass
class _Computed:
    """A `compute` step's result, kept across retries of one delivery (after a database outage)."""

    done: bool = False
    value: Any = None


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the database could not be reached or dropped the
    connection, as opposed to a query that failed on its own."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa.exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, psycopg.errors.QueryCanceled):
            return False  # a statement timeout: the server answered
        if isinstance(current, (psycopg.OperationalError, psycopg.InterfaceError, ConnectionError)):
            return True
        if isinstance(current, OSError) and not isinstance(current, FileNotFoundError):
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False
