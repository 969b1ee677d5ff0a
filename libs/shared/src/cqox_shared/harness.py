"""Run one handler on one event against a real Postgres schema and get back what it emitted.

FastStream's `TestBroker` idea on our runtime: no NATS, no other service, no stack. The harness
migrates the service's own schema, hands the event to the runtime's consumer for the subscription
that hears it (the same transaction, idempotency claim and `publishes=` check as in production),
and reads the emitted events back from the service's outbox::

    runtime = build_runtime(Settings(database_url=url, artifact_url=f"file://{tmp_path}"))
    async with HandlerHarness(runtime) as harness:
        run = await harness.run(event)
    assert [type(e) for e in run.emitted] == [DatasetMapped]

Rows the harness read are marked published, so no relay of a later in-process runtime on the same
database publishes them.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cqox_contracts.v1 import ColumnSchema, DatasetRef, Event, parse_event
from cqox_shared.artifacts import store_from_settings
from cqox_shared.bus import Subscription
from cqox_shared.db import ConnectionLimits, create_engine, ensure_database, migrate, session_factory
from cqox_shared.runtime import ServiceRuntime


@dataclass
class HandlerRun:
    """The result of handling one event: `ok` or `duplicate`, and the events read from the outbox."""

    outcome: str
    emitted: list[Event] = field(default_factory=list)


def scratch_database(database_url: str, prefix: str = "harness") -> str:
    """A new, empty database next to `database_url` (same server), for one test module."""
    url = database_url.rsplit("/", 1)[0] + f"/{prefix}_{uuid.uuid4().hex[:8]}"
    ensure_database(url)
    return url


class HandlerHarness:
    """A service runtime without NATS: its schema migrated, its handlers callable one event at a time."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime

    async def __aenter__(self) -> Self:
        runtime = self.runtime
        url = runtime.settings.database_url
        await asyncio.to_thread(migrate, url, runtime.migrations, runtime.schema)
        runtime.engine = create_engine(
            url, pool_size=2, limits=ConnectionLimits.from_settings(runtime.settings, runtime.service)
        )
        runtime.sessions = session_factory(runtime.engine)
        runtime.store = await asyncio.to_thread(store_from_settings, runtime.settings)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.runtime.engine is not None:
            await self.runtime.engine.dispose()

    def subscription_for(self, event: Event, durable: str | None = None) -> Subscription:
        """The runtime's subscription that hears `event` (or the one with that durable name)."""
        service = self.runtime.service
        found = [
            sub
            for sub in self.runtime.subscriptions
            if sub.hears_event(event) and durable in (None, sub.durable(service))
        ]
        if len(found) != 1:
            names = [sub.durable(service) for sub in found or self.runtime.subscriptions]
            raise LookupError(
                f"{len(found)} subscriptions of {service} hear {type(event).__name__} on {event.subject}"
                f"{'' if durable is None else f' as {durable}'}: {names}"
            )
        return found[0]

    async def run(self, event: Event, *, durable: str | None = None) -> HandlerRun:
        """Handle `event` once as the subscription that hears it; the emitted events come from the outbox.

        A handler's exception propagates (its transaction rolled back), as it would reach the consumer.
        """
        consumer = self.runtime.consumer(self.subscription_for(event, durable))
        outcome, queued = await consumer.process(event)
        return HandlerRun(outcome, await self._take([str(e.event_id) for e in queued]))

    def store_frame(
        self, frame: pd.DataFrame, *, dataset_id: str = "ds_test", version: int = 1, name: str = "test"
    ) -> DatasetRef:
        """Store `frame` as Parquet in the runtime's artifact store; the claim check events carry."""
        assert self.runtime.store is not None, "use the harness inside `async with`"
        table = pa.Table.from_pandas(frame, preserve_index=False)
        sink = io.BytesIO()
        pq.write_table(table, sink)
        uri = self.runtime.store.put_bytes(
            f"default/datasets/{dataset_id}/v{version}/data.parquet",
            sink.getvalue(),
            "application/vnd.apache.parquet",
        )
        columns = [ColumnSchema(name=f.name, dtype=str(f.type), nullable=f.nullable) for f in table.schema]
        return DatasetRef(
            dataset_id=dataset_id,
            version=version,
            name=name,
            parquet_uri=uri,
            n_rows=len(frame),
            columns=columns,
            sha256=hashlib.sha256(sink.getvalue()).hexdigest(),  # ingest's is the upload's digest
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A transaction on the service's schema, committed on exit: to set up what a handler expects."""
        assert self.runtime.sessions is not None, "use the harness inside `async with`"
        async with self.runtime.sessions() as session, session.begin():
            yield session

    async def rows(self, statement: sa.Select[Any]) -> list[Any]:
        """Rows of a query on the service's schema (what the handler left behind)."""
        async with self.transaction() as session:
            return list((await session.execute(statement)).all())

    async def _take(self, event_ids: list[str]) -> list[Event]:
        """Read the outbox rows of these events and mark them published."""
        if not event_ids:
            return []
        outbox = self.runtime.outbox
        assert self.runtime.sessions is not None
        async with self.runtime.sessions() as session, session.begin():
            rows = (
                await session.execute(
                    sa.select(outbox.c.payload).where(outbox.c.event_id.in_(event_ids)).order_by(outbox.c.id)
                )
            ).all()
            await session.execute(
                sa.update(outbox).where(outbox.c.event_id.in_(event_ids)).values(published_at=sa.func.now())
            )
        return [parse_event(row.payload) for row in rows]
