"""A profile of one dataset version: per column its type, missing share, distinct count, range, mean, top values.

Computed incrementally, one record batch at a time, with Arrow compute kernels and numpy (no row-by-row
Python), so a file never has to be held whole. Rows, missing share, min, max and mean are exact.
Per-batch value counts are folded together geometrically, so distinct counts and top values are exact
while a column has at most `EXACT_DISTINCT` distinct values. Above that they are approximate: the
distinct count comes from a K-minimum-values sketch (about 1.6% error), and the top values are the
most frequent ones at the moment the column passed `EXACT_DISTINCT` values (their counts stop there).
"""

from __future__ import annotations

import math
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cqox_contracts.v1 import ColumnProfile, DatasetProfile, ValueCount

TOP_VALUES = 5
EXACT_DISTINCT = 1 << 16
KEPT_VALUES = 1 << 10
SKETCH_SIZE = 4096
_P = 0x100000001B3  # odd: multiplying by it is a bijection modulo 2**64


def profile(data: pa.Table) -> DatasetProfile:
    """Profile every column of a whole table."""
    profiler = Profiler(data.schema)
    for batch in data.to_batches():
        profiler.update(batch)
    return profiler.result()


class Profiler:
    """Accumulates a profile over record batches of one schema."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.n_rows = 0
        self.columns = [_ColumnState(f.name, f.type) for f in schema]

    def update(self, batch: pa.RecordBatch | pa.Table, pool: Executor | None = None) -> None:
        """Add one batch; with a `pool`, its columns are profiled in parallel (Arrow's kernels and
        numpy release the GIL), and this returns once every column is done."""
        self.n_rows += batch.num_rows
        if pool is None:
            for state, column in zip(self.columns, batch.columns, strict=True):
                state.update(column)
            return
        # Most expensive first, so the slowest column does not start last.
        order = sorted(range(len(self.columns)), key=lambda i: -self.columns[i].cost)
        for done in [pool.submit(self.columns[i].update, batch.column(i)) for i in order]:
            done.result()

    def repetitive(self, share: float) -> list[str]:
        """The columns with at most `share` distinct values per present value so far (not booleans)."""
        return [
            c.name
            for c in self.columns
            if c.counted
            and not pa.types.is_boolean(c.kind)
            and c.present
            and c.distinct_seen <= share * c.present
        ]

    def result(self) -> DatasetProfile:
        """The profile of everything added so far."""
        return DatasetProfile(n_rows=self.n_rows, columns=[c.result(self.n_rows) for c in self.columns])


@dataclass
class _ColumnState:
    name: str
    kind: pa.DataType
    nulls: int = 0
    present: int = 0
    low: Any = None
    high: Any = None
    total: Any = 0
    merged: int = 0
    unmerged: int = 0

    def __post_init__(self) -> None:
        kind = self.kind
        self.numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind)
        self.ranged = self.numeric or pa.types.is_temporal(kind) or pa.types.is_string(kind)
        self.averaged = self.numeric or pa.types.is_boolean(kind)
        self.counted = not pa.types.is_null(kind)
        self.parts: list[pa.Table] = []  # values → counts, per batch until merged
        self.sketch: Sketch | None = None  # beyond EXACT_DISTINCT distinct values

    @property
    def cost(self) -> int:
        """A rough rank of the work one batch of this column takes (text hashing costs most)."""
        text = pa.types.is_string(self.kind) or pa.types.is_binary(self.kind)
        return (2 if text else 1) * (2 if self.sketch is not None or self.merged > KEPT_VALUES else 1)

    def update(self, column: pa.Array | pa.ChunkedArray) -> None:
        self.nulls += column.null_count
        present = len(column) - column.null_count
        self.present += present
        if not present:
            return
        if self.ranged and not (self.counted and self.sketch is None):  # else: from the distinct values
            self._range(column)
        if self.averaged:
            total = pc.sum(column).as_py()
            self.total = self.total + (total or 0)
        if self.counted:
            self._count(column)

    def _range(self, values: pa.Array | pa.ChunkedArray) -> None:
        bounds = pc.min_max(values)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        if low is not None and (self.low is None or low < self.low):
            self.low = low
        if high is not None and (self.high is None or high > self.high):
            self.high = high

    def _count(self, column: pa.Array | pa.ChunkedArray) -> None:
        present = column.drop_null() if column.null_count else column
        if self.sketch is not None:
            for chunk in present.chunks if isinstance(present, pa.ChunkedArray) else [present]:
                self.sketch.add(chunk)
            return
        if isinstance(present, pa.ChunkedArray) and present.num_chunks > 1:
            present = present.combine_chunks()  # value_counts is up to 3x slower across many chunks
        values, counts = pc.value_counts(present).flatten()
        if self.ranged:  # the range of the distinct values: far fewer than the values
            self._range(values)
        self.parts.append(pa.table({"values": values, "counts": counts}))
        self.unmerged += len(values)
        if self.unmerged > max(3 * self.merged, 1 << 16):
            self._merge()

    def _merge(self) -> None:
        """Fold the per-batch counts together (geometrically: each value is folded a few times at most)."""
        if self.sketch is not None or not self.parts:
            return
        if len(self.parts) == 1:
            merged = self.parts[0]
        else:  # dictionary-encode + bincount: several times faster than Table.group_by here
            values = pa.concat_arrays([p["values"].combine_chunks() for p in self.parts])
            counts = np.concatenate([p["counts"].to_numpy() for p in self.parts])
            encoded = pc.dictionary_encode(values)
            sums = np.bincount(encoded.indices.to_numpy(), weights=counts, minlength=len(encoded.dictionary))
            merged = pa.table({"values": encoded.dictionary, "counts": pa.array(sums.astype(np.int64))})
        self.parts = [merged]
        self.merged, self.unmerged = len(merged), 0
        if len(merged) > EXACT_DISTINCT:  # from here on: a distinct-count sketch, top values frozen
            self.sketch = Sketch()
            self.sketch.add(merged["values"].combine_chunks())
            keep = pc.select_k_unstable(merged, KEPT_VALUES, sort_keys=[("counts", "descending")])
            self.parts = [merged.take(keep)]

    @property
    def distinct_seen(self) -> int:
        """The distinct values so far (an upper bound while per-batch counts are not merged)."""
        if self.sketch is not None:
            return self.sketch.estimate()
        return sum(len(part) for part in self.parts)

    @property
    def counts(self) -> pa.Table | None:
        return self.parts[0] if self.parts else None

    def result(self, n_rows: int) -> ColumnProfile:
        self._merge()
        mean = None
        if self.averaged and self.present:
            mean = _plain(self.total / self.present)
        top: list[ValueCount] = []
        if self.counts is not None and len(self.counts):
            order = pc.select_k_unstable(self.counts, TOP_VALUES, sort_keys=[("counts", "descending")])
            best = self.counts.take(order)
            best = best.take(pc.sort_indices(best, sort_keys=[("counts", "descending")]))
            for item in best.to_pylist():
                top.append(ValueCount(value=_text(item["values"]), count=int(item["counts"])))
        return ColumnProfile(
            name=self.name,
            dtype=str(self.kind),
            missing_share=round(self.nulls / n_rows, 6) if n_rows else 0.0,
            distinct_count=self.sketch.estimate() if self.sketch else (self.merged if self.parts else 0),
            min=_plain(self.low),
            max=_plain(self.high),
            mean=mean,
            top_values=top,
        )


class Sketch:
    """A K-minimum-values sketch of the distinct count (relative error about 1/sqrt(SKETCH_SIZE), ~1.6%).

    Values are hashed with numpy (64-bit mixing of the value's bits; strings eight bytes at a time); the SKETCH_SIZE smallest distinct hashes are kept.
    """

    def __init__(self) -> None:
        self.smallest = np.empty(0, np.uint64)

    def add(self, values: pa.Array) -> None:
        """Fold a batch of values into the sketch."""
        hashes = _hashes(values)
        if len(self.smallest) == SKETCH_SIZE:
            hashes = hashes[hashes < self.smallest[-1]]  # only smaller hashes can enter
            if not len(hashes):
                return
        if len(hashes) > 4 * SKETCH_SIZE:  # sort only the smallest candidates, if they are enough
            cut = hashes[hashes <= np.partition(hashes, 2 * SKETCH_SIZE)[2 * SKETCH_SIZE]]
            if len(cut := _smallest_distinct(cut, SKETCH_SIZE)) == SKETCH_SIZE:
                hashes = cut  # else many equal hashes: every one is a candidate
        self.smallest = _smallest_distinct(np.concatenate([self.smallest, hashes]), SKETCH_SIZE)

    def estimate(self) -> int:
        """Estimated number of distinct values seen (exact while fewer than SKETCH_SIZE)."""
        if len(self.smallest) < SKETCH_SIZE:
            return len(self.smallest)
        return round((SKETCH_SIZE - 1) * 2.0**64 / (float(self.smallest[-1]) + 1))


def _smallest_distinct(hashes: np.ndarray, k: int) -> np.ndarray:
    """The `k` smallest distinct values, sorted (a sort and a neighbour compare: numpy's hash-based
    `unique`, which `union1d` uses, is several times slower on these arrays)."""
    ordered = np.sort(hashes)
    if len(ordered) > 1:
        ordered = ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]
    return ordered[:k]


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit affects every output bit."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _hashes(values: pa.Array) -> np.ndarray:
    """64-bit hashes of non-null values (equal values, equal hashes)."""
    kind = values.type
    if pa.types.is_boolean(kind):
        return _mix(values.cast(pa.int8()).to_numpy().astype(np.uint64))
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_temporal(kind):
        width = {8: pa.int8(), 16: pa.int16(), 32: pa.int32(), 64: pa.int64()}[kind.bit_width]
        as_int = values.view(width).to_numpy(zero_copy_only=False).astype(np.int64)
        return _mix(as_int.view(np.uint64))
    if not (pa.types.is_string(kind) or pa.types.is_binary(kind)):
        values = values.cast(pa.string())  # large strings, decimals and the rest: by their text
    return _text_hashes(values)


_ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


def _text_hashes(values: pa.Array) -> np.ndarray:
    """64-bit hashes of strings, eight bytes at a time: each string's bytes are read as 64-bit words
    (an unaligned view of the data buffer), the last word masked to the string's end, and folded
    into a hash seeded with the string's length. A few passes over the strings, not over each byte."""
    _, offsets_buffer, data_buffer = values.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int32, len(values) + 1, values.offset * 4).astype(np.int64)
    start, end = int(offsets[0]), int(offsets[-1])
    padded = np.zeros(end - start + 8, np.uint8)
    if data_buffer is not None and end > start:
        padded[: end - start] = np.frombuffer(data_buffer, np.uint8, end - start, start)
    words = np.ndarray((end - start + 1,), dtype="<u8", buffer=padded, strides=(1,))  # bytes i..i+7
    starts = offsets[:-1] - start
    lengths = np.diff(offsets)
    with np.errstate(over="ignore"):
        hashes = _mix(lengths.astype(np.uint64) ^ np.uint64(_P))
        todo = np.arange(len(values))
        k = 0
        while len(todo):
            left = lengths[todo] - 8 * k
            word = words[starts[todo] + 8 * k]
            partial = left < 8
            tail = (np.uint64(1) << (np.minimum(left, 7) * 8).astype(np.uint64)) - np.uint64(1)
            word &= np.where(partial, tail, _ALL_ONES)
            hashes[todo] = _mix(hashes[todo] ^ (word * np.uint64(_P)))
            todo = todo[left > 8]
            k += 1
    return hashes


def _text(value: Any) -> str:
    return str(value)


def _plain(value: Any) -> float | str | None:
    """A JSON-friendly scalar: numbers as floats (finite only), everything else as text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    return str(value)
