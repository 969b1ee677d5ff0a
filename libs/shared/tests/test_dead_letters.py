"""No analysis hangs on a database outage or a message NATS gave up on (ADR 0021), against a real
nats-server and PostgreSQL. The outage is real too: the consumers reach PostgreSQL through a TCP
relay the test closes (connections refused and cut) and opens again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
import sqlalchemy as sa
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import MetaData

from cqox_contracts.v1 import AnalysisFailed, Event, MessageDeadLettered, ReportGenerated, parse_event
from cqox_shared.advisories import AdvisoryListener
from cqox_shared.bus import Bus, Consumer, HandlerContext, OutboxRelay, Subscription, outbox_row
from cqox_shared.db import create_engine, messaging_tables, session_factory
from cqox_shared.deadletters import derived_id

pytestmark = pytest.mark.integration


class Relay:
    """A TCP relay to PostgreSQL on a port of its own: `cut()` refuses and drops connections."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        """Listen (on the same port as before, if any) and relay every connection."""
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Stop listening and drop every relayed connection."""
        assert self.server is not None
        self.server.close()
        for writer in list(self.pipes):
            writer.close()
        self.pipes.clear()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.pipes |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


@pytest.fixture
async def env(infra) -> AsyncIterator[dict]:  # type: ignore[no-untyped-def,type-arg]
    schema = f"dl{uuid.uuid4().hex[:8]}"
    metadata = MetaData(schema=schema)
    processed, outbox = messaging_tables(metadata)
    effects = sa.Table("effects", metadata, sa.Column("analysis_id", sa.String, primary_key=True))
    direct = create_engine(infra.database_url)
    async with direct.begin() as conn:
        await conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(metadata.create_all)
    url = sa.engine.make_url(infra.database_url)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    await relay.open()
    relayed = create_engine(url.set(port=relay.port).render_as_string(hide_password=False))
    bus = Bus("test")
    await bus.connect(infra.nats_url)
    await bus.ensure_streams()
    sessions = session_factory(relayed)
    yield {
        "bus": bus,
        "sessions": sessions,
        "processed": processed,
        "outbox": outbox,
        "effects": effects,
        "relay": relay,
        "direct": direct,
        "outbox_relay": OutboxRelay(bus, sessions, outbox),
    }
    await bus.close()
    await relayed.dispose()
    await direct.dispose()
    with contextlib.suppress(Exception):
        await relay.cut()


def _event(analysis: str) -> ReportGenerated:
    return ReportGenerated(
        correlation_id=analysis, producer="test", analysis_id=analysis, report_uri="file:///r", artifacts=[]
    )


async def _publish(bus: Bus, event: ReportGenerated) -> int:
    """Publish as an upstream relay does; the message's stream sequence."""
    assert bus.js is not None
    row = outbox_row(event)
    headers = {**row["headers"], "Nats-Msg-Id": row["event_id"]}
    return (await bus.js.publish(row["subject"], row["payload"].encode(), headers=headers)).seq


