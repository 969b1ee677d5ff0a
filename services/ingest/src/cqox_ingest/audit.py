"""The audit log: who (key id or token subject, role, client address) did what to which object, and
with what outcome. Append-only: the database refuses UPDATE, DELETE and TRUNCATE (migration 0007).

A write records itself in the transaction of the change it describes (`record`). Every request of
the API routers passes through `audit_request`, which records each read of datasets and results,
and each write that was refused or failed (a successful write has recorded itself already).

Reads are not written on the request path: they go to a bounded in-process buffer (`ReadAudits`)
that a background task writes in batches (by size or after a short interval) and drains on
shutdown. A full buffer drops the entry, counted in `cqox_audit_entries_dropped_total` and logged
with every field of the entry. Refusals and failures are written at once, like writes.

Every entry, however written, is exported as `audit.recorded` through the outbox in the
transaction that stores it (`_export_new_entries`), so no entry exists without its event.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import HTTPException, Request
from prometheus_client import Counter
from sqlalchemy import event as orm_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from cqox_contracts.v1 import AuditRecorded
from cqox_ingest.db.models import AuditEntry, outbox
from cqox_ingest.dependencies import Caller, Runtime
from cqox_shared.auth import Principal
from cqox_shared.bus import outbox_row
from cqox_shared.logging import get_logger
from cqox_shared.runtime import ServiceRuntime

log = get_logger(__name__)
SERVICE = "ingest"

BUFFERED = Counter(
    "cqox_audit_entries_buffered_total", "Read audit entries queued for a batched write", ["service"]
)
WRITTEN = Counter(
    "cqox_audit_entries_written_total", "Audit entries written from the read buffer", ["service"]
)
DROPPED = Counter(
    "cqox_audit_entries_dropped_total",
    "Read audit entries not stored because the buffer was full (each one is logged)",
    ["service"],
)

# Route name → audited action; a route not listed is audited under its own name.
ACTIONS = {
    "upload_dataset": "dataset.upload",
    "list_datasets": "dataset.list",
    "get_dataset": "dataset.read",
    "list_versions": "dataset.versions",
    "latest_schema": "dataset.schema",
    "version_schema": "dataset.schema",
    "confirm_mapping": "dataset.mapping",
    "create_analysis": "analysis.create",
    "get_analysis": "analysis.read",
    "stream_events": "analysis.events",
    "get_report": "analysis.report",
    "get_artifact": "analysis.artifact",
    "create_key": "key.create",
    "list_keys": "key.list",
    "rotate_key": "key.rotate",
    "revoke_key": "key.revoke",
    "read_audit": "audit.read",
}
_TARGETS = ("analysis_id", "dataset_id", "key_id")


def entry_fields(
    caller: Principal, action: str, target: str, *, outcome: str = "ok", **detail: Any
) -> dict[str, Any]:
    """The columns of one audit entry, timed now."""
    return {
        "tenant_id": caller.tenant_id,
        "role": caller.role,
        "actor": caller.subject[:200],
        "client": caller.client[:100],
        "action": action,
        "target": target[:200],
        "outcome": outcome,
        "detail": detail,
        "at": datetime.now(UTC),
    }


def record(
    session: AsyncSession, caller: Principal, action: str, target: str, *, outcome: str = "ok", **detail: Any
) -> None:
    """Add one audit entry to the session; it commits with the change it describes."""
    session.add(AuditEntry(**entry_fields(caller, action, target, outcome=outcome, **detail)))


def recorded_event(entry: AuditEntry) -> AuditRecorded:
    """The audit.recorded event of a stored entry (its id assigned)."""
    return AuditRecorded(
        correlation_id=entry.target or f"audit-{entry.id}",
        tenant_id=entry.tenant_id,
        producer=SERVICE,
        entry_id=entry.id,
        at=entry.at,
        actor=entry.actor,
        role=entry.role,
        client=entry.client,
        action=entry.action,
        target=entry.target,
        outcome=entry.outcome,
        detail=entry.detail or {},
    )


@orm_event.listens_for(Session, "after_flush")
def _export_new_entries(session: Session, _: Any) -> None:
    # Same transaction as the entries: committed together or not at all (the outbox relay
    # publishes them). One multi-row insert per flush, so a batch of reads costs one statement.
    rows = [outbox_row(recorded_event(obj)) for obj in session.new if isinstance(obj, AuditEntry)]
    if rows:
        session.connection().execute(sa.insert(outbox), rows)


class ReadAudits:
    """A bounded buffer of read audit entries, written in batches by `run` (a background task).

    `submit` never waits and never touches the database: it queues the entry, or, when `capacity`
    entries already wait, drops it, counts the drop and logs the entry. `run` writes as soon as
    `batch` entries wait, and at least every `interval_s`; a batch that fails to be written (the
    database is down) stays first in line and is tried again; cancelling `run` drains the rest."""

    def __init__(
        self,
        sessions: Callable[[], Any] | None,
        *,
        capacity: int = 10_000,
        batch: int = 500,
        interval_s: float = 0.5,
        on_written: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self.sessions = sessions
        self.capacity, self.batch, self.interval_s = capacity, batch, interval_s
        self.on_written = on_written
        self.pending: deque[dict[str, Any]] = deque()
        self.dropped = 0
        self.closed = False
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def submit(self, fields: dict[str, Any]) -> bool:
        """Queue one entry for the next batch; False (counted and logged) when the buffer is full."""
        if len(self.pending) >= self.capacity:
            self.dropped += 1
            DROPPED.labels(SERVICE).inc()
            log.error(
                "audit buffer full: entry dropped",
                dropped_total=self.dropped,
                **{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in fields.items()},
            )
            return False
        self.pending.append(fields)
        BUFFERED.labels(SERVICE).inc()
        if len(self.pending) >= self.batch:
            self._wake.set()
        return True

    async def flush(self) -> int:
        """Write every waiting entry, a batch per transaction; how many were written. A batch that
        fails stays queued (first in line) and the error propagates."""
        written = 0
        async with self._lock:
            while self.pending:
                count = min(self.batch, len(self.pending))
                batch = [self.pending[i] for i in range(count)]
                assert self.sessions is not None
                async with self.sessions() as session, session.begin():
                    session.add_all([AuditEntry(**fields) for fields in batch])
                for _ in range(count):
                    self.pending.popleft()
                written += count
                WRITTEN.labels(SERVICE).inc(count)
        if written and self.on_written is not None:
            with contextlib.suppress(Exception):  # the relay's own loop publishes them anyway
                await self.on_written()
        return written

    async def run(self) -> None:
        """Write batches until cancelled, then drain what is left (shutdown)."""
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval_s)
                self._wake.clear()
                try:
                    await self.flush()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning(
                        "audit batch not written; will retry", waiting=len(self.pending), error=repr(exc)
                    )
                    await asyncio.sleep(self.interval_s)
        finally:
            self.closed = True
            await self._drain()

    async def _drain(self) -> None:
        try:
            written = await asyncio.shield(self.flush())
            log.info("audit buffer drained at shutdown", written=written)
        except BaseException as exc:
            left = len(self.pending)
            if left:
                DROPPED.labels(SERVICE).inc(left)
                log.error("audit entries lost at shutdown", lost=left, error=repr(exc))
                for fields in self.pending:
                    log.error(
                        "audit entry lost",
                        **{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in fields.items()},
                    )
                self.pending.clear()


# One buffer per running ingest runtime; routes find theirs through the runtime.
_BUFFERS: weakref.WeakKeyDictionary[ServiceRuntime, ReadAudits] = weakref.WeakKeyDictionary()


def read_audit_writer(
    *, capacity: int = 10_000, batch: int = 500, interval_s: float = 0.5
) -> Callable[[ServiceRuntime], Awaitable[None]]:
    """Background task of the ingest runtime: the buffer of read audits and its batch writer."""

    async def run(runtime: ServiceRuntime) -> None:
        relay = runtime.relay
        buffer = ReadAudits(
            runtime.sessions,
            capacity=capacity,
            batch=batch,
            interval_s=interval_s,
            on_written=relay.flush if relay is not None else None,
        )
        _BUFFERS[runtime] = buffer
        try:
            await buffer.run()
        finally:
            _BUFFERS.pop(runtime, None)

    return run


def read_buffer(runtime: ServiceRuntime) -> ReadAudits | None:
    """The running read-audit buffer of this runtime, or None (not started, or shut down)."""
    buffer = _BUFFERS.get(runtime)
    return None if buffer is None or buffer.closed else buffer


async def flush_reads(runtime: ServiceRuntime) -> None:
    """Write the reads still buffered (before the audit log is read, so it shows them); a failure
    leaves them buffered for the writer's next try and is logged, the read goes on."""
    buffer = read_buffer(runtime)
    if buffer is not None:
        try:
            await buffer.flush()
        except Exception as exc:
            log.warning("buffered audit reads not written before an audit read", error=repr(exc))


