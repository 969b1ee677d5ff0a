"""Admin routes (role admin, the caller's own tenant only): issued API keys and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from cqox_ingest import audit
from cqox_ingest.admin import keys
from cqox_ingest.admin.models import AuditOut, AuditPage, KeyCreated, KeyIn, KeyOut, KeysOut
from cqox_ingest.dependencies import Admin, Auth, Runtime

router = APIRouter(prefix="/v1/admin", tags=["admin"])
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"


def _ttl_days(runtime: Runtime) -> int:
    return int(getattr(runtime.settings, "api_key_ttl_days", 90))


@router.post("/keys", status_code=201)
async def create_key(body: KeyIn, caller: Admin, auth: Auth, runtime: Runtime) -> KeyCreated:
    """Issue an API key of your tenant; its secret is in the answer once, and never again."""
    async with runtime.transaction() as ctx:
        return await keys.issue(ctx=ctx, auth=auth, caller=caller, body=body, ttl_days=_ttl_days(runtime))


@router.get("/keys")
async def list_keys(caller: Admin, runtime: Runtime) -> KeysOut:
    """Your tenant's issued keys (ids, roles, expiry; never secrets)."""
    async with runtime.sessions() as session:  # type: ignore[misc]
        return KeysOut(keys=await keys.listed(session=session, caller=caller))


@router.post("/keys/{key_id}/rotate", status_code=201)
async def rotate_key(
    key_id: str,
    caller: Admin,
    auth: Auth,
    runtime: Runtime,
    grace_seconds: Annotated[
        int, Query(ge=0, le=7 * 24 * 3600, description="Old key keeps working this long")
    ] = 0,
) -> KeyCreated:
    """Replace a key: a new secret with the same name and role; the old one stops after the grace."""
    async with runtime.transaction() as ctx:
        return await keys.rotate(
            ctx=ctx,
            auth=auth,
            caller=caller,
            key_id=key_id,
            grace_s=grace_seconds,
            ttl_days=_ttl_days(runtime),
        )


@router.delete("/keys/{key_id}")
async def revoke_key(key_id: str, caller: Admin, auth: Auth, runtime: Runtime) -> KeyOut:
    """Revoke a key now; requests with it get 401 from then on."""
    async with runtime.transaction() as ctx:
        return await keys.revoke(ctx=ctx, auth=auth, caller=caller, key_id=key_id)


@router.get("/audit")
async def read_audit(
    caller: Admin,
    runtime: Runtime,
    action: Annotated[
        str | None, Query(max_length=80, description="e.g. analysis.report, key.create")
    ] = None,
    actor: Annotated[str | None, Query(max_length=200, description="Key id or token subject")] = None,
    target: Annotated[str | None, Query(max_length=200, description="Dataset, analysis or key id")] = None,
    outcome: Literal["ok", "denied", "not_found", "refused", "error"] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="Entries older than this id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """Your tenant's audit log, newest first, filtered; page with `before=<next_before>`."""
    await audit.flush_reads(runtime)  # reads still buffered on this replica are shown too
    async with runtime.sessions() as session:  # type: ignore[misc]
        rows = await audit.entries(
            session=session,
            caller=caller,
            action=action,
            actor=actor,
            target=target,
            outcome=outcome,
            since=since,
            until=until,
            before=before,
            limit=limit,
        )
    entries = [
        AuditOut(
            id=row.id,
            at=row.at,
            tenant_id=row.tenant_id,
            actor=row.actor,
            role=row.role,
            client=row.client,
            action=row.action,
            target=row.target,
            outcome=row.outcome,
            detail=row.detail,
        )
        for row in rows
    ]
    return AuditPage(entries=entries, next_before=entries[-1].id if len(entries) == limit else None)
