"""Upload → Parquet once: stream the file as typed record batches, write Parquet and profile as they come.

Memory stays bounded by a few row groups (delimited text and NDJSON are parsed block by block);
parsing, the Parquet writer and the profile's compute kernels all run in Arrow's C++ code without
the GIL, so a reader thread, the writer thread and the profile's threads overlap. Arrow allocates
from jemalloc where pyarrow has it (`use_memory_pool`): its default, mimalloc, hands each row group's
freed pages back and takes them again as fresh transparent huge pages, each zeroed by the kernel.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections import deque
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
ROW_GROUP_BYTES = 32 << 20  # wide rows: a row group (and so memory in flight) stays bounded in bytes
QUEUE_BATCHES = 2  # row groups parsed ahead of the writer and the profile
PROFILE_THREADS = 2
STAGE_LAG = 1  # groups a stage may finish ahead of the slower one (each group held until both are done)
DICTIONARY_SHARE = 0.25  # distinct values per value in the first row group, for a dictionary page


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

    When a late block of delimited text or NDJSON breaks the types chosen on the first block
    (`PlanBroken`), the Parquet file is discarded and the file is converted again, read whole if it
    is small enough (`Limits.max_whole_read_bytes`), else refused with the reason (413/422).
    """
    use_memory_pool()
    options = {"encoding": encoding, "sheet": sheet, "limits": limits}
    try:
        return _write(open_stream(raw, filename, **options), parquet)  # type: ignore[arg-type]
    except PlanBroken as exc:
        parquet.unlink(missing_ok=True)
        again = open_stream(raw, filename, whole=True, because=str(exc), **options)  # type: ignore[arg-type]
        return _write(again, parquet)


def use_memory_pool() -> pa.MemoryPool:
    """Make jemalloc Arrow's allocator for this process, where pyarrow is built with it (else keep
    the default); return the pool in use.

    A conversion frees and allocates a few row groups' worth of buffers per row group. mimalloc, the
    default, returns freed pages to the system and faults them in again as transparent huge pages:
    on the bench CSV 0.7-1.2 s of kernel time (zeroing 2 MiB pages) against 0.3 s with jemalloc,
    which keeps them a while (`jemalloc_set_decay_ms`) and held a fifth less memory at peak (ADR 0011).
    """
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow build without jemalloc (e.g. some platforms' wheels)
        return pa.default_memory_pool()
    if pa.default_memory_pool().backend_name != pool.backend_name:
        pa.set_memory_pool(pool)
    return pool


def _write(stream: TableStream, parquet: Path) -> Converted:
    """The pipeline: a reader thread parses and types row groups into a bounded queue; the writer
    thread writes them in order while the profile thread profiles them in order (each group's
    columns on `PROFILE_THREADS`), neither waiting for the other: each stage only waits when it is
    `STAGE_LAG` groups ahead of the slower one. Arrow's parser, compute kernels and Parquet writer
    release the GIL, so the stages overlap. The first group is profiled before the writer opens:
    its distinct counts pick the columns written with dictionary pages (`parquet_options`)."""
    profiler = Profiler(stream.schema, text_ranges_later=True)  # one row group per update
    in_flight: deque[tuple[Future[None], Future[None]]] = deque()
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-write") as write_stage,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-profile") as profile_stage,
        ThreadPoolExecutor(max_workers=PROFILE_THREADS, thread_name_prefix="ingest-column") as column_pool,
    ):
        groups = _read_ahead(_row_groups(stream))
        first = next(groups, None)
        if first is not None:  # counted only: its merges and sketches wait for the profile stage
            profiler.update(first, column_pool, settle=False)
        with pq.ParquetWriter(parquet, stream.schema, **parquet_options(stream.schema, profiler)) as writer:
            try:
                for index, group in enumerate(itertools.chain([] if first is None else [first], groups)):
                    written = write_stage.submit(
                        writer.write_table, group, row_group_size=max(1, group.num_rows)
                    )
                    profiled = profile_stage.submit(profiler.update, group, column_pool) if index else _done()
                    in_flight.append((written, profiled))
                    while len(in_flight) > STAGE_LAG:
                        for step in in_flight.popleft():
                            step.result()
                while in_flight:
                    for step in in_flight.popleft():
                        step.result()
            finally:  # a stream that breaks (PlanBroken, IngestError) must not close the writer mid-write
                for steps in in_flight:
                    for step in steps:
                        step.exception()
    profiler.ranges_from(parquet)
    columns = [ColumnSchema(name=f.name, dtype=str(f.type), nullable=f.nullable) for f in stream.schema]
    return Converted(
        n_rows=profiler.n_rows,
        file_format=stream.file_format,
        encoding=stream.encoding,
        columns=columns,
        profile=profiler.result(),
        notes=stream.notes,
    )


def parquet_options(schema: pa.Schema, first: Profiler | None = None) -> dict[str, object]:
    """The Parquet writer's settings: zstd level 1; dictionary pages for repetitive columns only.

    A dictionary is tried on every column by default and given up once it passes 1 MiB: wasted
    work on columns of mostly distinct values (measures, identifiers, free text), whose pages also
    compress as well plain. With `first`, the profile of the first row group, a column gets a
    dictionary when at most `DICTIONARY_SHARE` of its values there are distinct (on the bench CSV
    the write takes a third less CPU than with dictionaries on every text column, the file is 4%
    smaller); without it, text columns do.
    """
    if first is None:
        chosen = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_binary(f.type)]
    else:
        chosen = first.repetitive(DICTIONARY_SHARE)
    return {"compression": "zstd", "compression_level": 1, "use_dictionary": chosen or False}


def _row_groups(stream: TableStream) -> Iterator[pa.Table]:
    """The stream's batches gathered (not copied) into one table per Parquet row group
    (`ROW_GROUP_ROWS` rows, or fewer once `ROW_GROUP_BYTES` are held): fewer, larger kernel calls."""
    pending: list[pa.RecordBatch] = []
    rows = size = 0
    for batch in stream.batches:
        pending.append(batch)
        rows += batch.num_rows
        size += batch.nbytes
        if rows >= ROW_GROUP_ROWS or size >= ROW_GROUP_BYTES:
            yield pa.Table.from_batches(pending, stream.schema)
            pending, rows, size = [], 0, 0
    if pending:
        yield pa.Table.from_batches(pending, stream.schema)


_DONE = object()


def _done() -> Future[None]:
    """A step already finished (the first group, profiled before the writer opened)."""
    done: Future[None] = Future()
    done.set_result(None)
    return done


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