def outcome_of(exc: BaseException | None) -> str:
    """ok, denied (403), not_found (404), refused (another 4xx) or error."""
    if exc is None:
        return "ok"
    status = getattr(exc, "status_code", 500)
    if isinstance(exc, HTTPException) or 400 <= status < 500:
        return {403: "denied", 404: "not_found"}.get(status, "refused")
    return "error"


async def audit_request(request: Request, caller: Caller, runtime: Runtime) -> AsyncIterator[None]:
    """Router dependency: record reads, and writes that did not succeed, after the route ran."""
    failure: BaseException | None = None
    try:
        yield
    except BaseException as exc:
        failure = exc
        raise
    finally:
        if request.method == "GET" or failure is not None:
            await _write(request, caller, runtime, failure)


async def _write(
    request: Request, caller: Principal, runtime: Runtime, failure: BaseException | None
) -> None:
    outcome = outcome_of(failure)
    route = request.scope.get("route")
    name = getattr(route, "name", "") or request.url.path
    params = dict(request.path_params)
    target = next((str(params.pop(k)) for k in _TARGETS if k in params), "")
    detail = {k: str(v)[:200] for k, v in params.items()}
    if failure is not None:
        detail["status"] = str(getattr(failure, "status_code", 500))
    fields = entry_fields(caller, ACTIONS.get(name, name), target, outcome=outcome, **detail)
    buffer = read_buffer(runtime)
    if failure is None and buffer is not None:
        buffer.submit(fields)  # a read: batched off the request path
        return
    try:
        async with runtime.sessions() as session, session.begin():  # type: ignore[misc]
            session.add(AuditEntry(**fields))
    except Exception as exc:  # the answer is decided; a lost entry is logged, never silent
        log.error("audit entry not written", action=name, target=target, outcome=outcome, error=repr(exc))


async def entries(
    *,
    session: AsyncSession,
    caller: Principal,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """The caller's tenant's entries matching the filters, newest first (`before`: an id to page from)."""
    query = sa.select(AuditEntry).where(AuditEntry.tenant_id == caller.tenant_id)
    for column, value in (
        (AuditEntry.action, action),
        (AuditEntry.actor, actor),
        (AuditEntry.target, target),
    ):
        if value:
            query = query.where(column == value)
    if outcome:
        query = query.where(AuditEntry.outcome == outcome)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    return list((await session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit))).all())
