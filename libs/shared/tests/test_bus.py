"""The bus runtime against a real nats-server and PostgreSQL: dedup, idempotency, retries, DLQ."""

from __future__ import annotations

import asyncio
import uuid

import nats
import pytest
import sqlalchemy as sa
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import MetaData

from cqox_contracts.v1 import MessageDeadLettered, ReportGenerated, parse_event
from cqox_shared.bus import (
    Bus,
    Consumer,
    HandlerContext,
    OutboxRelay,
    RejectMessage,
    Subscription,
    outbox_row,
)
from cqox_shared.db import create_engine, messaging_tables, session_factory

pytestmark = pytest.mark.integration


def _failed(analysis_id: str) -> ReportGenerated:
    return ReportGenerated(
        correlation_id=analysis_id,
        producer="test",
        analysis_id=analysis_id,
        report_uri="file:///r",
        artifacts=[],
    )


@pytest.fixture
async def env(infra):  # type: ignore[no-untyped-def]
    schema = f"t{uuid.uuid4().hex[:8]}"
    metadata = MetaData(schema=schema)
    processed, outbox = messaging_tables(metadata)
    effects = sa.Table(
        "effects",
        metadata,
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("analysis_id", sa.String),
    )
    engine = create_engine(infra.database_url)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(metadata.create_all)
    bus = Bus("test")
    await bus.connect(infra.nats_url)
    await bus.ensure_streams()
    sessions = session_factory(engine)
    relay = OutboxRelay(bus, sessions, outbox)
    yield {
        "bus": bus,
        "sessions": sessions,
        "processed": processed,
        "outbox": outbox,
        "effects": effects,
        "relay": relay,
        "engine": engine,
    }
    await bus.close()
    await engine.dispose()


async def _publish(bus: Bus, event: ReportGenerated) -> None:
    """Publish as the outbox relay does (the tests play the upstream service)."""
    row = outbox_row(event)
    await bus.publish_raw(row["subject"], row["payload"].encode(), row["event_id"], row["headers"])


def _service() -> str:
    """A service name of one test's own, so its derived durable is fresh."""
    return f"t{uuid.uuid4().hex[:8]}"


async def _collect(url: str, subject: str, n: int, wait_s: float = 10.0) -> list[bytes]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    sub = await js.subscribe(subject, ordered_consumer=True, deliver_policy=nats.js.api.DeliverPolicy.ALL)
    out: list[bytes] = []
    try:
        while len(out) < n:
            msg = await sub.next_msg(timeout=wait_s)
            out.append(msg.data)
    finally:
        await nc.close()
    return out


async def test_same_event_twice_is_handled_once_and_emits_through_outbox(env, infra):  # type: ignore[no-untyped-def]
    analysis = f"a-{uuid.uuid4()}"
    event = _failed(analysis)
    calls: list[str] = []

    async def handler(ev, ctx: HandlerContext) -> None:  # type: ignore[no-untyped-def]
        calls.append(str(ev.event_id))
        await ctx.session.execute(sa.insert(env["effects"]).values(analysis_id=ev.analysis_id))
        await ctx.emit(
            MessageDeadLettered(
                **ev.caused(),
                producer="test",
                original_subject="x",
                consumer="c",
                deliveries=1,
                reason=f"echo {ev.analysis_id}",
                payload="",
            )
        )

    consumer = Consumer(
        _service(),
        Subscription(ReportGenerated, handler, publishes=(MessageDeadLettered,), deliver_new_only=True),
        env["bus"],
        env["sessions"],
        env["processed"],
        env["outbox"],
        env["relay"],
    )
    task = asyncio.create_task(consumer.run())
    await asyncio.sleep(0.5)
    # the same event published twice: once deduplicated by Nats-Msg-Id, once with another msg id
    await _publish(env["bus"], event)
    await _publish(env["bus"], event)
    await env["bus"].publish_raw(event.subject, event.model_dump_json().encode(), "other-msg-id")
    try:

        async def effects_done() -> int:
            async with env["engine"].connect() as conn:
                return (
                    await conn.execute(sa.select(sa.func.count()).select_from(env["effects"]))
                ).scalar_one()

        for _ in range(100):
            if await effects_done() >= 1:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        assert await effects_done() == 1
        assert calls == [str(event.event_id)]
    finally:
        task.cancel()
    msgs = await _collect(infra.nats_url, "cqox.v1.message.deadlettered", 1)
    echoed = [parse_event(m) for m in msgs]
    assert any(getattr(e, "reason", "") == f"echo {analysis}" for e in echoed)


