"""Read-audit benchmark (on demand, not part of `make test`): what auditing one read costs.

    uv run --frozen python -m bench.audit.run [--reads 2000]

Starts a real PostgreSQL (as the test suite does), migrates the ingest schema, and records the same
`--reads` read entries three ways:

- `sync, no export`: one transaction per read, one INSERT (how reads were audited before ADR 0030);
- `sync + export`: the same plus the `audit.recorded` outbox row in that transaction (what exporting
  would cost if reads were still written on the request path);
- `buffered + export`: `ReadAudits.submit` on the request path, then the batches the background
  writer commits (500 entries and one outbox statement per transaction).

For each: wall time spent on the request path per read, and CPU per read of this process and of
PostgreSQL (the postmaster and its backends), summed over the request path and the batch writes.
Prints one table. Figures vary with what else runs on the machine; compare rows of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import event as orm_event
from sqlalchemy.orm import Session

from cqox_ingest import audit
from cqox_ingest.db import MIGRATIONS
from cqox_ingest.db.models import AuditEntry
from cqox_shared.auth import Principal
from cqox_shared.db import create_engine, ensure_database, migrate, session_factory
from cqox_stack.processes import Postgres

VIEWER = Principal("acme", "viewer", subject="config-0123456789ab", client="10.0.0.7")


def server_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and all its children."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


async def measure(
    name: str,
    reads: int,
    postgres_pid: int,
    on_request: Callable[[dict[str, Any]], Awaitable[None]],
    after: Callable[[], Awaitable[Any]] | None = None,
) -> dict[str, Any]:
    """Run `on_request` once per read (timed: the request path), then `after` (the batch writes)."""
    entries = [audit.entry_fields(VIEWER, "analysis.read", f"an-{i}") for i in range(reads)]
    cpu0, pg0 = time.process_time(), server_cpu_s(postgres_pid)
    on_path = 0.0
    for fields in entries:
        started = time.perf_counter()
        await on_request(fields)
        on_path += time.perf_counter() - started
    if after is not None:
        await after()
    cpu, pg = time.process_time() - cpu0, server_cpu_s(postgres_pid) - pg0
    return {
        "name": name,
        "path_us": on_path / reads * 1e6,
        "cpu_us": cpu / reads * 1e6,
        "pg_us": pg / reads * 1e6,
    }


async def bench(database_url: str, postgres_pid: int, reads: int) -> list[dict[str, Any]]:
    """The three ways of recording `reads` read entries."""
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    rows = []

    async def sync(fields: dict[str, Any]) -> None:
        async with sessions() as session, session.begin():
            session.add(AuditEntry(**fields))

    try:
        # Warm the pool and the statement cache.
        for fields in [audit.entry_fields(VIEWER, "warm", "w")] * 20:
            await sync(fields)
        orm_event.remove(Session, "after_flush", audit._export_new_entries)
        try:
            rows.append(await measure("sync, no export", reads, postgres_pid, sync))
        finally:
            orm_event.listen(Session, "after_flush", audit._export_new_entries)
        rows.append(await measure("sync + export", reads, postgres_pid, sync))

        buffer = audit.ReadAudits(sessions, capacity=reads + 1, batch=500, interval_s=3600)

        async def submit(fields: dict[str, Any]) -> None:
            buffer.submit(fields)

        rows.append(await measure("buffered + export", reads, postgres_pid, submit, buffer.flush))
    finally:
        await engine.dispose()
    return rows


def main() -> None:
    """Start PostgreSQL, run the three variants, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=2000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cqox-bench-audit-"))
    postgres = Postgres(root / "postgres")
    try:
        postgres.start()
        url = postgres.url("bench_audit")
        ensure_database(url)
        migrate(url, MIGRATIONS, "ingest")
        assert postgres.process is not None
        rows = asyncio.run(bench(url, postgres.process.pid, args.reads))
    finally:
        postgres.remove()
        shutil.rmtree(root, ignore_errors=True)
    print(f"audit of {args.reads} reads, per read (µs):")
    print(f"{'variant':<20} {'request path':>13} {'CPU here':>9} {'CPU postgres':>13} {'CPU total':>10}")
    for row in rows:
        total = row["cpu_us"] + row["pg_us"]
        print(
            f"{row['name']:<20} {row['path_us']:>13.1f} {row['cpu_us']:>9.1f} {row['pg_us']:>13.1f} {total:>10.1f}"
        )


if __name__ == "__main__":
    main()
