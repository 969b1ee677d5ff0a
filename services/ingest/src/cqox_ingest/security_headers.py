"""Response headers that keep browsers from sniffing, framing or running what the API answers."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Every answer: no MIME sniffing, no framing, no referrer leaks.
BASE = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
# JSON and event streams are data: nothing in them may load or run as a page.
DATA_CSP = b"default-src 'none'; frame-ancestors 'none'"
DATA_TYPES = (b"application/json", b"text/event-stream", b"text/plain")


class SecurityHeaders:
    """ASGI middleware adding BASE to every response, and DATA_CSP to data responses that set no
    policy of their own (the artifact route sets its own; /docs loads Swagger UI and gets none)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in BASE if name not in present]
                content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
                if b"content-security-policy" not in present and content_type.startswith(DATA_TYPES):
                    headers.append((b"content-security-policy", DATA_CSP))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
