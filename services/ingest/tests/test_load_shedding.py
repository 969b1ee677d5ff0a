"""Load shedding: past the bound of requests in progress, 503 with Retry-After at once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from cqox_ingest.load_shedding import LoadShedding


class SlowApp:
    """An ASGI app that answers 200 once released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _request(app: LoadShedding, path: str) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    await app({"type": "http", "method": "GET", "path": path, "headers": []}, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


async def test_over_the_bound_requests_are_refused_at_once_and_served_again_after() -> None:
    inner = SlowApp()
    app = LoadShedding(inner, max_in_flight=3, retry_after_s=2)
    held = [asyncio.create_task(_request(app, "/v1/analyses/a")) for _ in range(3)]
    stream = asyncio.create_task(_request(app, "/v1/analyses/a/events"))  # streams do not count
    health = asyncio.create_task(_request(app, "/readyz"))
    await asyncio.sleep(0.01)
    assert app.in_flight == 3
    status, headers, body = await asyncio.wait_for(_request(app, "/v1/analyses/a"), 1)
    assert status == 503 and headers[b"retry-after"] == b"2"
    assert "3 requests in progress" in json.loads(body)["detail"]
    inner.release.set()
    assert [s for s, _, _ in await asyncio.gather(*held, stream, health)] == [200] * 5
    assert app.in_flight == 0
    assert (await _request(app, "/v1/analyses/a"))[0] == 200


async def test_zero_turns_shedding_off() -> None:
    inner = SlowApp()
    app = LoadShedding(inner, max_in_flight=0)
    held = [asyncio.create_task(_request(app, "/v1/datasets")) for _ in range(50)]
    await asyncio.sleep(0.01)
    inner.release.set()
    assert {s for s, _, _ in await asyncio.gather(*held)} == {200}
