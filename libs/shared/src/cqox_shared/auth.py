"""Authentication and roles for the HTTP services: API keys hashed at rest, OIDC bearer tokens.

Credentials travel in the `X-API-Key` header or as `Authorization: Bearer <key or token>`.

- Configured keys: `CQOX_API_KEYS="key1:tenant-a:admin,key2:tenant-b:viewer"` (the bootstrap keys of
  the embedded stack, tests and small installs). They are hashed when the service starts and only the
  digests are kept in memory.
- Issued keys: `cqox_<key id>_<secret>`, made by the ingest admin routes, shown once; the service
  stores the key id and HMAC-SHA256(pepper, secret), never the secret. They expire, rotate and are
  revoked there. A `KeyStore` looks them up by key id (the ingest database).
- OIDC: a JWT bearer token signed by a key of the issuer's JWKS, with issuer, audience and expiry
  checked (with a clock-skew leeway); tenant and role come from configurable claims.

Secure by default: a service with neither keys nor OIDC refuses to start, unless `CQOX_AUTH=disabled`
says explicitly that every request acts as the admin of the default tenant (the embedded stack on
loopback, tests). The API docs (/docs, /openapi.json) follow the same rule as the API.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import Counter
from pydantic_settings import BaseSettings, SettingsConfigDict

from cqox_shared.logging import get_logger

RoleName = Literal["viewer", "analyst", "admin"]
ROLES: tuple[RoleName, ...] = ("viewer", "analyst", "admin")
_RANK = {"viewer": 0, "analyst": 1, "admin": 2}
AUTH_MODES = ("required", "disabled")
KEY_PREFIX = "cqox"
_ISSUED_KEY = re.compile(r"^cqox_([0-9a-f]{16})_([A-Za-z0-9_-]{32,128})$")
_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
HINT = "send an API key in the X-API-Key header or a bearer token in Authorization"

AUTH_FAILURES = Counter(
    "cqox_auth_failures_total",
    "HTTP requests refused with 401 because their credentials were missing or invalid, by reason",
    ["service", "reason"],
)
log = get_logger(__name__)


class AuthNotConfigured(RuntimeError):
    """The service would run without authentication without being told to: it must not start."""


class AuthFailure(Exception):
    """Credentials were missing or invalid; `reason` is a short label (a metric label)."""

    def __init__(self, reason: str, message: str, key_id: str = "") -> None:
        super().__init__(message)
        self.reason, self.message, self.key_id = reason, message, key_id


@dataclass(frozen=True)
class Principal:
    """Who is calling: their tenant and role, and (not part of equality) the credential's identity."""

    tenant_id: str
    role: RoleName
    subject: str = field(default="", compare=False)  # key id or token subject
    method: str = field(default="none", compare=False)  # key, token or none (auth disabled)
    client: str = field(default="", compare=False)  # the client's address, for the audit log

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


