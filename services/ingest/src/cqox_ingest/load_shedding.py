"""Load shedding: past a number of requests in progress at once, the API answers 503 with Retry-After
at once instead of queueing them, so latency stays bounded when more arrives than the replica serves.

One replica serves a few hundred status reads a second; beyond that, requests would wait on the
event loop behind each other and every answer would come late (seconds, then minutes). Refusing the
excess costs microseconds and tells the client when to retry; a load balancer sends it elsewhere.
Event streams are long-lived and bounded on their own (`analyses/streams.py`), and health checks
must answer under load, so neither counts. `CQOX_MAX_IN_FLIGHT_REQUESTS` (0 turns it off).
"""

from __future__ import annotations

import json

from prometheus_client import Counter
from starlette.types import ASGIApp, Receive, Scope, Send

SHED = Counter("cqox_http_requests_shed_total", "Requests answered 503 because too many were in progress")
UNCOUNTED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class LoadShedding:
    """ASGI middleware: 503 with Retry-After while `max_in_flight` requests are in progress
    (event streams and health checks neither count nor get refused)."""

    def __init__(self, app: ASGIApp, *, max_in_flight: int, retry_after_s: int = 1) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.retry_after_s = retry_after_s
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or self.max_in_flight <= 0
            or path in UNCOUNTED_PATHS
            or path.endswith("/events")
        ):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            SHED.inc()
            await self._refuse(send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "detail": f"this server is busy ({self.max_in_flight} requests in progress); retry after "
                f"{self.retry_after_s} s"
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(self.retry_after_s).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
