"""A profile of one dataset version: per column its type, missing share, distinct count, range, mean, top values."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cqox_contracts.v1 import ColumnProfile, DatasetProfile, ValueCount

TOP_VALUES = 5


def profile(data: pa.Table) -> DatasetProfile:
    """Profile every column of a table with Arrow compute kernels (no row-by-row Python)."""
    return DatasetProfile(
        n_rows=data.num_rows,
        columns=[_column(name, data.column(name), data.num_rows) for name in data.column_names],
    )


def _column(name: str, column: pa.ChunkedArray, n_rows: int) -> ColumnProfile:
    kind = column.type
    low: Any = None
    high: Any = None
    mean = None
    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind)
    if numeric or pa.types.is_temporal(kind) or pa.types.is_string(kind):
        bounds = pc.min_max(column)
        low, high = _plain(bounds["min"].as_py()), _plain(bounds["max"].as_py())
    if numeric or pa.types.is_boolean(kind):
        mean = _plain(pc.mean(column).as_py())
    top: list[ValueCount] = []
    if not pa.types.is_floating(kind) or n_rows <= 100_000:
        counts = pc.value_counts(pc.drop_null(column))
        if len(counts):
            order = pc.sort_indices(counts, sort_keys=[("counts", "descending")])[:TOP_VALUES]
            for item in counts.take(order).to_pylist():
                top.append(ValueCount(value=str(item["values"]), count=int(item["counts"])))
        distinct = len(counts)
    else:
        distinct = int(pc.count_distinct(column, mode="only_valid").as_py())
    return ColumnProfile(
        name=name,
        dtype=str(kind),
        missing_share=round(column.null_count / n_rows, 6) if n_rows else 0.0,
        distinct_count=distinct,
        min=low,
        max=high,
        mean=mean,
        top_values=top,
    )


def _plain(value: Any) -> float | str | None:
    """A JSON-friendly scalar: numbers as floats (finite only), everything else as text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    return str(value)
