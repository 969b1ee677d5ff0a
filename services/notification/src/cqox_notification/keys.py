"""API keys issued by ingest, accepted here too: a replica kept from ingest's key events.

Ingest owns the keys; it says every change on the bus (key.issued, key.rotated, key.revoked), each
carrying the key's whole state (id, tenant, role, HMAC digest of the secret, expiry, revocation)
signed under the pepper both services share (CQOX_AUTH_PEPPER). `replicate_key` applies a state it
can verify to `notification.api_keys`: tenant, role and digest of a stored key never change, an
expiry only shortens and a revocation is never undone, so a replayed or reordered event cannot
revive a key. `ReplicaKeyStore` is the auth's key store over that table.
"""

from __future__ import annotations

import hmac

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from cqox_contracts.v1 import ApiKeyState
from cqox_notification.db.models import ReplicaKey
from cqox_shared.auth import StoredKey, key_state_signature
from cqox_shared.bus import Handler, HandlerContext, RejectMessage
from cqox_shared.logging import get_logger
from cqox_shared.runtime import ServiceRuntime

log = get_logger("cqox.notification")


def signature_problem(event: ApiKeyState, pepper: bytes) -> str | None:
    """Why the event's key state cannot be trusted, or None when its signature verifies."""
    expected = key_state_signature(
        pepper,
        key_id=event.key_id,
        tenant_id=event.tenant_id,
        role=event.role,
        digest=event.digest,
        expires_at=event.expires_at,
        revoked_at=event.revoked_at,
    )
    if hmac.compare_digest(expected, event.signature):
        return None
    return (
        f"{event.event_type} of key {event.key_id}: its signature does not verify under this service's "
        "CQOX_AUTH_PEPPER (a forged event, or the pepper differs from ingest's); the key was not changed"
    )


def key_replicator(pepper: bytes | None) -> Handler:
    """The handler of key.issued, key.rotated and key.revoked, checking signatures under `pepper`
    (None: no pepper configured, so no key state can be verified and each is dead-lettered)."""

    async def replicate_key(event: ApiKeyState, ctx: HandlerContext) -> None:
        """Apply a signed key state to the replica; an unverifiable one is dead-lettered."""
        if pepper is None:
            raise RejectMessage(
                f"{event.event_type} of key {event.key_id}: CQOX_AUTH_PEPPER is not set on notification, "
                "so ingest-issued keys cannot be checked here; set ingest's pepper and replay this message"
            )
        if problem := signature_problem(event, pepper):
            raise RejectMessage(problem)
        table = ReplicaKey.__table__
        insert = pg_insert(table).values(
            key_id=event.key_id,
            tenant_id=event.tenant_id,
            role=event.role,
            digest=event.digest,
            expires_at=event.expires_at,
            revoked_at=event.revoked_at,
            rotated_from=event.rotated_from,
        )
        await ctx.session.execute(
            insert.on_conflict_do_update(
                index_elements=[table.c.key_id],
                set_={
                    # LEAST ignores NULL: an expiry only ever shortens.
                    "expires_at": sa.func.least(table.c.expires_at, insert.excluded.expires_at),
                    "revoked_at": sa.func.coalesce(table.c.revoked_at, insert.excluded.revoked_at),
                    "updated_at": sa.func.now(),
                },
            )
        )
        log.info("api key mirrored", key_id=event.key_id, event_type=event.event_type, tenant=event.tenant_id)

    return replicate_key


class ReplicaKeyStore:
    """The auth's KeyStore on this service: ingest-issued keys by key id from the replica."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime

    async def find(self, key_id: str) -> StoredKey | None:
        """The mirrored key with this id, or None (also None before the runtime has started)."""
        if self.runtime.sessions is None:
            return None
        async with self.runtime.sessions() as session:
            row = await session.get(ReplicaKey, key_id)
        return None if row is None else StoredKey.of(row)