async def test_failing_handler_is_retried_then_dead_lettered_with_analysis_failed(env, infra):  # type: ignore[no-untyped-def]
    analysis = f"b-{uuid.uuid4()}"
    event = _failed(analysis)
    attempts: list[int] = []

    async def handler(ev, ctx: HandlerContext) -> None:  # type: ignore[no-untyped-def]
        attempts.append(len(attempts) + 1)
        await ctx.session.execute(sa.insert(env["effects"]).values(analysis_id=ev.analysis_id))
        raise RuntimeError("boom")

    service = _service()
    sub = Subscription(ReportGenerated, handler, max_deliver=3, deliver_new_only=True)
    consumer = Consumer(
        service, sub, env["bus"], env["sessions"], env["processed"], env["outbox"], env["relay"]
    )
    task = asyncio.create_task(consumer.run())
    await asyncio.sleep(0.5)
    await _publish(env["bus"], event)
    try:
        for _ in range(200):
            if len(attempts) >= 3:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)
    finally:
        task.cancel()
    assert attempts == [1, 2, 3]
    async with env["engine"].connect() as conn:  # every failed attempt rolled back its effects
        assert (await conn.execute(sa.select(sa.func.count()).select_from(env["effects"]))).scalar_one() == 0
    dead = [parse_event(m) for m in await _collect_all(infra.nats_url, "cqox.v1.message.deadlettered")]
    mine = [d for d in dead if d.correlation_id == analysis]
    assert len(mine) == 1 and "gave up after 3 deliveries" in mine[0].reason and "boom" in mine[0].reason
    fails = [parse_event(m) for m in await _collect_all(infra.nats_url, "cqox.v1.analysis.failed")]
    assert any(f.correlation_id == analysis and f.producer == service and f.stage == service for f in fails)


async def test_rejected_and_undecodable_messages_are_dead_lettered_at_once(env, infra):  # type: ignore[no-untyped-def]
    analysis = f"c-{uuid.uuid4()}"
    event = _failed(analysis)

    async def handler(ev, ctx: HandlerContext) -> None:  # type: ignore[no-untyped-def]
        raise RejectMessage("this can never work")

    consumer = Consumer(
        _service(),
        Subscription(ReportGenerated, handler, deliver_new_only=True),
        env["bus"],
        env["sessions"],
        env["processed"],
        env["outbox"],
        env["relay"],
    )
    task = asyncio.create_task(consumer.run())
    await asyncio.sleep(0.5)
    await _publish(env["bus"], event)
    await env["bus"].publish_raw(event.subject, b"not json at all", str(uuid.uuid4()))
    await asyncio.sleep(2.5)
    task.cancel()
    dead = [parse_event(m) for m in await _collect_all(infra.nats_url, "cqox.v1.message.deadlettered")]
    assert any(
        d.correlation_id == analysis and d.reason == "this can never work" and d.deliveries == 1 for d in dead
    )
    assert any(d.reason.startswith("undecodable message") and d.payload == "not json at all" for d in dead)


async def _collect_all(url: str, subject: str) -> list[bytes]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    sub = await js.subscribe(subject, ordered_consumer=True, deliver_policy=nats.js.api.DeliverPolicy.ALL)
    out: list[bytes] = []
    try:
        while True:
            try:
                out.append((await sub.next_msg(timeout=1.0)).data)
            except nats.errors.TimeoutError:
                return out
    finally:
        await nc.close()


