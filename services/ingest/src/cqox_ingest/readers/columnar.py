"""Parquet and Arrow IPC (Feather v2) files, and the one Parquet file every upload becomes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq

from cqox_contracts.v1 import ColumnSchema
from cqox_ingest.readers import values
from cqox_ingest.readers.base import IngestError, Table, TableStream

STREAM_ROWS = 1 << 16


def read_parquet(path: Path) -> Table:
    """Read a Parquet file; integers widened to 64 bits."""
    try:
        data = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise IngestError(422, f"the Parquet file cannot be read: {exc}") from exc
    table, notes = values.normalize(data)
    return Table(table, "parquet", notes)


def stream_columnar(path: Path, kind: str) -> TableStream:
    """A Parquet or Arrow IPC file as a stream of record batches (a row group or IPC batch at a time,
    never the whole table), typed as `read_parquet`/`read_arrow` type it. A later batch that the first
    one's plan does not fit (a text column that parses as numbers or dates in one batch only, a
    uint64 column) raises `values.PlanBroken`: the caller reads the file whole, if small enough."""
    label = "Parquet" if kind == "parquet" else "Arrow"
    try:
        source = _batches(path, kind)
        first = next((b for b in source if b.num_rows), None)
    except (pa.ArrowException, OSError) as exc:
        raise IngestError(422, f"the {label} file cannot be read: {exc}") from exc
    if first is None:
        raise values.PlanBroken("no rows")
    normalize = values.BatchNormalizer(widen=True)
    head = normalize(first)
    notes: list[str] = []

    def batches() -> Iterator[pa.RecordBatch]:
        yield head
        try:
            for batch in source:
                if batch.num_rows:
                    yield normalize(batch)
        except (pa.ArrowException, OSError) as exc:
            raise IngestError(422, f"the {label} file cannot be read: {exc}") from exc
        notes.extend(normalize.notes(head.schema, normalize.widened))

    return TableStream(head.schema, batches(), kind, notes)


def _batches(path: Path, kind: str) -> Iterator[pa.RecordBatch]:
    if kind == "parquet":
        yield from pq.ParquetFile(path).iter_batches(batch_size=STREAM_ROWS)
        return
    try:
        reader = pa.ipc.open_file(pa.memory_map(str(path)))
        batches: Iterator[pa.RecordBatch] = (reader.get_batch(i) for i in range(reader.num_record_batches))
    except (pa.ArrowException, OSError):
        batches = iter(pa.ipc.open_stream(pa.memory_map(str(path))))
    for batch in batches:  # a large IPC batch is handed on in slices (zero-copy)
        for start in range(0, max(batch.num_rows, 1), STREAM_ROWS):
            yield batch.slice(start, STREAM_ROWS)


def read_arrow(path: Path) -> Table:
    """Read an Arrow IPC file (Feather v2) or stream."""
    try:
        data = feather.read_table(path)
    except (pa.ArrowException, OSError):
        try:
            with pa.ipc.open_stream(path) as reader:
                data = reader.read_all()
        except (pa.ArrowException, OSError) as exc:
            raise IngestError(422, f"the Arrow file cannot be read: {exc}") from exc
    table, notes = values.normalize(data)
    return Table(table, "arrow", notes)


def write_parquet(data: pa.Table, path: Path) -> list[ColumnSchema]:
    """Write the table as Parquet once; return the Arrow schema as column descriptions."""
    pq.write_table(data, path, compression="zstd")
    return [ColumnSchema(name=f.name, dtype=str(f.type), nullable=f.nullable) for f in data.schema]
