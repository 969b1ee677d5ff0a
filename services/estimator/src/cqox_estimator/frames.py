"""Dataset versions read once per worker process: a small LRU of DataFrames keyed by Parquet URI.

A dataset version's Parquet object is written once and never changed, so its URI identifies its
content. One worker serving several method pools would otherwise download and decode the same
file once per method (17 times per analysis with `methods: "auto"`, and again per refuter).
The reads of one version come in a burst (an analysis's fits and refutations), so a frame no one
has asked for in `idle_s` seconds is dropped: a process that has served many analyses holds the
frames of the recent ones only, not its whole byte budget for good (issue 15's one-hour soak).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import pandas as pd


@dataclass
class _Entry:
    frame: pd.DataFrame
    size: int
    used: float  # the clock's reading at the last `get` of this frame


class FrameCache:
    """Least-recently-used DataFrames by URI, bounded by their total in-memory size and by idle time."""

    def __init__(
        self, max_bytes: int, idle_s: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """`idle_s` None keeps a frame until the byte bound pushes it out."""
        self._max_bytes = max_bytes
        self._idle_s = idle_s
        self._clock = clock
        self._frames: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._loading: dict[str, Future[pd.DataFrame]] = {}  # URIs being read, for the callers waiting
        self.hits = 0
        self.misses = 0

    @property
    def held_bytes(self) -> int:
        """The in-memory size of the frames held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._frames)

    def get(self, uri: str, load: Callable[[str], pd.DataFrame]) -> pd.DataFrame:
        """The frame at `uri`, from `load(uri)` on a miss; callers must not modify it in place."""
        return self.fetch(uri, load)[0]

    def fetch(self, uri: str, load: Callable[[str], pd.DataFrame]) -> tuple[pd.DataFrame, bool]:
        """(the frame at `uri`, whether it came without a load of this caller's). Concurrent
        callers of one URI share one `load`: an analysis's methods all start at once, and each
        would otherwise miss and read the same file while the first read is still going."""
        with self._lock:
            self._expire()
            entry = self._frames.get(uri)
            if entry is not None:
                entry.used = self._clock()
                self._frames.move_to_end(uri)
                self.hits += 1
                return entry.frame, True
            loading = self._loading.get(uri)
            if loading is None:
                loading = self._loading[uri] = Future()
                owner = True
            else:
                owner = False
        if not owner:
            frame = loading.result()  # the owner's load (or its exception)
            with self._lock:
                self.hits += 1
            return frame, True
        try:
            frame = load(uri)  # outside the lock: other URIs are not held up by a download
        except BaseException as exc:
            with self._lock:
                del self._loading[uri]
            loading.set_exception(exc)
            raise
        size = int(frame.memory_usage(deep=True).sum())
        with self._lock:
            del self._loading[uri]
            self.misses += 1
            if size <= self._max_bytes and uri not in self._frames:
                self._frames[uri] = _Entry(frame, size, self._clock())
                self._bytes += size
                while self._bytes > self._max_bytes:
                    self._bytes -= self._frames.popitem(last=False)[1].size
        loading.set_result(frame)
        return frame, False

    def expire(self) -> int:
        """Drop the frames no one has asked for in `idle_s` seconds; return how many were dropped."""
        with self._lock:
            return self._expire()

    def _expire(self) -> int:
        if self._idle_s is None:
            return 0
        cutoff = self._clock() - self._idle_s
        dropped = 0
        while self._frames:
            uri, oldest = next(iter(self._frames.items()))  # least recently used first
            if oldest.used > cutoff:
                break
            del self._frames[uri]
            self._bytes -= oldest.size
            dropped += 1
        return dropped
