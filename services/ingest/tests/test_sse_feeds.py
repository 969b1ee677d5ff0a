"""One poller per analysis, shared by its streams: fewer polls, every event to every stream, the end."""

from __future__ import annotations

import asyncio

import pytest

from cqox_ingest.analyses.streams import Feeds


class ReadModel:
    """An analysis's status and events as the poller reads them (in memory: a unit test)."""

    def __init__(self) -> None:
        self.status = "accepted"
        self.events: list[tuple[int, bytes]] = []
        self.polls = 0
        self.fail: Exception | None = None

    def add(self, seq: int, status: str | None = None) -> None:
        self.events.append((seq, f"id: {seq}\nevent: e\ndata: {{}}\n\n".encode()))
        if status:
            self.status = status

    async def poll(self, after: int) -> tuple[str | None, list[tuple[int, bytes]]]:
        self.polls += 1
        if self.fail is not None:
            raise self.fail
        await asyncio.sleep(0)
        return self.status, [e for e in self.events if e[0] > after]


def _ids(chunks: list[bytes]) -> list[int]:
    return [int(c.split(b"\n")[0][4:]) for c in chunks if c.startswith(b"id: ")]


async def _read(feeds: Feeds, model: ReadModel, after: int = 0) -> list[bytes]:
    return [c async for c in feeds.follow("a1", after, model.poll, lambda _: 0.01, 5.0)]


async def test_many_streams_share_one_poller_and_each_gets_every_event_and_the_end() -> None:
    feeds, model = Feeds(), ReadModel()
    model.add(1)
    streams = [asyncio.create_task(_read(feeds, model)) for _ in range(100)]
    await asyncio.sleep(0.05)
    late = asyncio.create_task(_read(feeds, model, after=2))  # joins late, resumes after id 2
    model.add(2)
    model.add(3)
    await asyncio.sleep(0.05)
    model.add(4, status="completed")
    results = await asyncio.wait_for(asyncio.gather(*streams, late), 5)
    for chunks in results[:-1]:
        assert _ids(chunks) == [1, 2, 3, 4]
        assert chunks[-1] == b'event: end\ndata: {"status": "completed"}\n\n'
    assert _ids(results[-1]) == [3, 4]
    # One poller for 101 streams: each poll every 10 ms, about 0.1 s in all; a poll per stream would be
    # hundreds or thousands.
    assert model.polls < 40, model.polls
    assert feeds.by_analysis == {}  # the last stream gone, the feed is dropped


async def test_the_poller_stops_when_its_last_stream_leaves() -> None:
    feeds, model = Feeds(), ReadModel()
    stream = feeds.follow("a1", 0, model.poll, lambda _: 0.01, 5.0)
    reader = asyncio.create_task(anext(stream))
    await asyncio.sleep(0.05)
    feed = feeds.by_analysis["a1"]
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    await stream.aclose()  # type: ignore[attr-defined]
    assert feeds.by_analysis == {} and feed.done
    polls = model.polls
    await asyncio.sleep(0.05)
    assert model.polls == polls  # nothing polls an analysis nobody follows


async def test_a_failed_poll_ends_every_stream_with_the_error_and_a_new_stream_starts_afresh() -> None:
    feeds, model = Feeds(), ReadModel()
    model.fail = ConnectionError("database gone")
    with pytest.raises(ConnectionError, match="database gone"):
        await asyncio.wait_for(_read(feeds, model), 5)
    model.fail = None
    model.add(1, status="failed")
    chunks = await asyncio.wait_for(_read(feeds, model), 5)
    assert _ids(chunks) == [1] and chunks[-1].startswith(b"event: end")


async def test_a_quiet_stream_gets_keep_alive_comments() -> None:
    feeds, model = Feeds(), ReadModel()
    stream = feeds.follow("a1", 0, model.poll, lambda _: 0.01, 0.05)
    first = await asyncio.wait_for(anext(stream), 5)
    assert first == b": keep-alive\n\n"
    await stream.aclose()  # type: ignore[attr-defined]
