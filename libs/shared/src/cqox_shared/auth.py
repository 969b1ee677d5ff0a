"""API-key authentication and roles for the HTTP services.

`CQOX_API_KEYS="key1:tenant-a:admin,key2:tenant-b:viewer"` turns auth on; keys travel in the
`X-API-Key` header (or `Authorization: Bearer <key>`). With no keys configured every request
acts as the admin of the default tenant (embedded/dev mode).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal

from fastapi import HTTPException, Request

RoleName = Literal["viewer", "analyst", "admin"]
_RANK = {"viewer": 0, "analyst": 1, "admin": 2}


@dataclass(frozen=True)
class Principal:
    """Who is calling: their tenant and role."""

    tenant_id: str
    role: RoleName

    def require(self, role: RoleName) -> None:
        """Raise 403 unless this principal has at least `role`."""
        if _RANK[self.role] < _RANK[role]:
            raise HTTPException(403, f"this API key has role '{self.role}'; '{role}' or higher is needed")


def parse_api_keys(spec: str) -> dict[str, Principal]:
    """Parse `key:tenant:role` entries separated by commas."""
    keys: dict[str, Principal] = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        parts = entry.split(":")
        if len(parts) != 3 or parts[2] not in _RANK or not parts[0] or not parts[1]:
            raise ValueError(f"bad CQOX_API_KEYS entry {entry!r}: expected key:tenant:viewer|analyst|admin")
        keys[parts[0]] = Principal(parts[1], parts[2])  # type: ignore[arg-type]
    return keys


class ApiKeyAuth:
    """FastAPI dependency resolving the request's principal."""

    def __init__(self, spec: str, default_tenant: str = "default") -> None:
        self.keys = parse_api_keys(spec)
        self.default = Principal(default_tenant, "admin")

    @property
    def enabled(self) -> bool:
        """Whether API keys are required."""
        return bool(self.keys)

    def __call__(self, request: Request) -> Principal:
        """The caller's principal, or 401 with a message saying what to send."""
        if not self.keys:
            return self.default
        presented = request.headers.get("x-api-key", "")
        auth = request.headers.get("authorization", "")
        if not presented and auth.lower().startswith("bearer "):
            presented = auth[7:].strip()
        for key, principal in self.keys.items():
            if presented and hmac.compare_digest(presented.encode(), key.encode()):
                return principal
        raise HTTPException(401, "missing or unknown API key: send it in the X-API-Key header")
