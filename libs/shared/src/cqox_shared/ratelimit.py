"""Per-principal rate limits for the HTTP APIs: token buckets in memory, one set per replica.

`TokenBucketLimiter` is the pure logic (an injectable clock, no I/O). `RateLimit` is the ASGI
middleware: it keys each request by the caller's tenant and API key (by client address when the
request carries no valid key, or auth is off), sorts it into a route class (`upload` for the routes
that take a file body, `request` for everything else; health and metrics are never limited), and
answers 429 with `Retry-After` before the request reaches the app, so a refused upload is never read.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request
from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cqox_shared.auth import ApiKeyAuth

RATE_LIMITED = Counter(
    "cqox_http_rate_limited_total",
    "HTTP requests refused with 429 by the per-principal rate limit, by route class",
    ["service", "route_class"],
)

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


@dataclass(frozen=True)
class Decision:
    """The outcome of one request against a bucket."""

    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int  # whole seconds until a token is available (0 when allowed)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """`per_minute` requests a minute per key, in bursts of up to `burst` (default: `per_minute`).

    Buckets refill continuously. A bucket idle long enough to be full again is indistinguishable
    from a new one, so it is dropped; `max_keys` caps memory even under a flood of distinct keys
    (the least recently used bucket goes first). `per_minute <= 0` disables the limit.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.per_minute = per_minute
        self.burst = max(1, burst if burst is not None else per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        """Whether this limiter refuses anything."""
        return self.per_minute > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def acquire(self, key: str, cost: float = 1.0) -> Decision:
        """Take `cost` tokens from `key`'s bucket if it has them."""
        if not self.enabled:
            return Decision(True, 0, 0, 0)
        now = self.clock()
        self._evict_idle(now)
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        self._buckets[key] = bucket  # most recently used last
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return Decision(True, self.per_minute, int(bucket.tokens), 0)
        wait = (cost - bucket.tokens) / self.rate
        return Decision(False, self.per_minute, 0, max(1, math.ceil(wait)))

    def _evict_idle(self, now: float) -> None:
        full_after = self.burst / self.rate
        while self._buckets:
            key, oldest = next(iter(self._buckets.items()))
            if now - oldest.updated < full_after:
                return
            del self._buckets[key]


def _presented_key(request: Request) -> str:
    presented = request.headers.get("x-api-key", "")
    auth = request.headers.get("authorization", "")
    if not presented and auth.lower().startswith("bearer "):
        presented = auth[7:].strip()
    return presented


def identify(request: Request, auth: ApiKeyAuth) -> tuple[str, str]:
    """(bucket key, who it is in words): tenant + key fingerprint, or the client address."""
    if auth.enabled:
        try:
            principal = auth(request)
        except HTTPException:
            pass  # the route answers 401; limit the attempts by address
        else:
            key_id = hashlib.sha256(_presented_key(request).encode()).hexdigest()[:12]
            return f"key:{principal.tenant_id}:{key_id}", f"tenant {principal.tenant_id}"
    host = request.client.host if request.client else "unknown"
    return f"ip:{host}", f"client {host}"


class RateLimit:
    """ASGI middleware applying per-principal request and upload limits (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        auth: ApiKeyAuth,
        requests_per_minute: int,
        uploads_per_minute: int,
        upload_routes: Collection[tuple[str, str]] = (),
        exempt_paths: Collection[str] = EXEMPT_PATHS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.service = service
        self.auth = auth
        self.limiters = {
            "request": TokenBucketLimiter(requests_per_minute, clock=clock),
            "upload": TokenBucketLimiter(uploads_per_minute, clock=clock),
        }
        self.upload_routes = {(method.upper(), path) for method, path in upload_routes}
        self.exempt_paths = frozenset(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        route_class = "upload" if (scope["method"], scope["path"]) in self.upload_routes else "request"
        limiter = self.limiters[route_class]
        if not limiter.enabled:
            await self.app(scope, receive, send)
            return
        key, who = identify(Request(scope), self.auth)
        decision = limiter.acquire(key)
        if not decision.allowed:
            RATE_LIMITED.labels(self.service, route_class).inc()
            noun = "uploads" if route_class == "upload" else "requests"
            message = (
                f"rate limit of {decision.limit} {noun} per minute for {who} exceeded; "
                f"retry in {decision.retry_after_s} s"
            )
            await _refuse(send, message, decision, close=route_class == "upload")
            return
        extra = _limit_headers(decision)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def _limit_headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(decision.limit).encode()),
        (b"ratelimit-remaining", str(decision.remaining).encode()),
    ]


async def _refuse(send: Send, message: str, decision: Decision, *, close: bool) -> None:
    body = json.dumps({"detail": message}).encode()
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(decision.retry_after_s).encode()),
        *_limit_headers(decision),
    ]
    if close:  # the upload body was never read; don't reuse the connection
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
