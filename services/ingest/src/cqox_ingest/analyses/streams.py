"""Bounds on Server-Sent Event streams: how many one key and one replica hold open at once, and
how long one stream lasts before the server ends it cleanly (the client resumes with
`Last-Event-ID`, so nothing is lost or repeated).

Settings (environment, per replica): `CQOX_SSE_MAX_STREAMS_PER_KEY` (8),
`CQOX_SSE_MAX_STREAMS_PER_REPLICA` (500), `CQOX_SSE_MAX_STREAM_S` (900),
`CQOX_SSE_RETRY_MS` (reconnection delay told to clients, 1000).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from cqox_shared.auth import Principal

_EVENT_ID = re.compile(rb"^id: (\d+)$", re.MULTILINE)


class StreamLimits(BaseSettings):
    """Per-replica bounds on SSE streams (CQOX_SSE_ prefix)."""

    model_config = SettingsConfigDict(env_prefix="CQOX_SSE_", extra="ignore")

    max_streams_per_key: int = 8
    max_streams_per_replica: int = 500
    max_stream_s: float = 900.0
    retry_ms: int = 1000


@dataclass(frozen=True)
class StreamRefused:
    """Why a stream cannot open now, and when to try again."""

    detail: str
    retry_after_s: int


class StreamSlots:
    """Open streams of this replica, in all and per key."""

    def __init__(self, limits: StreamLimits) -> None:
        self.limits = limits
        self.per_key: Counter[str] = Counter()
        self.total = 0

    def acquire(self, key: str) -> StreamSlot | StreamRefused:
        """A slot for one more stream of `key`, or why not (the per-key bound is checked first)."""
        limits = self.limits
        # Streams end by themselves within max_stream_s, so a slot frees up by then at the latest.
        retry_after = max(1, min(30, round(limits.max_stream_s)))
        if self.per_key[key] >= limits.max_streams_per_key:
            return StreamRefused(
                f"this API key already has {self.per_key[key]} event streams open, the most one key "
                f"may hold ({limits.max_streams_per_key}); close one, or follow several analyses "
                "by polling GET /v1/analyses/{id}",
                retry_after,
            )
        if self.total >= limits.max_streams_per_replica:
            return StreamRefused(
                f"this server is holding its maximum of {limits.max_streams_per_replica} event "
                "streams; retry later",
                retry_after,
            )
        self.per_key[key] += 1
        self.total += 1
        return StreamSlot(self, key)


class StreamSlot:
    """One open stream's place; released exactly once."""

    def __init__(self, slots: StreamSlots, key: str) -> None:
        self.slots, self.key, self.held = slots, key, True

    def release(self) -> None:
        """Give the place back (idempotent)."""
        if self.held:
            self.held = False
            self.slots.per_key[self.key] -= 1
            if self.slots.per_key[self.key] <= 0:
                del self.slots.per_key[self.key]
            self.slots.total -= 1


@lru_cache(maxsize=1)
def replica_slots() -> StreamSlots:
    """This process's stream slots (one replica), bounded by the environment's settings."""
    return StreamSlots(StreamLimits())


def stream_key(caller: Principal) -> str:
    """Whose streams count together: the key or token subject when the principal names one,
    else its tenant and role (keys of one tenant and role share a bound)."""
    for attribute in ("key_id", "subject"):
        if value := getattr(caller, attribute, None):
            return f"{caller.tenant_id}:{value}"
    return f"{caller.tenant_id}:{caller.role}"


async def bounded(events: AsyncIterator[bytes], limits: StreamLimits) -> AsyncIterator[bytes]:
    """`events` for at most `max_stream_s`, then a comment and a clean end; the first line tells
    clients how soon to reconnect. Every event carries an `id:` (the analysis's sequence number):
    the closing `end` event gets the last one, so a client's `Last-Event-ID` always resumes."""
    deadline = time.monotonic() + limits.max_stream_s
    last_id = b"0"
    yield f"retry: {limits.retry_ms}\n\n".encode()
    iterator = aiter(events)
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                chunk = await asyncio.wait_for(anext(iterator), remaining)
            except StopAsyncIteration:
                return
            except TimeoutError:
                break
            if ids := _EVENT_ID.findall(chunk):
                last_id = ids[-1]
            elif chunk.startswith(b"event: "):
                chunk = b"id: " + last_id + b"\n" + chunk
            yield chunk
        yield (
            f": this stream reached its {limits.max_stream_s:g} s limit; reconnect with "
            "Last-Event-ID to resume\n\n"
        ).encode()
    finally:
        await iterator.aclose()  # type: ignore[attr-defined]


class LimitedStream(StreamingResponse):
    """An event stream that gives its slot back however it ends (done, limit, client gone)."""

    def __init__(self, content: AsyncIterator[bytes], slot: StreamSlot, headers: dict[str, str]) -> None:
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self.slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream, then release the slot."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slot.release()
