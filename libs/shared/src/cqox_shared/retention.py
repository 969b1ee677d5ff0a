"""Retention of the bus runtime's tables: published `outbox` rows and old `processed_events`.

Both tables grow by one row per event a service says or hears. A published outbox row is only
history (the stream keeps the event); a `processed_events` row must outlive every redelivery or
replay of its message, so its retention must cover the longest `max_age` of the streams the
service hears (7 days): an older message can no longer come back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import async_sessionmaker

from cqox_contracts.v1 import STREAMS
from cqox_shared.logging import get_logger

log = get_logger("cqox.retention")


@dataclass(frozen=True)
class Pruned:
    """Rows deleted by one pruning pass."""

    outbox: int
    processed_events: int


def longest_stream_age_s(streams: Iterable[str]) -> int:
    """The longest `max_age` of the named streams: how long a message of theirs can come back."""
    ages = [spec.max_age_s for spec in STREAMS if spec.name in set(streams)]
    return max(ages, default=0)


async def prune_messaging_tables(
    sessions: async_sessionmaker,  # type: ignore[type-arg]
    outbox: Table,
    processed: Table,
    *,
    outbox_retention_s: float,
    processed_retention_s: float,
    batch: int = 5000,
) -> Pruned:
    """Delete published outbox rows and processed-event records older than their retention.

    Unpublished outbox rows are never deleted, however old. Deletes run in batches of `batch`
    rows, each in its own short transaction; one replica prunes a schema at a time (the others
    skip the pass).
    """
    counts = {"outbox": 0, "processed_events": 0}
    targets = (
        ("outbox", outbox, outbox.c.published_at, outbox_retention_s),
        ("processed_events", processed, processed.c.processed_at, processed_retention_s),
    )
    lock = f"cqox-prune-{outbox.schema}"
    for name, table, stamp, retention_s in targets:
        cutoff = sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, retention_s)
        while True:
            async with sessions() as session, session.begin():
                got_lock = (
                    await session.execute(
                        sa.select(sa.func.pg_try_advisory_xact_lock(sa.func.hashtext(lock)))
                    )
                ).scalar_one()
                if not got_lock:
                    return Pruned(**counts)
                ctid: sa.ColumnClause[Any] = sa.column("ctid")
                oldest = sa.select(ctid).select_from(table).where(stamp < cutoff).limit(batch)
                result = await session.execute(sa.delete(table).where(ctid.in_(oldest.scalar_subquery())))
            deleted = result.rowcount or 0  # type: ignore[attr-defined]
            counts[name] += deleted
            if deleted < batch:
                break
    return Pruned(**counts)


async def run_retention(
    sessions: async_sessionmaker,  # type: ignore[type-arg]
    outbox: Table,
    processed: Table,
    *,
    outbox_retention_s: float,
    processed_retention_s: float,
    interval_s: float,
) -> None:
    """Background loop pruning the messaging tables every `interval_s` seconds."""
    while True:
        try:
            pruned = await prune_messaging_tables(
                sessions,
                outbox,
                processed,
                outbox_retention_s=outbox_retention_s,
                processed_retention_s=processed_retention_s,
            )
            if pruned.outbox or pruned.processed_events:
                log.info(
                    "pruned messaging tables", outbox=pruned.outbox, processed_events=pruned.processed_events
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("pruning failed; will retry", error=repr(exc))
        await asyncio.sleep(interval_s)
