"""What every reader shares: the parsed table, the limits, and the one error type of the ingest API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa


class IngestError(Exception):
    """An upload that cannot be accepted, with the HTTP status and a message a person can act on.

    `extra` carries structured details (e.g. a schema diff) returned beside the message.
    """

    def __init__(self, status_code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.extra = extra


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a hostile or broken file from exhausting memory, disk or time."""

    max_columns: int = 2000
    max_cell_bytes: int = 1 << 20
    max_inflated_bytes: int = 1 << 30
    max_inflation_ratio: int = 200
    # A file that cannot be streamed (its column types change after the first block, a JSON array,
    # a non-UTF-8 NDJSON file) is read whole, at several times its size in memory, only up to this.
    max_whole_read_bytes: int = 64 << 20


@dataclass
class Table:
    """A parsed upload: an Arrow table, its detected format and notes on what was done to it."""

    data: pa.Table
    file_format: str
    notes: list[str] = field(default_factory=list)
    encoding: str | None = None


@dataclass
class TableStream:
    """A parsed upload as a stream of record batches with one schema (for files read incrementally).

    `notes` is complete only once `batches` is exhausted (counts of converted values come last).
    """

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    file_format: str
    notes: list[str] = field(default_factory=list)
    encoding: str | None = None


def too_large_to_read_whole(size: int, limits: Limits, why: str, advice: str) -> IngestError:
    """The 413 for a file that would have to be read whole (`why`) and is over the limit for that."""
    return IngestError(
        413,
        f"{why}, so it would have to be read whole, and at {size} bytes it is over the "
        f"{limits.max_whole_read_bytes}-byte limit for that (CQOX_MAX_WHOLE_READ_BYTES): {advice}",
    )


def safe_filename(name: str | None) -> str:
    """A file name without directories, control or odd characters (for storage keys)."""
    base = Path((name or "upload").replace("\\", "/")).name
    cleaned = re.sub(r"[^\w.\-]+", "_", base, flags=re.UNICODE).strip("._")
    return cleaned[:120] or "upload"
