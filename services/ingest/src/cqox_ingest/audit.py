"""The audit log: who (key id or token subject, role, client address) did what to which object, and
with what outcome. Append-only: the database refuses UPDATE, DELETE and TRUNCATE (migration 0007).

A write records itself in the transaction of the change it describes (`record`). Every request of
the API routers passes through `audit_request`, which records each read of datasets and results,
and each write that was refused or failed (a successful write has recorded itself already).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

from cqox_ingest.db.models import AuditEntry
from cqox_ingest.dependencies import Caller, Runtime
from cqox_shared.auth import Principal
from cqox_shared.logging import get_logger

log = get_logger(__name__)

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


def record(
    session: AsyncSession, caller: Principal, action: str, target: str, *, outcome: str = "ok", **detail: Any
) -> None:
    """Add one audit entry to the session; it commits with the change it describes."""
    session.add(
        AuditEntry(
            tenant_id=caller.tenant_id,
            role=caller.role,
            actor=caller.subject[:200],
            client=caller.client[:100],
            action=action,
            target=target[:200],
            outcome=outcome,
            detail=detail,
        )
    )


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
    try:
        async with runtime.sessions() as session, session.begin():  # type: ignore[misc]
            record(session, caller, ACTIONS.get(name, name), target, outcome=outcome, **detail)
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
