"""The read-audit buffer: batches by size and by time, keeps a batch the database refused, drains on
shutdown, and counts and logs what it drops when full. The database is a fake here (a unit test);
tests/integration/test_audit_export.py runs the same buffer on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import structlog
from prometheus_client import REGISTRY

from cqox_ingest.audit import ReadAudits, entry_fields
from cqox_ingest.db.models import AuditEntry
from cqox_shared.auth import Principal

VIEWER = Principal("acme", "viewer", subject="config-0123456789ab", client="10.0.0.7")


class FakeDatabase:
    """Records committed batches; fails the next `fail` transactions."""

    def __init__(self, fail: int = 0) -> None:
        self.batches: list[list[AuditEntry]] = []
        self.fail = fail

    def __call__(self) -> FakeDatabase:
        return self

    async def __aenter__(self) -> FakeDatabase:
        self._added: list[AuditEntry] = []
        return self

    async def __aexit__(self, *_: Any) -> None:
        return None

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[None]:
        yield
        if self.fail:
            self.fail -= 1
            raise ConnectionError("database is down")
        self.batches.append(self._added)

    def add_all(self, entries: list[AuditEntry]) -> None:
        self._added.extend(entries)

    @property
    def written(self) -> int:
        return sum(len(batch) for batch in self.batches)


def reads(n: int) -> list[dict[str, Any]]:
    return [entry_fields(VIEWER, "analysis.read", f"an-{i}") for i in range(n)]


def dropped_total() -> float:
    return REGISTRY.get_sample_value("cqox_audit_entries_dropped_total", {"service": "ingest"}) or 0.0


async def wait_for(condition: Any, within_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_a_full_batch_is_written_at_once_without_waiting_for_the_interval() -> None:
    async def run() -> None:
        db = FakeDatabase()
        buffer = ReadAudits(db, batch=50, interval_s=3600)
        task = asyncio.create_task(buffer.run())
        await asyncio.sleep(0)
        for fields in reads(49):
            assert buffer.submit(fields)
        await asyncio.sleep(0.1)
        assert db.written == 0  # below a batch: waits for the interval
        for fields in reads(71):
            assert buffer.submit(fields)
        await wait_for(lambda: db.written == 120)  # a full batch woke the writer: all of it goes
        assert [len(b) for b in db.batches] == [50, 50, 20] and not buffer.pending
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run())


def test_a_few_entries_are_written_after_the_interval() -> None:
    async def run() -> None:
        db = FakeDatabase()
        buffer = ReadAudits(db, batch=500, interval_s=0.05)
        task = asyncio.create_task(buffer.run())
        buffer.submit(reads(1)[0])
        assert db.written == 0  # submitting never writes
        await wait_for(lambda: db.written == 1, within_s=2)
        entry = db.batches[0][0]
        assert (entry.tenant_id, entry.actor, entry.client, entry.action, entry.target, entry.outcome) == (
            "acme",
            "config-0123456789ab",
            "10.0.0.7",
            "analysis.read",
            "an-0",
            "ok",
        )
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run())


def test_shutdown_drains_every_waiting_entry() -> None:
    async def run() -> None:
        db = FakeDatabase()
        buffer = ReadAudits(db, batch=40, interval_s=3600)
        task = asyncio.create_task(buffer.run())
        await asyncio.sleep(0)
        for fields in reads(30):
            buffer.submit(fields)
        assert db.written == 0
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert db.written == 30 and not buffer.pending and buffer.closed

    asyncio.run(run())


def test_a_batch_the_database_refused_is_kept_and_written_later() -> None:
    async def run() -> None:
        db = FakeDatabase(fail=2)
        buffer = ReadAudits(db, batch=10, interval_s=0.02)
        task = asyncio.create_task(buffer.run())
        for fields in reads(5):
            buffer.submit(fields)
        await wait_for(lambda: db.written == 5)
        assert [e.target for e in db.batches[0]] == [f"an-{i}" for i in range(5)]  # order kept
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run())


def test_a_full_buffer_drops_counts_and_logs_each_entry() -> None:
    db = FakeDatabase()
    buffer = ReadAudits(db, capacity=3, batch=100, interval_s=3600)
    before = dropped_total()
    with structlog.testing.capture_logs() as logs:
        accepted = [buffer.submit(fields) for fields in reads(5)]
    assert accepted == [True, True, True, False, False]
    assert dropped_total() - before == 2 and buffer.dropped == 2
    dropped = [e for e in logs if e["event"] == "audit buffer full: entry dropped"]
    assert [e["target"] for e in dropped] == ["an-3", "an-4"]
    assert all(e["actor"] == "config-0123456789ab" and e["client"] == "10.0.0.7" for e in dropped)


def test_entries_lost_at_shutdown_are_counted_and_logged() -> None:
    async def run() -> list[Any]:
        db = FakeDatabase(fail=100)  # the database never comes back
        buffer = ReadAudits(db, batch=10, interval_s=3600)
        task = asyncio.create_task(buffer.run())
        await asyncio.sleep(0)
        for fields in reads(3):
            buffer.submit(fields)
        with structlog.testing.capture_logs() as logs:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert not buffer.pending and db.written == 0
        return logs

    before = dropped_total()
    logs = asyncio.run(run())
    assert dropped_total() - before == 3
    assert [e["target"] for e in logs if e["event"] == "audit entry lost"] == ["an-0", "an-1", "an-2"]


@pytest.mark.parametrize("capacity", [0, 1])
def test_submit_never_waits(capacity: int) -> None:
    buffer = ReadAudits(None, capacity=capacity)
    assert buffer.submit(reads(1)[0]) is (capacity > 0)
