"""Fair scheduling across tenants (ADR 0028): the round-robin bookkeeping, and a fair consumer on a
real nats-server and PostgreSQL serving a second tenant before the first tenant's burst drains."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy import MetaData

from cqox_contracts.v1 import ReportGenerated
from cqox_shared.bus import Bus, Consumer, HandlerContext, OutboxRelay, Subscription, outbox_row
from cqox_shared.db import create_engine, messaging_tables, session_factory
from cqox_shared.fairness import TenantQueues, tenant_of


def test_queues_take_turns_and_keep_each_tenants_order() -> None:
    queues: TenantQueues[str] = TenantQueues()
    for i in range(4):
        queues.push("a", f"a{i}")
    queues.push("b", "b0")
    queues.push("c", "c0")
    queues.push("b", "b1")
    served = [queues.pop() for _ in range(len(queues))]
    assert served == ["a0", "b0", "c0", "a1", "b1", "a2", "a3"]
    assert queues.pop() is None and len(queues) == 0


def test_a_tenant_arriving_late_waits_for_one_item_of_the_busy_tenant_only() -> None:
    queues: TenantQueues[str] = TenantQueues()
    for i in range(10):
        queues.push("a", f"a{i}")
    assert queues.pop() == "a0"
    queues.push("b", "b0")  # b's one request lands behind a's whole burst
    assert [queues.pop(), queues.pop()] == ["a1", "b0"]
    assert queues.tenants() == ["a"]
    assert queues.drain() == [f"a{i}" for i in range(2, 10)] and len(queues) == 0


def test_tenant_of_reads_the_envelope_and_tolerates_garbage() -> None:
    assert tenant_of(b'{"tenant_id": "acme", "x": 1}') == "acme"
    assert tenant_of(b"\xff not json") == ""
    assert tenant_of(b"[1, 2]") == ""


def _event(tenant: str, analysis_id: str) -> ReportGenerated:
    return ReportGenerated(
        correlation_id=analysis_id,
        tenant_id=tenant,
        producer="test",
        analysis_id=analysis_id,
        report_uri="file:///r",
        artifacts=[],
    )


@pytest.mark.integration
async def test_fair_consumer_serves_a_second_tenant_before_a_burst_drains(infra):  # type: ignore[no-untyped-def]
    schema = f"t{uuid.uuid4().hex[:8]}"
    metadata = MetaData(schema=schema)
    processed, outbox = messaging_tables(metadata)
    engine = create_engine(infra.database_url)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(metadata.create_all)
    bus = Bus("test")
    await bus.connect(infra.nats_url)
    await bus.ensure_streams()
    sessions = session_factory(engine)
    burst, run = 8, uuid.uuid4().hex[:8]
    tenant_a, tenant_b = f"a-{run}", f"b-{run}"
    served: list[str] = []
    gate, all_served = asyncio.Event(), asyncio.Event()

    async def handler(event: ReportGenerated, ctx: HandlerContext) -> None:
        if event.tenant_id in (tenant_a, tenant_b):
            await gate.wait()  # the first request holds the pool until the whole backlog is queued
            await asyncio.sleep(0.3)  # with ack_wait 1 s, the held ones outlive their ack wait
            served.append(event.analysis_id)
            if len(served) == burst + 1:
                all_served.set()

    service = f"t{uuid.uuid4().hex[:8]}"
    consumer = Consumer(
        service,
        Subscription(ReportGenerated, handler, deliver_new_only=True, fair_window=16),
        bus,
        sessions,
        processed,
        outbox,
        OutboxRelay(bus, sessions, outbox),
        ack_wait_s=1.0,
    )
    task = asyncio.create_task(consumer.run())
    try:
        await asyncio.sleep(0.5)  # the durable exists: what is published now is delivered
        events = [_event(tenant_a, f"{tenant_a}-{i}") for i in range(burst)]
        events.append(_event(tenant_b, f"{tenant_b}-0"))
        for event in events:  # in stream order: a's whole burst, then b's one
            row = outbox_row(event)
            await bus.publish_raw(row["subject"], row["payload"].encode(), row["event_id"], row["headers"])
        await asyncio.sleep(0.5)
        gate.set()
        await asyncio.wait_for(all_served.wait(), timeout=30)
        assert bus.js is not None
        info = await bus.js.consumer_info(consumer.stream, consumer.durable)
    finally:
        task.cancel()
        await bus.close()
        await engine.dispose()
    assert sorted(served) == sorted(e.analysis_id for e in events)  # each exactly once
    # FIFO would serve b last; round-robin serves it right after the request that held the pool
    # and a's next one, long before a's burst drains.
    assert served.index(f"{tenant_b}-0") <= 2, served
    assert [s for s in served if s.startswith(tenant_a)] == [f"{tenant_a}-{i}" for i in range(burst)]
    # ~2.7 s of work behind a 1 s ack wait: the held messages were kept alive, none redelivered
    assert info.num_redelivered == 0, info
