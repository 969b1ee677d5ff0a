"""Upload → Parquet once: read and type the file, then write Parquet and profile it side by side."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cqox_contracts.v1 import ColumnSchema, DatasetProfile
from cqox_ingest.profiling import profile
from cqox_ingest.readers import Limits, Table, read_table, write_parquet


@dataclass
class Converted:
    """The typed table, the schema written to Parquet, and the version's profile."""

    table: Table
    columns: list[ColumnSchema]
    profile: DatasetProfile


def convert(
    raw: Path,
    parquet: Path,
    filename: str,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    limits: Limits = Limits(),
) -> Converted:
    """Read `raw` (IngestError on a bad file), write it to `parquet`, and profile it.

    Arrow releases the GIL in both the Parquet writer and the compute kernels, so writing and
    profiling overlap on separate cores.
    """
    table = read_table(raw, filename, encoding=encoding, sheet=sheet, limits=limits)
    with ThreadPoolExecutor(max_workers=1) as pool:
        written = pool.submit(write_parquet, table.data, parquet)
        summary = profile(table.data)
        columns = written.result()
    return Converted(table, columns, summary)
