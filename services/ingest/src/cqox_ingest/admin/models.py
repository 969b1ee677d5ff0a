"""What the admin routes take and answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class KeyIn(BaseModel):
    """A new API key of the caller's tenant."""

    name: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="What the key is for, e.g. 'ci pipeline' (no control characters)",
    )
    role: Literal["viewer", "analyst", "admin"]
    expires_in_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="Lifetime in days (default: the service's CQOX_API_KEY_TTL_DAYS)",
    )


class KeyOut(BaseModel):
    """An issued key as listed: never its secret nor its digest."""

    key_id: str
    tenant_id: str
    role: str
    name: str
    created_by: str
    created_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    rotated_from: str | None
    active: bool


class KeyCreated(KeyOut):
    """A key just issued: `key` is shown this once and cannot be read again."""

    key: str = Field(description="Send as X-API-Key or 'Authorization: Bearer <key>'; shown only once")


class KeysOut(BaseModel):
    """The tenant's issued keys, newest first."""

    keys: list[KeyOut]


class AuditOut(BaseModel):
    """One audit entry."""

    id: int
    at: datetime
    tenant_id: str
    actor: str = Field(description="Key id or token subject")
    role: str
    client: str = Field(description="Client address")
    action: str
    target: str = Field(description="The object acted on (dataset, analysis, key id)")
    outcome: str = Field(description="ok, denied, not_found, refused or error")
    detail: dict[str, Any]


class AuditPage(BaseModel):
    """Audit entries, newest first; pass `before=<next_before>` for the next page."""

    entries: list[AuditOut]
    next_before: int | None
