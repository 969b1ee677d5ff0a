"""The token bucket with a fake clock, and the middleware on a tiny app (no servers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from cqox_shared.auth import ApiKeyAuth
from cqox_shared.ratelimit import RateLimit, TokenBucketLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refusal_with_retry_after() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(60, burst=3, clock=clock)
    assert [limiter.acquire("a").remaining for _ in range(3)] == [2, 1, 0]
    refused = limiter.acquire("a")
    assert not refused.allowed and refused.retry_after_s == 1 and refused.limit == 60


def test_refill_rate_is_per_minute_and_capped_at_burst() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(2, clock=clock)  # one token every 30 s, burst 2
    assert limiter.acquire("a").allowed and limiter.acquire("a").allowed
    refused = limiter.acquire("a")
    assert not refused.allowed and refused.retry_after_s == 30
    clock.now += 12
    assert limiter.acquire("a").retry_after_s == 18
    clock.now += 18
    assert limiter.acquire("a").allowed
    assert not limiter.acquire("a").allowed
    clock.now += 3600  # a long pause refills only up to the burst
    assert limiter.acquire("a").allowed and limiter.acquire("a").allowed
    assert not limiter.acquire("a").allowed


def test_keys_are_independent() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(1, clock=clock)
    assert limiter.acquire("acme").allowed
    assert not limiter.acquire("acme").allowed
    assert limiter.acquire("globex").allowed


def test_zero_disables() -> None:
    limiter = TokenBucketLimiter(0, clock=FakeClock())
    assert not limiter.enabled
    assert all(limiter.acquire("a").allowed for _ in range(1000))
    assert len(limiter) == 0


def test_idle_buckets_are_evicted() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(60, clock=clock)  # full again after 60 s idle
    for i in range(1000):
        limiter.acquire(f"k{i}")
    assert len(limiter) == 1000
    clock.now += 30
    limiter.acquire("k0")  # not idle long enough: nothing dropped, k0 now most recent
    assert len(limiter) == 1000
    clock.now += 31
    limiter.acquire("fresh")
    assert len(limiter) == 2  # k1..k999 were full again, so dropped; k0 (used 31 s ago) stays
    # A dropped bucket behaves exactly like its full self.
    assert limiter.acquire("k5").remaining == 59


def test_memory_is_capped_under_a_flood_of_keys() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(60, clock=clock, max_keys=100)
    for i in range(10_000):
        limiter.acquire(f"k{i}")
    assert len(limiter) == 100


def _app(*, requests: int, uploads: int, keys: str = "") -> tuple[TestClient, FakeClock]:
    clock = FakeClock()
    app = FastAPI()

    @app.post("/v1/upload")
    async def upload() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/v1/thing")
    async def thing() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/v1/stream")
    async def stream(request: Request) -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            for i in range(5):
                yield f"data: {i}\n\n".encode()
                await asyncio.sleep(0)

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(
        RateLimit,
        service="unit",
        auth=ApiKeyAuth(keys, mode="required" if keys else "disabled"),
        requests_per_minute=requests,
        uploads_per_minute=uploads,
        upload_routes=[("POST", "/v1/upload")],
        clock=clock,
    )
    return TestClient(app), clock


def _refusals(route_class: str) -> float:
    value = REGISTRY.get_sample_value(
        "cqox_http_rate_limited_total", {"service": "unit", "route_class": route_class}
    )
    return value or 0.0


def test_middleware_refuses_with_429_retry_after_and_a_message() -> None:
    client, clock = _app(requests=3, uploads=1, keys="k1:acme:analyst,k2:globex:analyst")
    before = _refusals("upload")
    first = client.post("/v1/upload", headers={"X-API-Key": "k1"})
    assert first.status_code == 200
    assert first.headers["RateLimit-Limit"] == "1" and first.headers["RateLimit-Remaining"] == "0"
    refused = client.post("/v1/upload", headers={"X-API-Key": "k1"})
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"
    assert refused.json() == {
        "detail": "rate limit of 1 uploads per minute for tenant acme exceeded; retry in 60 s"
    }
    assert _refusals("upload") == before + 1
    # Another tenant, and the other route class of the same tenant, are unaffected.
    assert client.post("/v1/upload", headers={"X-API-Key": "k2"}).status_code == 200
    assert client.get("/v1/thing", headers={"X-API-Key": "k1"}).status_code == 200
    clock.now += 60
    assert client.post("/v1/upload", headers={"Authorization": "Bearer k1"}).status_code == 200


def test_health_is_never_limited_and_streams_count_once() -> None:
    client, _ = _app(requests=2, uploads=1)
    for _ in range(50):
        assert client.get("/healthz").status_code == 200
    with client.stream("GET", "/v1/stream") as response:
        assert response.status_code == 200
        assert len([line for line in response.iter_lines() if line.startswith("data:")]) == 5
    assert client.get("/v1/thing").status_code == 200
    refused = client.get("/v1/thing")
    assert refused.status_code == 429
    assert "for client testclient" in refused.json()["detail"]
    assert "requests per minute" in refused.json()["detail"]


def test_unknown_keys_are_limited_by_address() -> None:
    client, _ = _app(requests=1, uploads=1, keys="k1:acme:analyst")
    assert client.get("/v1/thing", headers={"X-API-Key": "wrong"}).status_code == 200
    assert client.get("/v1/thing", headers={"X-API-Key": "other"}).status_code == 429
    assert client.get("/v1/thing", headers={"X-API-Key": "k1"}).status_code == 200


def test_zero_limits_disable_the_middleware() -> None:
    client, _ = _app(requests=0, uploads=0)
    for _ in range(20):
        response = client.post("/v1/upload")
        assert response.status_code == 200 and "RateLimit-Limit" not in response.headers
