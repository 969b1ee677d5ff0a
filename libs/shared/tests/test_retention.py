"""Retention of the bus runtime's tables against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy import MetaData

from cqox_shared.db import create_engine, messaging_tables, session_factory
from cqox_shared.retention import longest_stream_age_s, prune_messaging_tables, run_retention
from cqox_shared.settings import Settings

HOUR = 3600.0


@pytest.fixture
async def tables(infra):  # type: ignore[no-untyped-def]
    schema = f"r{uuid.uuid4().hex[:8]}"
    metadata = MetaData(schema=schema)
    processed, outbox = messaging_tables(metadata)
    engine = create_engine(infra.database_url)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(metadata.create_all)
    yield engine, processed, outbox
    await engine.dispose()


async def _fill(engine, processed, outbox) -> None:  # type: ignore[no-untyped-def]
    """Outbox rows published 2 h ago, 10 min ago, never (created 2 h ago); records 9 d and 1 d old."""
    ago = lambda hours: sa.func.now() - sa.func.make_interval(0, 0, 0, 0, hours)  # noqa: E731
    async with engine.begin() as conn:
        for name, created, published in (
            ("old-published", ago(3), ago(2)),
            ("recent-published", ago(1), sa.func.now() - sa.text("interval '10 minutes'")),
            ("old-unpublished", ago(2), None),
        ):
            await conn.execute(
                sa.insert(outbox).values(
                    event_id=name,
                    subject="cqox.v1.x.y",
                    payload="{}",
                    created_at=created,
                    published_at=published,
                )
            )
        for name, hours in (("nine-days", 9 * 24), ("one-day", 24)):
            await conn.execute(
                sa.insert(processed).values(consumer="c", event_id=name, processed_at=ago(hours))
            )


async def _left(engine, table) -> set[str]:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return set((await conn.execute(sa.select(table.c.event_id))).scalars())


@pytest.mark.integration
async def test_published_rows_and_old_records_are_pruned_unpublished_rows_kept(tables) -> None:  # type: ignore[no-untyped-def]
    engine, processed, outbox = tables
    await _fill(engine, processed, outbox)
    pruned = await prune_messaging_tables(
        session_factory(engine),
        outbox,
        processed,
        outbox_retention_s=HOUR,
        processed_retention_s=8 * 24 * HOUR,
    )
    assert (pruned.outbox, pruned.processed_events) == (1, 1)
    assert await _left(engine, outbox) == {"recent-published", "old-unpublished"}
    assert await _left(engine, processed) == {"one-day"}


@pytest.mark.integration
async def test_deletes_run_in_batches_until_nothing_is_due(tables) -> None:  # type: ignore[no-untyped-def]
    engine, processed, outbox = tables
    async with engine.begin() as conn:
        rows = [
            {"event_id": f"e{i}", "subject": "s", "payload": "{}", "published_at": sa.func.now()}
            for i in range(25)
        ]
        await conn.execute(sa.insert(outbox).values(rows))
    await asyncio.sleep(0.05)
    pruned = await prune_messaging_tables(
        session_factory(engine), outbox, processed, outbox_retention_s=0, processed_retention_s=HOUR, batch=10
    )
    assert pruned.outbox == 25 and await _left(engine, outbox) == set()


@pytest.mark.integration
async def test_the_background_task_prunes_on_its_schedule(tables) -> None:  # type: ignore[no-untyped-def]
    engine, processed, outbox = tables
    await _fill(engine, processed, outbox)
    task = asyncio.create_task(
        run_retention(
            session_factory(engine),
            outbox,
            processed,
            outbox_retention_s=HOUR,
            processed_retention_s=2 * 24 * HOUR,
            interval_s=0.1,
        )
    )
    try:
        for _ in range(50):
            if await _left(engine, processed) == {"one-day"}:
                break
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
    assert await _left(engine, outbox) == {"recent-published", "old-unpublished"}
    assert await _left(engine, processed) == {"one-day"}


def test_default_retention_outlives_every_replayable_message(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    heard = ("CQOX_DATASETS", "CQOX_ANALYSES", "CQOX_ESTIMATES", "CQOX_REPORTS", "CQOX_NOTIFICATIONS")
    assert settings.processed_events_retention_s > longest_stream_age_s(heard) == 7 * 24 * 3600
    monkeypatch.setenv("CQOX_OUTBOX_RETENTION_S", "60")
    monkeypatch.setenv("CQOX_RETENTION_INTERVAL_S", "5")
    assert (Settings().outbox_retention_s, Settings().retention_interval_s) == (60, 5)
