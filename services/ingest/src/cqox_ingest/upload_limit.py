"""Refuse oversized uploads while they arrive, before the multipart body is parsed or stored whole."""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Multipart framing and the small form fields travel beside the file.
FORM_OVERHEAD = 1 << 16


class UploadLimit:
    """ASGI middleware: a declared Content-Length over the limit gets 413 at once, unread; a body that
    grows past it (chunked, or lying about its length) is cut off with 413 as soon as it does."""

    def __init__(self, app: ASGIApp, *, limit: int, paths: tuple[str, ...] = ("/v1/datasets",)) -> None:
        self.app = app
        self.limit = limit
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        allowed = self.limit + FORM_OVERHEAD
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > allowed:
            await _refuse(send, f"the upload is {int(declared)} bytes; the limit is {self.limit} bytes")
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > allowed:
                    # HTTPException passes through FastAPI's body parsing untouched (others become 400).
                    raise HTTPException(
                        413, f"the upload is larger than the {self.limit}-byte limit (CQOX_MAX_UPLOAD_BYTES)"
                    )
            return message

        await self.app(scope, counted, send)


async def _refuse(send: Send, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
