"""DNS rebinding: a webhook request goes to the address the target check approved, never to a
second lookup of the name (a real HTTP server on 127.0.0.1; the name's DNS answer is faked)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from cqox_notification import domain, targets
from cqox_notification.handlers import post_webhook, webhook_client
from cqox_notification.targets import PinnedTarget, check_target

NAME = "rebind.invalid"  # .invalid never resolves: reaching the server proves no second lookup


@dataclass
class Receiver:
    port: int
    connections: int = 0
    requests: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """An HTTP/1.1 server on 127.0.0.1 that answers 204 and keeps connections open."""
    state = Receiver(port=0)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                request_line, *lines = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ln)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                state.requests.append({**headers, ":request": request_line, ":body": body.decode()})
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state


@pytest.fixture
def rebinding_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`NAME` "resolves" to 127.0.0.1, which counts as public for this test only; returns every
    host the system resolver was asked about while the test ran."""

    async def resolve(host: str) -> list[str]:
        return ["127.0.0.1"] if host == NAME else await real_resolve(host)

    def non_public_kind(address: str) -> str | None:
        return None if address == "127.0.0.1" else real_kind(address)

    system_lookups: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        system_lookups.append(host.decode() if isinstance(host, bytes) else str(host))
        return real_getaddrinfo(host, *args, **kwargs)

    real_resolve, real_kind, real_getaddrinfo = targets.resolve, domain.non_public_kind, socket.getaddrinfo
    monkeypatch.setattr(targets, "resolve", resolve)
    monkeypatch.setattr(domain, "non_public_kind", non_public_kind)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    return system_lookups


async def test_request_goes_to_the_checked_address_not_a_second_lookup(
    receiver: Receiver, rebinding_dns: list[str]
) -> None:
    target = await check_target(f"http://{NAME}:{receiver.port}/hook?x=1", allow_private=False)
    assert target == PinnedTarget(
        f"http://127.0.0.1:{receiver.port}/hook?x=1", {"Host": f"{NAME}:{receiver.port}"}, {}
    )
    async with webhook_client(5.0) as client:
        for n in range(2):
            response = await post_webhook(
                client, target, content=f'{{"n": {n}}}'.encode(), headers={"X-Cqox-Event": "e"}
            )
            assert response.status_code == 204
    assert [(r[":request"], r["host"], r["x-cqox-event"], r[":body"]) for r in receiver.requests] == [
        ("POST /hook?x=1 HTTP/1.1", f"{NAME}:{receiver.port}", "e", f'{{"n": {n}}}') for n in range(2)
    ]
    assert NAME not in rebinding_dns  # httpx connected to 127.0.0.1 without resolving the name
    # No connection reuse: a pinned connection must never serve another name on the same address.
    assert receiver.connections == 2


async def test_loopback_is_still_refused_without_the_test_policy(receiver: Receiver) -> None:
    # Control: the real policy refuses the same server's address.
    target = await check_target(f"http://127.0.0.1:{receiver.port}/hook", allow_private=False)
    assert isinstance(target, targets.TargetProblem) and "loopback" in target.reason


async def test_https_request_carries_the_tls_server_name() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    target = PinnedTarget(
        "https://[2606:2800:220:1::1]:8443/h",
        {"Host": "hooks.example.com:8443"},
        {"sni_hostname": "hooks.example.com"},
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        await post_webhook(client, target, content=b"{}", headers={"Content-Type": "application/json"})
    [request] = seen
    assert request.url.host == "2606:2800:220:1::1" and request.url.port == 8443
    assert request.headers["host"] == "hooks.example.com:8443"
    assert request.headers["content-type"] == "application/json"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