async def test_trace_context_travels_in_message_headers(env, infra):  # type: ignore[no-untyped-def]
    from opentelemetry import trace

    from cqox_shared.tracing import configure_tracing, tracer

    configure_tracing("test")
    event = _failed(f"d-{uuid.uuid4()}")
    seen: list[int] = []

    async def handler(ev, ctx: HandlerContext) -> None:  # type: ignore[no-untyped-def]
        seen.append(trace.get_current_span().get_span_context().trace_id)

    sub = Subscription(ReportGenerated, handler, deliver_new_only=True)
    consumer = Consumer(
        _service(), sub, env["bus"], env["sessions"], env["processed"], env["outbox"], env["relay"]
    )
    task = asyncio.create_task(consumer.run())
    await asyncio.sleep(0.5)
    with tracer().start_as_current_span("upload") as span:
        publisher_trace = span.get_span_context().trace_id
        await _publish(env["bus"], event)
    try:
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
    assert seen == [publisher_trace]
    assert publisher_trace != 0


async def test_an_undeclared_publish_is_dead_lettered_and_fails_the_analysis(env, infra):  # type: ignore[no-untyped-def]
    analysis = f"e-{uuid.uuid4()}"
    event = _failed(analysis)

    async def handler(ev, ctx: HandlerContext) -> None:  # type: ignore[no-untyped-def]
        await ctx.session.execute(sa.insert(env["effects"]).values(analysis_id=ev.analysis_id))
        await ctx.emit(_failed(ev.analysis_id))  # declares MessageDeadLettered only

    service = _service()
    sub = Subscription(ReportGenerated, handler, publishes=(MessageDeadLettered,), deliver_new_only=True)
    consumer = Consumer(
        service, sub, env["bus"], env["sessions"], env["processed"], env["outbox"], env["relay"]
    )
    task = asyncio.create_task(consumer.run())
    await asyncio.sleep(0.5)
    await _publish(env["bus"], event)
    await asyncio.sleep(2.0)
    task.cancel()
    reason = f"{service} ({service}-report-generated) may not publish ReportGenerated: it declares publishes=(MessageDeadLettered)"
    dead = [parse_event(m) for m in await _collect_all(infra.nats_url, "cqox.v1.message.deadlettered")]
    assert any(d.correlation_id == analysis and d.reason == reason and d.deliveries == 1 for d in dead)
    fails = [parse_event(m) for m in await _collect_all(infra.nats_url, "cqox.v1.analysis.failed")]
    assert any(f.correlation_id == analysis and f.reason == reason for f in fails)
    async with env["engine"].connect() as conn:  # the handler's effects were rolled back
        assert (await conn.execute(sa.select(sa.func.count()).select_from(env["effects"]))).scalar_one() == 0


async def test_a_durable_an_earlier_release_started_otherwise_keeps_its_start_and_consumes(env, infra):  # type: ignore[no-untyped-def]
    """JetStream cannot change a durable's deliver policy; a release that declares another one must
    still subscribe (keeping the durable's start) instead of retrying forever while looking up."""
    seen: list[str] = []

    async def handler(ev, ctx: HandlerContext) -> None:  # type: ignore[no-untyped-def]
        seen.append(ev.analysis_id)

    service = _service()
    sub = Subscription(ReportGenerated, handler)  # declares deliver policy ALL
    older = ConsumerConfig(
        durable_name=sub.durable(service),
        ack_policy=AckPolicy.EXPLICIT,
        filter_subject=sub.subject,
        deliver_policy=DeliverPolicy.NEW,  # what an earlier release declared
    )
    js = env["bus"].js
    await js.add_consumer(sub.stream_name, older)
    consumer = Consumer(
        service, sub, env["bus"], env["sessions"], env["processed"], env["outbox"], env["relay"]
    )
    task = asyncio.create_task(consumer.run())
    analysis = f"u-{uuid.uuid4()}"
    try:
        await asyncio.sleep(0.5)
        await _publish(env["bus"], _failed(analysis))
        for _ in range(100):
            if analysis in seen:
                break
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
    assert analysis in seen
    stored = (await js.consumer_info(sub.stream_name, sub.durable(service))).config
    assert stored.deliver_policy == DeliverPolicy.NEW and stored.max_deliver == consumer.max_deliver