async def _events_of(url: str, subject: str, analysis: str) -> list:  # type: ignore[type-arg]
    nc = await nats.connect(url)
    sub = await nc.jetstream().subscribe(subject, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
    found: list[Event] = []
    try:
        while True:
            try:
                event = parse_event((await sub.next_msg(timeout=1.0)).data)
            except nats.errors.TimeoutError:
                return found
            if event.correlation_id == analysis:
                found.append(event)
    finally:
        await nc.close()


async def _count(env: dict, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:  # type: ignore[type-arg]
    async with env["direct"].connect() as conn:
        return int(
            (await conn.execute(sa.select(sa.func.count()).select_from(table).where(*where))).scalar_one()
        )


def _consumer(env: dict, handler, **kwargs) -> Consumer:  # type: ignore[no-untyped-def,type-arg]
    service = f"t{uuid.uuid4().hex[:8]}"
    sub = Subscription(
        ReportGenerated, handler, deliver_new_only=True, max_deliver=kwargs.pop("max_deliver", 5)
    )
    return Consumer(
        service,
        sub,
        env["bus"],
        env["sessions"],
        env["processed"],
        env["outbox"],
        env["outbox_relay"],
        **kwargs,
    )


async def _effect(env: dict) -> object:  # type: ignore[type-arg]
    async def handler(ev: ReportGenerated, ctx: HandlerContext) -> None:
        await ctx.session.execute(sa.insert(env["effects"]).values(analysis_id=ev.analysis_id))

    return handler


async def test_a_database_outage_holds_the_message_and_spends_no_delivery(env, infra) -> None:  # type: ignore[no-untyped-def]
    analysis = f"held-{uuid.uuid4()}"
    consumer = _consumer(env, await _effect(env), max_deliver=2, db_outage_wait_s=60, ack_wait_s=1)
    task = asyncio.create_task(consumer.run())
    await asyncio.sleep(0.5)
    await env["relay"].cut()  # the database is gone before the message arrives
    await _publish(env["bus"], _event(analysis))
    await asyncio.sleep(3.5)  # three ack waits: without in-progress acks it would be redelivered
    assert await _count(env, env["effects"]) == 0
    await env["relay"].open()
    try:
        for _ in range(100):
            if await _count(env, env["effects"]) == 1:
                break
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
    assert await _count(env, env["effects"]) == 1
    # handled on its first delivery: nothing dead-lettered, nothing failed
    assert await _events_of(infra.nats_url, "cqox.v1.message.deadlettered", analysis) == []
    assert await _events_of(infra.nats_url, "cqox.v1.analysis.failed", analysis) == []


async def test_dead_letter_needs_no_database_and_is_recorded_once_it_is_back(env, infra) -> None:  # type: ignore[no-untyped-def]
    analysis = f"parked-{uuid.uuid4()}"
    consumer = _consumer(env, await _effect(env), max_deliver=2, db_outage_wait_s=0)
    await env["relay"].cut()
    task = asyncio.create_task(consumer.run())
    try:
        await asyncio.sleep(0.5)
        event = _event(analysis)
        seq = await _publish(env["bus"], event)
        for _ in range(100):
            if consumer.ledger.pending:
                break
            await asyncio.sleep(0.1)
        # parked and failed through NATS alone, while the database is still down
        (dead,) = await _events_of(infra.nats_url, "cqox.v1.message.deadlettered", analysis)
        (failed,) = await _events_of(infra.nats_url, "cqox.v1.analysis.failed", analysis)
        assert isinstance(dead, MessageDeadLettered) and dead.deliveries == 2
        assert "gave up after 2 deliveries" in dead.reason and "OperationalError" in dead.reason
        assert isinstance(failed, AnalysisFailed) and failed.stage == consumer.service
        assert failed.reason == dead.reason and failed.analysis_id == analysis
        assert failed.event_id == derived_id("failed", "CQOX_REPORTS", seq, consumer.durable)
        assert len(consumer.ledger.pending) == 1
        await env["relay"].open()
        for _ in range(100):  # the consumer's loop records it once the database answers
            if not consumer.ledger.pending:
                break
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
    assert not consumer.ledger.pending
    processed, outbox = env["processed"], env["outbox"]
    assert await _count(env, processed, processed.c.event_id == str(event.event_id)) == 1
    ids = [str(dead.event_id), str(failed.event_id)]
    assert await _count(env, outbox, outbox.c.event_id.in_(ids), outbox.c.published_at.isnot(None)) == 2


async def test_max_deliveries_advisory_fails_the_analysis_with_stage_and_reason(env, infra) -> None:  # type: ignore[no-untyped-def]
    """A handler that never finishes (its process hangs or dies on every delivery) never dead-letters:
    JetStream's max-deliveries advisory is what fails the analysis."""
    analysis = f"advised-{uuid.uuid4()}"
    bus: Bus = env["bus"]
    assert bus.js is not None
    durable = f"hangs-{uuid.uuid4().hex[:8]}"
    await bus.js.add_consumer(
        "CQOX_REPORTS",
        ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            filter_subject="cqox.v1.report.generated",
            deliver_policy=DeliverPolicy.NEW,
            max_deliver=2,
            ack_wait=1,
            description="visualization: cqox.v1.report.generated",
        ),
    )
    psub = await bus.js.pull_subscribe_bind(durable, "CQOX_REPORTS")
    listener = AdvisoryListener(bus, "test")
    task = asyncio.create_task(listener.run())
    try:
        event = _event(analysis)
        seq = await _publish(bus, event)
        for _ in range(3):  # delivered twice, never acknowledged; the third pull meets max_deliver
            with contextlib.suppress(nats.errors.TimeoutError):
                await psub.fetch(1, timeout=1.2)
        failed: list = []  # type: ignore[type-arg]
        for _ in range(30):
            failed = await _events_of(infra.nats_url, "cqox.v1.analysis.failed", analysis)
            if failed:
                break
            await asyncio.sleep(0.5)
    finally:
        task.cancel()
    (failure,) = failed
    assert failure.stage == "visualization" and failure.causation_id == event.event_id
    assert f"{durable} gave up on cqox.v1.report.generated after 2 deliveries" in failure.reason
    # said again (another advisory, another replica): the same id, dropped by the stream
    advisory = {"type": "io.nats.jetstream.advisory.v1.max_deliver", "stream": "CQOX_REPORTS"}
    again = await listener.handle(
        json.dumps({**advisory, "consumer": durable, "stream_seq": seq, "deliveries": 2}).encode()
    )
    assert again is not None and again.event_id == failure.event_id
    assert len(await _events_of(infra.nats_url, "cqox.v1.analysis.failed", analysis)) == 1


async def test_an_advisory_stream_an_earlier_release_made_takes_this_releases_subjects(own_nats) -> None:  # type: ignore[no-untyped-def]
    """The stream outlives upgrades: one made with fewer subjects gets the subjects listened to now."""
    from nats.js.api import StreamConfig

    from cqox_shared import advisories

    bus = Bus("test")
    await bus.connect(own_nats)
    try:
        assert bus.js is not None
        with contextlib.suppress(Exception):
            await bus.js.delete_stream(advisories.STREAM)
        await bus.js.add_stream(StreamConfig(name=advisories.STREAM, subjects=[advisories.MAX_DELIVERIES]))
        await AdvisoryListener(bus, "test").ensure()
        subjects = (await bus.js.stream_info(advisories.STREAM)).config.subjects
        assert set(subjects or []) == {advisories.MAX_DELIVERIES, advisories.TERMINATED}
    finally:
        await bus.close()
