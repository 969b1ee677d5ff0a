"""Bounds on Server-Sent Event streams: how many one key and one replica hold open at once, and
how long one stream lasts before the server ends it cleanly (the client resumes with
`Last-Event-ID`, so nothing is lost or repeated). And one poller per analysis (`AnalysisFeed`),
shared by every stream of it on this replica: a hundred streams of one analysis cost the
database one poll, not a hundred.

Settings (environment, per replica): `CQOX_SSE_MAX_STREAMS_PER_KEY` (8),
`CQOX_SSE_MAX_STREAMS_PER_REPLICA` (500), `CQOX_SSE_MAX_STREAM_S` (900),
`CQOX_SSE_RETRY_MS` (reconnection delay told to clients, 1000).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from cqox_ingest.domain import TERMINAL
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


# One poll of an analysis: its status and its events after a sequence number (at most a page).
Poll = Callable[[int], Awaitable[tuple[str | None, list[tuple[int, bytes]]]]]


class AnalysisFeed:
    """One poller of one analysis's events, shared by its streams on this replica.

    The poller keeps the events it has read (an analysis has tens of events, a few hundred at most)
    so a stream that joins late, or resumes from an id, is served from memory; it polls quickly
    while events flow and backs off while idle (`delay`), and stops when its last stream leaves.
    """

    def __init__(self, analysis_id: str, poll: Poll, delay: Callable[[int], float]) -> None:
        self.analysis_id, self.poll, self.delay = analysis_id, poll, delay
        self.events: list[tuple[int, bytes]] = []
        self.status: str | None = None
        self.error: BaseException | None = None
        self.readers = 0
        self.polls = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def done(self) -> bool:
        """Whether the poller has stopped for good (the analysis ended, or polling failed)."""
        return self._task is not None and self._task.done()

    def start(self) -> None:
        """Start polling (once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"sse-feed-{self.analysis_id}")

    async def stop(self) -> None:
        """Stop polling (the last stream left)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        empty_polls = 0
        try:
            while True:
                after = self.events[-1][0] if self.events else 0
                status, rows = await self.poll(after)
                self.polls += 1
                self.events.extend(rows)
                self.status = status
                if rows:
                    self._wake()
                    empty_polls = 0
                    continue
                if status in TERMINAL:
                    return  # every event committed with or before the terminal status is read
                empty_polls += 1
                await asyncio.sleep(self.delay(empty_polls))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a stream ends with the error; the next stream starts a new poller
            self.error = exc
        finally:
            self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def follow(self, after: int, keepalive_s: float) -> AsyncIterator[bytes]:
        """The events after sequence number `after` as they come, a keep-alive comment after
        `keepalive_s` of quiet, and the `end` event once the analysis has ended."""
        position = 0
        while True:
            while position < len(self.events):
                seq, chunk = self.events[position]
                position += 1
                if seq > after:
                    yield chunk
            if self.error is not None:
                raise self.error
            if self.done:
                yield f"event: end\ndata: {json.dumps({'status': self.status})}\n\n".encode()
                return
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), keepalive_s)
            except TimeoutError:
                yield b": keep-alive\n\n"


class Feeds:
    """This replica's feeds, one per analysis followed now."""

    def __init__(self) -> None:
        self.by_analysis: dict[str, AnalysisFeed] = {}

    async def follow(
        self, analysis_id: str, after: int, poll: Poll, delay: Callable[[int], float], keepalive_s: float
    ) -> AsyncIterator[bytes]:
        """Follow the analysis through its shared feed (started by the first stream, stopped after
        the last; a finished or failed feed is replaced for a new stream)."""
        feed = self.by_analysis.get(analysis_id)
        if feed is None or feed.done:
            feed = self.by_analysis[analysis_id] = AnalysisFeed(analysis_id, poll, delay)
            feed.start()
        feed.readers += 1
        try:
            async for chunk in feed.follow(after, keepalive_s):
                yield chunk
        finally:
            feed.readers -= 1
            if feed.readers == 0:
                if self.by_analysis.get(analysis_id) is feed:
                    del self.by_analysis[analysis_id]
                await feed.stop()


@lru_cache(maxsize=1)
def replica_feeds() -> Feeds:
    """This process's shared feeds."""
    return Feeds()
