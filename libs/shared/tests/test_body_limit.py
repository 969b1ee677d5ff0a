"""The body limit on a tiny app: whole bodies pass, declared or streamed bodies over it get 413."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from cqox_shared.body_limit import BodyLimit


def _echo_app(limit: int) -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    app.add_middleware(BodyLimit, limit=limit, exempt={("POST", "/upload")})
    return app


def _chunks(size: int, piece: int = 100) -> Iterator[bytes]:
    for start in range(0, size, piece):
        yield b"x" * min(piece, size - start)


def test_bodies_up_to_the_limit_reach_the_route_whole() -> None:
    client = TestClient(_echo_app(1000))
    assert client.post("/echo", content=b"x" * 1000).json() == {"bytes": 1000}
    assert client.post("/echo", content=_chunks(1000)).json() == {"bytes": 1000}  # chunked
    assert client.post("/upload", content=b"x" * 5000).json() == {"bytes": 5000}  # exempt route


def test_a_declared_or_streamed_body_over_the_limit_gets_413_with_a_message() -> None:
    client = TestClient(_echo_app(1000))
    declared = client.post("/echo", content=b"x" * 1001)
    assert declared.status_code == 413
    assert "1001 bytes" in declared.json()["detail"] and "CQOX_MAX_BODY_BYTES" in declared.json()["detail"]
    streamed = client.post("/echo", content=_chunks(5000))  # chunked: no Content-Length
    assert streamed.status_code == 413
    assert "over 1000 bytes" in streamed.json()["detail"]
