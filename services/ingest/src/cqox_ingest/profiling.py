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
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

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

    def __init__(self, schema: pa.Schema, *, text_ranges_later: bool = False) -> None:
        """With `text_ranges_later`, the batches are written as Parquet row groups, one per
        `update`, and `ranges_from` is called on the file: text columns past the exact counts
        take their min and max from the row groups' statistics (the writer computes them anyway;
        Arrow's min_max on text is among the profile's dearest kernels)."""
        self.schema = schema
        self.n_rows = 0
        self.groups = 0
        later = text_ranges_later and not any(pa.types.is_nested(f.type) for f in schema)
        self.columns = [_ColumnState(f.name, f.type, later) for f in schema]

    def update(
        self, batch: pa.RecordBatch | pa.Table, pool: Executor | None = None, *, settle: bool = True
    ) -> None:
        """Add one batch; with a `pool`, its columns are profiled in parallel (Arrow's kernels and
        numpy release the GIL), and this returns once every column is done. With `settle=False`
        the batch is only counted: folding its counts in (and starting a column's sketch) waits
        for the next `update` or `result`, which give what settling now would have given."""
        self.n_rows += batch.num_rows
        group, self.groups = self.groups, self.groups + 1
        if pool is None:
            for state, column in zip(self.columns, batch.columns, strict=True):
                state.update(column, group, settle)
            return
        # Most expensive first, so the slowest column does not start last.
        order = sorted(range(len(self.columns)), key=lambda i: -self.columns[i].cost)
        for done in [pool.submit(self.columns[i].update, batch.column(i), group, settle) for i in order]:
            done.result()

    def ranges_from(self, parquet: Path) -> None:
        """Complete the text ranges left to the Parquet file's row-group statistics (a row group
        without them, which the length check should rule out, is read back for its column)."""
        if not any(c.deferred for c in self.columns):
            return
        file = pq.ParquetFile(parquet)
        for index, state in enumerate(self.columns):
            for group in state.deferred or []:
                stats = file.metadata.row_group(group).column(index).statistics
                if stats is not None and stats.has_min_max:
                    state.widen(stats.min, stats.max)
                else:
                    state.range_of(file.read_row_group(group, columns=[state.name]).column(0))
            state.deferred = []

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
    text_ranges_later: bool = False
    nulls: int = 0
    present: int = 0
    low: Any = None
    high: Any = None
    total: Any = 0
    merged: int = 0
    unmerged: int = 0
    unsettled: bool = False  # counted with settle=False: the merge check is still to run

    def __post_init__(self) -> None:
        kind = self.kind
        self.numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind)
        self.ranged = self.numeric or pa.types.is_temporal(kind) or pa.types.is_string(kind)
        self.averaged = self.numeric or pa.types.is_boolean(kind)
        self.counted = not pa.types.is_null(kind)
        self.parts: list[pa.Table] = []  # values → counts, per batch until merged
        self.sketch: Sketch | None = None  # beyond EXACT_DISTINCT distinct values
        # Row groups whose range the Parquet statistics give (`Profiler.ranges_from`); None: none do.
        self.deferred: list[int] | None = [] if self.text_ranges_later and pa.types.is_string(kind) else None

    @property
    def cost(self) -> int:
        """A rough rank of the work one batch of this column takes (text hashing costs most)."""
        text = pa.types.is_string(self.kind) or pa.types.is_binary(self.kind)
        return (2 if text else 1) * (2 if self.sketch is not None or self.merged > KEPT_VALUES else 1)

    def update(self, column: pa.Array | pa.ChunkedArray, group: int = 0, settle: bool = True) -> None:
        if self.unsettled:  # first, as if it had run with the last batch
            self._settle()
        self.nulls += column.null_count
        present = len(column) - column.null_count
        self.present += present
        if not present:
            return
        if self.ranged and not (self.counted and self.sketch is None):  # else: from the distinct values
            if self.deferred is not None and _within_statistics(column):
                self.deferred.append(group)
            else:
                self.range_of(column)
        if self.averaged:
            total = pc.sum(column).as_py()
            self.total = self.total + (total or 0)
        if self.counted:
            self._count(column)
            if settle:
                self._settle()
            else:
                self.unsettled = True

    def range_of(self, values: pa.Array | pa.ChunkedArray) -> None:
        """Widen the range to the values' min and max."""
        bounds = pc.min_max(values)
        self.widen(bounds["min"].as_py(), bounds["max"].as_py())

    def widen(self, low: Any, high: Any) -> None:
        """Widen the range to `low` and `high` (None: nothing)."""
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
        values, counts = _value_counts(present)
        if self.ranged:  # the range of the distinct values: far fewer than the values
            self.range_of(values)
        self.parts.append(pa.table({"values": values, "counts": counts}))
        self.unmerged += len(values)

    def _settle(self) -> None:
        """Fold the counts together once enough are unmerged (geometric merging)."""
        self.unsettled = False
        if self.unmerged > max(3 * self.merged, EXACT_DISTINCT):
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


