"""Upload → Parquet once: stream the file as typed record batches, write Parquet and profile as they come.

Memory stays bounded by a few batches (delimited text is parsed block by block); parsing, the
Parquet writer and the profile's compute kernels all run in Arrow's C++ code without the GIL, so a
reader thread, the writer thread and the profiling in the caller's thread overlap.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cqox_contracts.v1 import ColumnSchema, DatasetProfile
from cqox_ingest.profiling import Profiler
from cqox_ingest.readers import Limits, PlanBroken, TableStream, open_stream

ROW_GROUP_ROWS = 1 << 17
QUEUE_BATCHES = 2


@dataclass
class Converted:
    """What a conversion produced: the table's shape and provenance, its schema, and its profile."""

    n_rows: int
    file_format: str
    encoding: str | None
    columns: list[ColumnSchema]
    profile: DatasetProfile
    notes: list[str] = field(default_factory=list)


def convert(
    raw: Path,
    parquet: Path,
    filename: str,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    limits: Limits = Limits(),
) -> Converted:
    """Read `raw` (IngestError on a bad file), write it to `parquet` (zstd), and profile it.

    When a late block of delimited text breaks the types chosen on the first block (`PlanBroken`),
    the Parquet file is discarded and the file is converted again, read whole.
    """
    options = {"encoding": encoding, "sheet": sheet, "limits": limits}
    try:
        return _write(open_stream(raw, filename, **options), parquet)  # type: ignore[arg-type]
    except PlanBroken:
        parquet.unlink(missing_ok=True)
        return _write(open_stream(raw, filename, whole=True, **options), parquet)  # type: ignore[arg-type]


def _write(stream: TableStream, parquet: Path) -> Converted:
    profiler = Profiler(stream.schema)
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    written: Future[None] | None = None
    with (
        pq.ParquetWriter(parquet, stream.schema, compression="zstd", compression_level=1) as writer,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        for batch in _read_ahead(stream.batches):
            profiler.update(batch)
            pending.append(batch)
            pending_rows += batch.num_rows
            if pending_rows >= ROW_GROUP_ROWS:
                if written is not None:
                    written.result()
                written = pool.submit(writer.write_table, pa.Table.from_batches(pending, stream.schema))
                pending, pending_rows = [], 0
        if written is not None:
            written.result()
        if pending:
            writer.write_table(pa.Table.from_batches(pending, stream.schema))
    columns = [ColumnSchema(name=f.name, dtype=str(f.type), nullable=f.nullable) for f in stream.schema]
    return Converted(
        n_rows=profiler.n_rows,
        file_format=stream.file_format,
        encoding=stream.encoding,
        columns=columns,
        profile=profiler.result(),
        notes=stream.notes,
    )


_DONE = object()


def _read_ahead(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Pull batches in a thread (parsing and typing) while the caller profiles and writes."""
    slots: queue.Queue[object] = queue.Queue(maxsize=QUEUE_BATCHES)
    stop = threading.Event()

    def pump() -> None:
        try:
            for batch in batches:
                if stop.is_set():
                    return
                slots.put(batch)
            slots.put(_DONE)
        except BaseException as exc:  # handed to the caller's thread
            slots.put(exc)

    thread = threading.Thread(target=pump, name="ingest-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():  # unblock a pump waiting on a full queue
            try:
                slots.get_nowait()
            except queue.Empty:
                thread.join(0.01)
