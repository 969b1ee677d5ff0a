"""Dataset versions read once per worker process: a small LRU of DataFrames keyed by Parquet URI.

A dataset version's Parquet object is written once and never changed, so its URI identifies its
content. One worker serving several method pools would otherwise download and decode the same
file once per method (17 times per analysis with `methods: "auto"`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import pandas as pd


class FrameCache:
    """Least-recently-used DataFrames by URI, bounded by their total in-memory size."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._frames: OrderedDict[str, tuple[pd.DataFrame, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, uri: str, load: Callable[[str], pd.DataFrame]) -> pd.DataFrame:
        """The frame at `uri`, from `load(uri)` on a miss; callers must not modify it in place."""
        with self._lock:
            cached = self._frames.get(uri)
            if cached is not None:
                self._frames.move_to_end(uri)
                self.hits += 1
                return cached[0]
        frame = load(uri)  # outside the lock: other URIs are not held up by a download
        size = int(frame.memory_usage(deep=True).sum())
        with self._lock:
            self.misses += 1
            if size <= self._max_bytes:
                self._frames[uri] = (frame, size)
                self._frames.move_to_end(uri)
                while sum(s for _, s in self._frames.values()) > self._max_bytes:
                    self._frames.popitem(last=False)
        return frame