def _value_counts(present: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Each distinct value of non-null values and how often it occurs: booleans by a sum, integers
    and dates over a range no wider than the values are many by a bincount (several times faster
    than hashing them; values in ascending order), anything else by Arrow's hashing `value_counts`."""
    if isinstance(present, pa.ChunkedArray) and present.num_chunks == 1:
        present = present.chunk(0)
    kind = present.type
    if pa.types.is_boolean(kind):
        trues = pc.sum(present).as_py() or 0
        pairs = [(value, n) for value, n in ((False, len(present) - trues), (True, trues)) if n]
        return pa.array([v for v, _ in pairs], pa.bool_()), pa.array([n for _, n in pairs], pa.int64())
    if isinstance(present, pa.Array) and kind in (pa.int64(), pa.date32()):
        numbers = present.view(pa.int32()) if kind == pa.date32() else present
        bounds = pc.min_max(numbers)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        if high - low < max(len(present), 1 << 10):
            tally = np.bincount(numbers.to_numpy() - low)
            seen = np.flatnonzero(tally)
            values = pa.array(seen + low, pa.int64())
            return values.cast(pa.int32()).view(kind) if kind == pa.date32() else values, pa.array(
                tally[seen]
            )
    values, counts = pc.value_counts(present).flatten()
    return values, counts


class Sketch:
    """A K-minimum-values sketch of the distinct count (relative error about 1/sqrt(SKETCH_SIZE), ~1.6%).

    Values are hashed with numpy (64-bit mixing of the value's bits; strings eight bytes at a time); the SKETCH_SIZE smallest distinct hashes are kept.
    """

    def __init__(self) -> None:
        self._smallest = np.empty(0, np.uint64)
        self._pending: list[np.ndarray] = []  # candidates below the threshold, not yet folded in
        self._pending_count = 0

    @property
    def smallest(self) -> np.ndarray:
        """The SKETCH_SIZE smallest distinct hashes seen, sorted (fewer while fewer were seen)."""
        if self._pending:
            candidates = np.concatenate([self._smallest, *self._pending])
            self._smallest = _smallest_distinct(candidates, SKETCH_SIZE)
            self._pending, self._pending_count = [], 0
        return self._smallest

    def add(self, values: pa.Array) -> None:
        """Fold a batch of values into the sketch."""
        hashes = _hashes(values)
        if len(self._smallest) == SKETCH_SIZE:
            # Only hashes under the threshold can enter; a stale threshold (pending candidates not
            # folded in yet) is only higher, so this keeps every one that can.
            hashes = hashes[hashes < self._smallest[-1]]
            if not len(hashes):
                return
        if len(hashes) > 4 * SKETCH_SIZE:  # sort only the smallest candidates, if they are enough
            cut = hashes[hashes <= np.partition(hashes, 2 * SKETCH_SIZE)[2 * SKETCH_SIZE]]
            if len(cut := _smallest_distinct(cut, SKETCH_SIZE)) == SKETCH_SIZE:
                hashes = cut  # else many equal hashes: every one is a candidate
        self._pending.append(hashes)
        self._pending_count += len(hashes)
        if len(self._smallest) < SKETCH_SIZE or self._pending_count > SKETCH_SIZE:
            self.smallest  # noqa: B018  (fold: a sort of a few thousand hashes, not one per batch)

    def estimate(self) -> int:
        """Estimated number of distinct values seen (exact while fewer than SKETCH_SIZE)."""
        if len(self.smallest) < SKETCH_SIZE:
            return len(self.smallest)
        return round((SKETCH_SIZE - 1) * 2.0**64 / (float(self.smallest[-1]) + 1))


# Arrow's Parquet writer leaves a column chunk's min and max out when a value is longer than this.
PARQUET_STATISTICS_BYTES = 4096


def _within_statistics(column: pa.Array | pa.ChunkedArray) -> bool:
    """Whether the Parquet writer keeps this text's min and max (no value over its size limit)."""
    return (pc.max(pc.binary_length(column)).as_py() or 0) <= PARQUET_STATISTICS_BYTES


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


_STEP = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplying by it is a bijection modulo 2**64


def _text_hashes(values: pa.Array) -> np.ndarray:
    """64-bit hashes of strings, eight bytes at a time: each string's bytes are read as 64-bit words
    (an unaligned view of the data buffer), the last word masked to the string's end, each folded
    into a hash seeded with the string's length by a multiply and a shift (one full mix at the end).
    While most strings have words left, a step runs over every row (no gathering of the rows left);
    the few long strings' last words are taken by index."""
    _, offsets_buffer, data_buffer = values.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int32, len(values) + 1, values.offset * 4).astype(np.int64)
    start, end = int(offsets[0]), int(offsets[-1])
    padded = np.zeros(end - start + 8, np.uint8)
    if data_buffer is not None and end > start:
        padded[: end - start] = np.frombuffer(data_buffer, np.uint8, end - start, start)
    words = np.ndarray((end - start + 1,), dtype="<u8", buffer=padded, strides=(1,))  # bytes i..i+7
    starts = offsets[:-1] - start
    lengths = np.diff(offsets)
    shortest = int(lengths.min()) if len(lengths) else 0
    with np.errstate(over="ignore"):
        hashes = _mix(lengths.astype(np.uint64) ^ np.uint64(_P))
        k = 0
        while 8 * (k + 1) <= shortest:  # a whole word of every string
            hashes ^= words[starts + 8 * k]
            hashes *= _STEP
            hashes ^= hashes >> np.uint64(29)
            k += 1
        left = lengths - 8 * k
        while np.count_nonzero(left > 0) * 2 > len(left):  # most strings go on: every row, masked
            word = words[np.minimum(starts + 8 * k, end - start)]
            word &= np.where(left < 8, _tail_masks(left), _ALL_ONES)
            step = (hashes ^ word) * _STEP
            hashes = np.where(left > 0, step ^ (step >> np.uint64(29)), hashes)
            k += 1
            left -= 8
        todo = np.flatnonzero(left > 0)
        while len(todo):
            left = lengths[todo] - 8 * k
            word = words[starts[todo] + 8 * k]
            word &= np.where(left < 8, _tail_masks(left), _ALL_ONES)
            step = (hashes[todo] ^ word) * _STEP
            hashes[todo] = step ^ (step >> np.uint64(29))
            todo = todo[left > 8]
            k += 1
    return _mix(hashes)


def _tail_masks(left: np.ndarray) -> np.ndarray:
    """Masks of a word's first `left` bytes (0 to 7; more bytes than that: not used)."""
    return (np.uint64(1) << (np.clip(left, 0, 7) * 8).astype(np.uint64)) - np.uint64(1)


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
