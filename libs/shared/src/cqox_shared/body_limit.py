"""A size limit on every request body of the HTTP APIs except the file uploads (which have their own).

`BodyLimit` is an ASGI middleware: a request whose declared Content-Length is over the limit gets 413
at once, unread; any other body is read here (it is small by construction) and refused with 413 as
soon as it passes the limit, chunked or lying about its length, then handed to the app whole.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyLimitSettings(BaseSettings):
    """The limit, from CQOX_MAX_BODY_BYTES (1 MiB unless set): a JSON request is a few kilobytes."""

    model_config = SettingsConfigDict(env_prefix="CQOX_", extra="ignore")

    max_body_bytes: int = 1 << 20


class BodyLimit:
    """ASGI middleware: 413 with a message for a body over `limit` bytes (CQOX_MAX_BODY_BYTES when
    not given), except on `exempt` (method, path) routes, such as the upload, which has its own."""

    def __init__(
        self, app: ASGIApp, *, limit: int | None = None, exempt: Collection[tuple[str, str]] = ()
    ) -> None:
        self.app = app
        self.limit = BodyLimitSettings().max_body_bytes if limit is None else limit
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method", "")
        if scope["type"] != "http" or method in BODYLESS_METHODS or (method, scope["path"]) in self.exempt:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send, f"the request body is {int(declared)} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nothing to answer
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(send, f"the request body is over {self.limit} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # later calls wait for the disconnect, as before
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, what: str) -> None:
        message = (
            f"{what}; the limit for a request body is {self.limit} bytes (CQOX_MAX_BODY_BYTES); "
            "send less, or split the request"
        )
        body = json.dumps({"detail": message}).encode()
        headers: list[Any] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