def key_digest(pepper: bytes, secret: str) -> str:
    """HMAC-SHA256 of a key's secret under the server pepper (hex): what is stored, never the secret."""
    return hmac.new(pepper, secret.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


def key_state_signature(
    pepper: bytes,
    *,
    key_id: str,
    tenant_id: str,
    role: str,
    digest: str,
    expires_at: datetime | None,
    revoked_at: datetime | None,
) -> str:
    """HMAC-SHA256 under the pepper of an issued key's state as a key event carries it: a service
    that mirrors keys from the bus applies only states the pepper's holder (ingest) signed."""
    fields = (
        "cqox-key-state",
        key_id,
        tenant_id,
        role,
        digest,
        _microseconds(expires_at),
        _microseconds(revoked_at),
    )
    return hmac.new(pepper, "\n".join(fields).encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


def _microseconds(moment: datetime | None) -> str:
    # Exact and independent of how the time zone is spelled after a JSON round trip.
    return "" if moment is None else str((moment - _EPOCH) // timedelta(microseconds=1))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class IssuedKey:
    """A new key: its id (public, names it in logs and the audit log) and the token shown once."""

    key_id: str
    secret: str

    @property
    def token(self) -> str:
        """What the client sends: `cqox_<key id>_<secret>`."""
        return f"{KEY_PREFIX}_{self.key_id}_{self.secret}"


def new_key() -> IssuedKey:
    """A random key id and a 256-bit random secret."""
    return IssuedKey(secrets.token_hex(8), secrets.token_urlsafe(32))


def split_key(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of an issued key's token, or None when it is not one."""
    match = _ISSUED_KEY.match(presented)
    return (match.group(1), match.group(2)) if match else None


@dataclass(frozen=True)
class StoredKey:
    """An issued key as its store keeps it: the digest of its secret, never the secret."""

    key_id: str
    digest: str
    tenant_id: str
    role: RoleName
    expires_at: datetime | None = None
    revoked: bool = False

    def problem(self, now: datetime) -> tuple[str, str] | None:
        """(reason, message) if the key cannot be used now, else None."""
        if self.revoked:
            return "revoked", f"API key {self.key_id} was revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired", f"API key {self.key_id} expired at {self.expires_at.isoformat()}"
        return None

    @classmethod
    def of(cls, row: Any) -> StoredKey:
        """The key held in a table row with the issued-key columns (ingest's keys, notification's replica)."""
        return cls(
            row.key_id,
            row.digest,
            row.tenant_id,
            row.role,
            expires_at=row.expires_at,
            revoked=row.revoked_at is not None,
        )


class KeyStore(Protocol):
    """Where issued keys live (the ingest database): looked up by key id."""

    async def find(self, key_id: str) -> StoredKey | None:
        """The stored key with this id, or None."""


@dataclass(frozen=True)
class OidcConfig:
    """How to verify bearer tokens: the issuer's JWKS, the claims to check and where roles live."""

    jwks_url: str
    issuer: str
    audience: str
    leeway_s: float = 30.0
    tenant_claim: str = "tenant"
    role_claim: str = "roles"
    algorithms: Sequence[str] = ("RS256", "ES256")
    jwks_cache_s: int = 300


class TokenVerifier:
    """Verifies OIDC/JWT bearer tokens against the issuer's JWKS (keys cached, refetched on an unknown kid)."""

    def __init__(self, config: OidcConfig) -> None:
        # pyjwt[crypto] is a dependency of the services that verify tokens (ingest), not of every user
        # of this module.
        import jwt

        self.config = config
        self._jwks = jwt.PyJWKClient(
            config.jwks_url, cache_keys=True, lifespan=config.jwks_cache_s, timeout=5
        )

    def verify(self, token: str) -> Principal:
        """The principal a valid token names, or AuthFailure saying what is wrong with it."""
        import jwt

        config = self.config
        try:
            signing_key = self._jwks.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                signing_key.key,
                algorithms=list(config.algorithms),
                audience=config.audience,
                issuer=config.issuer,
                leeway=config.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthFailure("token_expired", "the bearer token has expired") from exc
        except jwt.PyJWKClientConnectionError as exc:
            raise AuthFailure("jwks_unavailable", "the token issuer's keys cannot be fetched") from exc
        except jwt.PyJWTError as exc:
            raise AuthFailure("token_invalid", f"the bearer token is not valid: {exc}") from exc
        tenant = claims.get(config.tenant_claim)
        if not isinstance(tenant, str) or not tenant:
            raise AuthFailure("token_claims", f"the bearer token has no '{config.tenant_claim}' claim")
        role = _highest_role(claims.get(config.role_claim))
        if role is None:
            raise AuthFailure(
                "token_claims", f"the bearer token's '{config.role_claim}' claim names no role of {ROLES}"
            )
        return Principal(tenant, role, subject=str(claims["sub"])[:200], method="token")


def _highest_role(value: Any) -> RoleName | None:
    names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    known = [role for role in ROLES if role in names]  # ROLES is ordered lowest first
    return known[-1] if known else None


def presented_credential(request: Request) -> str:
    """The key or token the request carries (X-API-Key first, then a bearer Authorization)."""
    presented = request.headers.get("x-api-key", "")
    auth = request.headers.get("authorization", "")
    if not presented and auth.lower().startswith("bearer "):
        presented = auth[7:].strip()
    return presented


def client_address(request: Request) -> str:
    """The client's address as the server saw it."""
    return request.client.host if request.client else "unknown"


class ApiKeyAuth:
    """Resolves the request's principal from configured keys, issued keys (a KeyStore) or a token.

    `authenticate` is the FastAPI dependency: it consults the store, counts and logs failures.
    Calling the object itself is the synchronous check the rate limiter uses: configured keys,
    tokens and issued keys already seen (cached for `cache_s`), with no I/O besides the JWKS.
    """

    def __init__(
        self,
        spec: str,
        default_tenant: str = "default",
        *,
        mode: str = "required",
        pepper: str | bytes | None = None,
        oidc: OidcConfig | None = None,
        store: KeyStore | None = None,
        service: str = "",
        cache_s: float = 30.0,
    ) -> None:
        if mode not in AUTH_MODES:
            raise AuthNotConfigured(f"CQOX_AUTH={mode!r} is not one of {', '.join(AUTH_MODES)}")
        configured = parse_api_keys(spec)
        if mode == "required" and not configured and oidc is None:
            raise AuthNotConfigured(
                "no API keys configured: set CQOX_API_KEYS=key:tenant:viewer|analyst|admin[,...] "
                "(or CQOX_OIDC_JWKS_URL for bearer tokens), or CQOX_AUTH=disabled to let every caller "
                "act as admin of the default tenant (a local stack only)"
            )
        if mode == "disabled" and (configured or oidc is not None):
            raise AuthNotConfigured(
                "CQOX_AUTH=disabled and CQOX_API_KEYS (or OIDC) are both set: unset one of them"
            )
        self.mode = mode
        # Without a configured pepper, a random one: configured keys still work (hashed per
        # process), but issued keys would not survive a restart, so issuing them is refused.
        self.pepper_configured = bool(pepper)
        self.pepper = (pepper.encode() if isinstance(pepper, str) else pepper) or secrets.token_bytes(32)
        # Only digests of the configured keys are kept: the plain keys are dropped here.
        self._configured = {
            key_digest(self.pepper, key): Principal(
                p.tenant_id, p.role, subject=f"config-{key_digest(self.pepper, key)[:12]}", method="key"
            )
            for key, p in configured.items()
        }
        self.tokens = TokenVerifier(oidc) if oidc is not None else None
        self.store = store
        self.service = service
        self.cache_s = cache_s
        self._cache: dict[str, tuple[StoredKey, float]] = {}
        self.default = Principal(default_tenant, "admin", subject="auth-disabled")

    @property
    def enabled(self) -> bool:
        """Whether credentials are required."""
        return self.mode == "required"

    def __call__(self, request: Request) -> Principal:
        """The caller's principal from what can be checked without I/O, or 401."""
        try:
            principal = self._resolve(presented_credential(request), cached_only=True)
        except AuthFailure as failure:
            raise _unauthorized(failure) from None
        assert principal is not None
        return principal

    async def authenticate(self, request: Request) -> Principal:
        """The caller's principal (issued keys looked up in the store), or 401, counted and logged."""
        presented = presented_credential(request)
        principal: Principal | None
        try:
            if self.enabled and self.tokens is not None and _JWT_SHAPE.match(presented):
                # A JWKS fetch (first use, unknown kid) must not block the event loop.
                principal = await asyncio.to_thread(self.tokens.verify, presented)
            else:
                principal = self._resolve(presented, cached_only=self.store is None)
            if principal is None:
                principal = await self._from_store(presented)
        except AuthFailure as failure:
            AUTH_FAILURES.labels(self.service, failure.reason).inc()
            log.warning(
                "authentication failed",
                reason=failure.reason,
                key_id=failure.key_id or None,
                client=client_address(request),
                method=request.method,
                path=request.url.path,
            )
            raise _unauthorized(failure) from None
        principal = replace(principal, client=client_address(request))
        request.state.principal = principal
        return principal

    def forget(self, key_id: str) -> None:
        """Drop a cached issued key (after it is revoked or rotated on this replica)."""
        self._cache.pop(key_id, None)

    def _resolve(self, presented: str, *, cached_only: bool) -> Principal | None:
        if not self.enabled:
            return self.default
        if not presented:
            raise AuthFailure("missing", f"no credentials: {HINT}")
        if self.tokens is not None and _JWT_SHAPE.match(presented):
            return self.tokens.verify(presented)
        configured = self._configured.get(key_digest(self.pepper, presented))
        if configured is not None:
            return configured
        parts = split_key(presented)
        if parts is None:
            raise AuthFailure("unknown_key", f"unknown API key: {HINT}")
        cached = self._cache.get(parts[0])
        if cached is not None and time.monotonic() - cached[1] < self.cache_s:
            return self._check(cached[0], parts[1])
        if cached_only:
            raise AuthFailure("unknown_key", f"unknown API key: {HINT}", key_id=parts[0])
        return None

    async def _from_store(self, presented: str) -> Principal:
        assert self.store is not None
        parts = split_key(presented)
        assert parts is not None
        stored = await self.store.find(parts[0])
        if stored is None:
            raise AuthFailure("unknown_key", f"unknown API key: {HINT}", key_id=parts[0])
        self._cache[stored.key_id] = (stored, time.monotonic())
        return self._check(stored, parts[1])

    def _check(self, stored: StoredKey, secret: str) -> Principal:
        if not hmac.compare_digest(key_digest(self.pepper, secret), stored.digest):
            raise AuthFailure("unknown_key", f"unknown API key: {HINT}", key_id=stored.key_id)
        if problem := stored.problem(datetime.now(UTC)):
            raise AuthFailure(problem[0], problem[1], key_id=stored.key_id)
        return Principal(stored.tenant_id, stored.role, subject=stored.key_id, method="key")


def _unauthorized(failure: AuthFailure) -> HTTPException:
    return HTTPException(401, failure.message, headers={"WWW-Authenticate": "Bearer"})


class AuthSettings(BaseSettings):
    """How an HTTP service authenticates callers (CQOX_ prefix); services mix it into their settings."""

    model_config = SettingsConfigDict(env_prefix="CQOX_", extra="ignore")

    api_keys: str = ""
    # CQOX_AUTH=disabled: run without credentials (every caller is admin of the default tenant);
    # without it, and without CQOX_API_KEYS or OIDC, the service refuses to start.
    auth: str = "required"
    # The server pepper of issued keys' HMAC; without it issued keys cannot be made (configured keys
    # still work). Keep it in a secret store; all replicas need the same value.
    auth_pepper: str = ""
    oidc_jwks_url: str = ""
    oidc_issuer: str = ""
    oidc_audience: str = ""
    oidc_leeway_s: float = 30.0
    oidc_tenant_claim: str = "tenant"
    oidc_role_claim: str = "roles"
    oidc_algorithms: str = "RS256,ES256"


def auth_from_settings(
    settings: AuthSettings, default_tenant: str, service: str, *, store: KeyStore | None = None
) -> ApiKeyAuth:
    """The auth a service's settings describe (AuthNotConfigured when they are incomplete)."""
    oidc = None
    if settings.oidc_jwks_url:
        if not settings.oidc_issuer or not settings.oidc_audience:
            raise AuthNotConfigured("CQOX_OIDC_JWKS_URL needs CQOX_OIDC_ISSUER and CQOX_OIDC_AUDIENCE too")
        oidc = OidcConfig(
            jwks_url=settings.oidc_jwks_url,
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            leeway_s=settings.oidc_leeway_s,
            tenant_claim=settings.oidc_tenant_claim,
            role_claim=settings.oidc_role_claim,
            algorithms=tuple(a.strip() for a in settings.oidc_algorithms.split(",") if a.strip()),
        )
    return ApiKeyAuth(
        settings.api_keys,
        default_tenant,
        mode=settings.auth,
        pepper=settings.auth_pepper or None,
        oidc=oidc,
        store=store,
        service=service,
    )


def install_docs(app: FastAPI, auth: ApiKeyAuth) -> None:
    """/openapi.json and /docs behind the same key as the API (create the app with the defaults
    off: ``docs_url=None, redoc_url=None, openapi_url=None``). The docs page carries the schema
    inline, so a browser needs the key only for the page itself."""

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(_: Principal = Depends(auth.authenticate)) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def docs(_: Principal = Depends(auth.authenticate)) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title=app.title, swagger_ui_parameters={"spec": app.openapi()}
        )
