"""NATS and PostgreSQL memory under a long stream of writes (on demand, not part of `make test`).

    uv run --frozen python -m bench.load.stores [--messages 300000] [--rows 320000]

The one-hour soak (`bench.load.run --soak-minutes 60`) sees nats-server and PostgreSQL grow through
the hour. An hour is too short to tell a cache filling from a leak, so this drives each server
alone, as the embedded stack starts it (`cqox_stack`), with many hours' worth of the soak's
writes, and prints its memory (PSS, with every child process) as they go:

- nats-server: audit events (~0.5 kB, a `Nats-Msg-Id` each, as the outbox relay publishes them)
  into the `CQOX_AUDIT` stream as `contracts` defines it (file storage, 30 days' retention) but with
  a `--duplicate-window-s` of 2 s: the server keeps every id seen in the window, so at this bench's
  rate the real 600 s window would hold every id and hide the rest; in the soak (10 events/s) it
  holds at most 6,000.
- PostgreSQL: rows like the audit table's (~0.5 kB of JSON) inserted 1,000 at a time, with a read
  of the newest ones after each 20,000, until the table is larger than `shared_buffers`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
from pathlib import Path

import nats
import psutil
import psycopg
from nats.js.api import RetentionPolicy, StorageType, StreamConfig

from cqox_contracts.v1.streams import STREAMS
from cqox_stack.processes import NatsServer, Postgres

BODY = json.dumps({"path": "/v1/analyses/x", "detail": "a" * 480})
STEP = 20_000


def pss_mb(pids: list[int]) -> float:
    """PSS of these processes and all their children, in MB."""
    seen: dict[int, psutil.Process] = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                seen[proc.pid] = proc
        except psutil.NoSuchProcess:
            continue
    total = 0
    for proc in seen.values():
        try:
            total += proc.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total / 1e6


def server_pids(port: int, name: str) -> list[int]:
    """The processes named `name` whose command line or config mentions `port` (or all of them)."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == name and str(port) in " ".join(proc.info["cmdline"] or []):
            found.append(proc.pid)
    return found


async def nats_memory(root: Path, messages: int, window_s: int) -> None:
    """Publish `messages` audit events and print nats-server's PSS every STEP."""
    server = NatsServer(root / "nats", auth=False)
    server.start()
    try:
        pid = server.process.pid
        client = await nats.connect(server.url)
        stream = next(s for s in STREAMS if s.name == "CQOX_AUDIT")
        js = client.jetstream(timeout=10)
        await js.add_stream(
            StreamConfig(
                name=stream.name,
                subjects=list(stream.subjects),
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                max_age=stream.max_age_s,
                duplicate_window=window_s,
            )
        )
        print(
            f"nats-server: {stream.name}, file storage, max_age {stream.max_age_s / 86400:g} days, "
            f"duplicate window {window_s} s"
        )
        print("| events | stream MB | nats-server PSS MB |")
        print("|---:|---:|---:|")
        print(f"| 0 | 0 | {pss_mb([pid]):.1f} |", flush=True)
        body = BODY.encode()
        for sent in range(STEP, messages + 1, STEP):
            for i in range(sent - STEP, sent):
                await js.publish("cqox.v1.audit.recorded", body, headers={"Nats-Msg-Id": f"audit-{i}"})
            info = await js.stream_info(stream.name)
            print(f"| {sent} | {info.state.bytes / 1e6:.0f} | {pss_mb([pid]):.1f} |", flush=True)
        await client.close()
    finally:
        server.stop()


def postgres_memory(root: Path, rows: int) -> None:
    """Insert `rows` audit-like rows and print PostgreSQL's PSS every STEP."""
    server = Postgres(root / "pg")
    server.start()
    try:
        url = server.url("postgres").replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as conn:
            shared = conn.execute("show shared_buffers").fetchone()
            conn.execute(
                "create table audit (id bigserial primary key, at timestamptz default now(), entry jsonb)"
            )
            print(f"\nPostgreSQL: shared_buffers {shared[0] if shared else '?'}")
            print("| rows | table MB | postgres PSS MB (every process) |")
            print("|---:|---:|---:|")
            pids = server_pids(server.port, "postgres")
            print(f"| 0 | 0 | {pss_mb(pids):.1f} |", flush=True)
            for done in range(STEP, rows + 1, STEP):
                with conn.cursor() as cursor:
                    for _ in range(STEP // 1000):
                        cursor.execute(
                            "insert into audit (entry) select %s::jsonb from generate_series(1, 1000)",
                            (BODY,),
                        )
                conn.execute("select count(*) from audit where id > (select max(id) - 5000 from audit)")
                size = conn.execute("select pg_total_relation_size('audit')").fetchone()
                table_mb = (size[0] if size else 0) / 1e6
                pids = server_pids(server.port, "postgres")
                print(f"| {done} | {table_mb:.0f} | {pss_mb(pids):.1f} |", flush=True)
    finally:
        server.stop()


def main() -> None:
    """Drive each server alone and print its memory as the writes go."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=300_000, help="audit events to publish")
    parser.add_argument("--rows", type=int, default=320_000, help="audit rows to insert")
    parser.add_argument("--duplicate-window-s", type=int, default=2, help="the stream's duplicate window")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cqox-stores-"))
    try:
        asyncio.run(nats_memory(root, args.messages, args.duplicate_window_s))
        postgres_memory(root, args.rows)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
