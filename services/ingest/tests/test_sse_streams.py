"""Bounds on event streams: slots per key and per replica, the time limit, an id on every event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from cqox_ingest.analyses.streams import (
    StreamLimits,
    StreamRefused,
    StreamSlot,
    StreamSlots,
    bounded,
    stream_key,
)
from cqox_shared.auth import Principal


def test_slots_per_key_then_per_replica_and_release_once() -> None:
    slots = StreamSlots(StreamLimits(max_streams_per_key=2, max_streams_per_replica=3, max_stream_s=60))
    a1, a2 = slots.acquire("t:a"), slots.acquire("t:a")
    assert isinstance(a1, StreamSlot) and isinstance(a2, StreamSlot)
    third = slots.acquire("t:a")
    assert isinstance(third, StreamRefused) and "already has 2 event streams open" in third.detail
    assert third.retry_after_s == 30
    assert isinstance(slots.acquire("t:b"), StreamSlot)
    full = slots.acquire("t:c")
    assert isinstance(full, StreamRefused) and "maximum of 3 event streams" in full.detail
    a1.release()
    a1.release()  # idempotent: the second release frees nothing
    assert slots.total == 2 and slots.per_key["t:a"] == 1
    assert isinstance(slots.acquire("t:c"), StreamSlot)


def test_stream_key_prefers_a_key_identity() -> None:
    assert stream_key(Principal("acme", "viewer")) == "acme:viewer"


async def _events(ids: list[int], pause_s: float = 0.0, end: bool = True) -> AsyncIterator[bytes]:
    for seq in ids:
        yield f"id: {seq}\nevent: step\ndata: {{}}\n\n".encode()
        await asyncio.sleep(pause_s)
    if end:
        yield b'event: end\ndata: {"status": "completed"}\n\n'
    else:
        await asyncio.sleep(3600)


async def _collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


async def test_every_event_has_an_id_and_the_end_carries_the_last() -> None:
    out = await _collect(bounded(_events([3, 4]), StreamLimits(max_stream_s=5, retry_ms=700)))
    assert out.startswith(b"retry: 700\n\n")
    assert out.endswith(b'id: 4\nevent: end\ndata: {"status": "completed"}\n\n')


async def test_a_stream_ends_cleanly_at_its_time_limit_even_while_idle() -> None:
    started = asyncio.get_running_loop().time()
    out = await _collect(bounded(_events([1, 2], end=False), StreamLimits(max_stream_s=0.3)))
    assert asyncio.get_running_loop().time() - started < 2
    assert b"id: 2\n" in out and b"event: end" not in out
    assert out.endswith(b": this stream reached its 0.3 s limit; reconnect with Last-Event-ID to resume\n\n")
