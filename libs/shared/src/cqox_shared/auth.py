"""API-key authentication and roles for the HTTP services.

`CQOX_API_KEYS="key1:tenant-a:admin,key2:tenant-b:viewer"` lists the keys; they travel in the
`X-API-Key` header (or `Authorization: Bearer <key>`). Secure by default: a service with no keys
refuses to start, unless `CQOX_AUTH=disabled` says explicitly that every request acts as the admin
of the default tenant (the embedded stack on loopback, tests). The API docs (/docs, /openapi.json)
follow the same rule as the API.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

RoleName = Literal["viewer", "analyst", "admin"]
_RANK = {"viewer": 0, "analyst": 1, "admin": 2}
AUTH_MODES = ("required", "disabled")


class AuthNotConfigured(RuntimeError):
    """The service would run without authentication without being told to: it must not start."""


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

    def __init__(self, spec: str, default_tenant: str = "default", *, mode: str = "required") -> None:
        self.keys = parse_api_keys(spec)
        self.default = Principal(default_tenant, "admin")
        if mode not in AUTH_MODES:
            raise AuthNotConfigured(f"CQOX_AUTH={mode!r} is not one of {', '.join(AUTH_MODES)}")
        if mode == "required" and not self.keys:
            raise AuthNotConfigured(
                "no API keys configured: set CQOX_API_KEYS=key:tenant:viewer|analyst|admin[,...], "
                "or CQOX_AUTH=disabled to let every caller act as admin of the default tenant "
                "(a local stack only)"
            )
        if mode == "disabled" and self.keys:
            raise AuthNotConfigured("CQOX_AUTH=disabled and CQOX_API_KEYS are both set: unset one of them")

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


def install_docs(app: FastAPI, auth: ApiKeyAuth) -> None:
    """/openapi.json and /docs behind the same key as the API (create the app with the defaults
    off: ``docs_url=None, redoc_url=None, openapi_url=None``). The docs page carries the schema
    inline, so a browser needs the key only for the page itself."""

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(_: Principal = Depends(auth)) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def docs(_: Principal = Depends(auth)) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title=app.title, swagger_ui_parameters={"spec": app.openapi()}
        )
