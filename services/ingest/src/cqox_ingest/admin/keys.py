"""Issued API keys in the ingest database: the key store the auth consults, and the admin functions
that issue, list, rotate and revoke them. Database functions take a keyword-only `session`, or
`ctx` (a transaction with its outbox) when they change a key: every change is said on the bus
(key.issued, key.rotated, key.revoked, with the key's digest and never its secret), committed
with the change, so services that mirror keys (notification) accept the same keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi import HTTPException
from sqlalchemy.ext.asyncio import AsyncSession

from cqox_contracts.v1 import ApiKeyState, KeyIssued, KeyRevoked, KeyRotated
from cqox_ingest import audit
from cqox_ingest.admin.models import KeyCreated, KeyIn, KeyOut
from cqox_ingest.db.models import ApiKey
from cqox_shared.auth import ApiKeyAuth, Principal, StoredKey, key_digest, key_state_signature, new_key
from cqox_shared.bus import HandlerContext
from cqox_shared.runtime import ServiceRuntime

# What the admin routes say, for the runtime's declared flows.
KEY_EVENTS: tuple[type[ApiKeyState], ...] = (KeyIssued, KeyRotated, KeyRevoked)


class DatabaseKeyStore:
    """The auth's KeyStore: issued keys by key id from `ingest.api_keys`."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime

    async def find(self, key_id: str) -> StoredKey | None:
        """The stored key with this id, or None (also None before the runtime has started)."""
        if self.runtime.sessions is None:
            return None
        async with self.runtime.sessions() as session:
            row = await session.get(ApiKey, key_id)
        return None if row is None else StoredKey.of(row)


def _out(row: ApiKey, now: datetime) -> KeyOut:
    active = row.revoked_at is None and (row.expires_at is None or row.expires_at > now)
    return KeyOut(
        key_id=row.key_id,
        tenant_id=row.tenant_id,
        role=row.role,
        name=row.name,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        rotated_from=row.rotated_from,
        active=active,
    )


def key_event(cls: type[ApiKeyState], row: ApiKey, pepper: bytes, **extra: str) -> ApiKeyState:
    """A key lifecycle event carrying the key's whole state after the change (digest, no secret),
    signed under the pepper."""
    state = {
        "key_id": row.key_id,
        "tenant_id": row.tenant_id,
        "role": row.role,
        "digest": row.digest,
        "expires_at": row.expires_at,
        "revoked_at": row.revoked_at,
    }
    return cls(
        # A key belongs to no analysis: an empty correlation id, so a consumer that dead-letters a
        # key event (a pepper mismatch) does not also fail an "analysis" named after the key.
        correlation_id="",
        producer="ingest",
        rotated_from=row.rotated_from,
        signature=key_state_signature(pepper, **state),
        **state,
        **extra,
    )


def check_issuable(auth: ApiKeyAuth) -> None:
    """Raise 409 unless issued keys would work: authentication on and a configured pepper."""
    if not auth.enabled:
        raise HTTPException(
            409, "authentication is disabled (CQOX_AUTH=disabled): issued keys would not be checked"
        )
    if not auth.pepper_configured:
        raise HTTPException(
            409,
            "CQOX_AUTH_PEPPER is not set: issued keys would not survive a restart; set it on every replica",
        )


async def issue(
    *,
    ctx: HandlerContext,
    auth: ApiKeyAuth,
    caller: Principal,
    body: KeyIn,
    ttl_days: int,
    rotated_from: str | None = None,
) -> KeyCreated:
    """Issue a key of the caller's tenant; the secret is returned once and only its HMAC is stored."""
    check_issuable(auth)
    session = ctx.session
    issued = new_key()
    now = datetime.now(UTC)
    row = ApiKey(
        key_id=issued.key_id,
        tenant_id=caller.tenant_id,
        role=body.role,
        name=body.name,
        digest=key_digest(auth.pepper, issued.secret),
        created_by=caller.subject or caller.role,
        created_at=now,
        expires_at=now + timedelta(days=body.expires_in_days or ttl_days),
        revoked_at=None,
        rotated_from=rotated_from,
    )
    session.add(row)
    audit.record(
        session,
        caller,
        "key.create",
        issued.key_id,
        role=body.role,
        name=body.name,
        rotated_from=rotated_from,
    )
    await ctx.emit(key_event(KeyIssued, row, auth.pepper))
    return KeyCreated(**_out(row, now).model_dump(), key=issued.token)


async def listed(*, session: AsyncSession, caller: Principal) -> list[KeyOut]:
    """The caller's tenant's issued keys, newest first."""
    rows = (
        await session.scalars(
            sa.select(ApiKey).where(ApiKey.tenant_id == caller.tenant_id).order_by(ApiKey.created_at.desc())
        )
    ).all()
    now = datetime.now(UTC)
    return [_out(row, now) for row in rows]


async def _own(session: AsyncSession, caller: Principal, key_id: str) -> ApiKey:
    row = await session.get(ApiKey, key_id, with_for_update=True)
    if row is None or row.tenant_id != caller.tenant_id:
        raise HTTPException(404, f"no API key {key_id}")
    return row


async def revoke(*, ctx: HandlerContext, auth: ApiKeyAuth, caller: Principal, key_id: str) -> KeyOut:
    """Revoke a key of the caller's tenant now (idempotent; said again on the bus each time)."""
    row = await _own(ctx.session, caller, key_id)
    now = datetime.now(UTC)
    if row.revoked_at is None:
        row.revoked_at = now
    audit.record(ctx.session, caller, "key.revoke", key_id)
    await ctx.emit(key_event(KeyRevoked, row, auth.pepper))
    auth.forget(key_id)
    return _out(row, now)


async def rotate(
    *, ctx: HandlerContext, auth: ApiKeyAuth, caller: Principal, key_id: str, grace_s: int, ttl_days: int
) -> KeyCreated:
    """Issue a replacement with the same name and role; the old key stops working after `grace_s`."""
    row = await _own(ctx.session, caller, key_id)
    now = datetime.now(UTC)
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        raise HTTPException(409, f"API key {key_id} is no longer active: issue a new key instead")
    body = KeyIn(name=row.name, role=row.role)  # type: ignore[arg-type]
    created = await issue(
        ctx=ctx, auth=auth, caller=caller, body=body, ttl_days=ttl_days, rotated_from=key_id
    )
    if grace_s <= 0:
        row.revoked_at = now
    else:
        row.expires_at = min(
            row.expires_at or now + timedelta(seconds=grace_s), now + timedelta(seconds=grace_s)
        )
    await ctx.emit(key_event(KeyRotated, row, auth.pepper, replaced_by=created.key_id))
    auth.forget(key_id)
    return created
