"""Parquet and Arrow IPC (Feather v2) files, and the one Parquet file every upload becomes."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq

from cqox_contracts.v1 import ColumnSchema
from cqox_ingest.readers import values
from cqox_ingest.readers.base import IngestError, Table


def read_parquet(path: Path) -> Table:
    """Read a Parquet file; integers widened to 64 bits."""
    try:
        data = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise IngestError(422, f"the Parquet file cannot be read: {exc}") from exc
    table, notes = values.normalize(data)
    return Table(table, "parquet", notes)


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
