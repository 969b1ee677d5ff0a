"""Checks every table passes before conversion: columns exist, names are unique and sensible, values fit."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from cqox_ingest.readers.base import IngestError, Limits, Table, TableStream


def _checked_names(names_in: list[str], n_rows: int | None, limits: Limits) -> tuple[list[str], list[str]]:
    """Refuse column sets no analysis can use; return unique, sensible names and notes on renames."""
    if not names_in:
        raise IngestError(422, "the file has no columns")
    if len(names_in) > limits.max_columns:
        raise IngestError(
            422,
            f"the file has {len(names_in)} columns; the limit is {limits.max_columns} (CQOX_MAX_COLUMNS)",
        )
    if n_rows == 0:
        raise IngestError(422, f"the file has a header ({len(names_in)} columns) but no data rows")
    names = [str(n).strip() for n in names_in]
    duplicates = sorted({n for n in names if n and names.count(n) > 1})
    if duplicates:
        where = {n: [i + 1 for i, m in enumerate(names) if m == n] for n in duplicates}
        raise IngestError(
            422,
            "duplicate column names "
            + ", ".join(f"{n!r} (columns {', '.join(map(str, at))})" for n, at in where.items())
            + ": give every column a unique name",
        )
    notes = []
    for index, name in enumerate(names):
        if not name or re.fullmatch(r"Unnamed: \d+", name):
            names[index] = f"column_{index + 1}"
            notes.append(f"column {index + 1} had no name: named {names[index]!r}")
    return names, notes


def _check_cells(
    names: list[str], columns: list[pa.Array] | list[pa.ChunkedArray], limits: Limits, offset: int = 0
) -> None:
    for name, column in zip(names, columns, strict=True):
        if pa.types.is_string(column.type) or pa.types.is_binary(column.type):
            lengths = pc.binary_length(column)
            longest = pc.max(lengths).as_py() or 0
            if longest > limits.max_cell_bytes:
                row = pc.index(lengths, longest).as_py() + offset
                raise IngestError(
                    422,
                    f"column {name!r}, row {row + 1}: a value of {longest} bytes; the limit for one value "
                    f"is {limits.max_cell_bytes} bytes (CQOX_MAX_CELL_BYTES)",
                )


def checked(table: Table, limits: Limits = Limits()) -> Table:
    """Refuse tables no analysis can use; name every column uniquely and sensibly."""
    data = table.data
    names, notes = _checked_names(data.column_names, data.num_rows, limits)
    table.notes.extend(notes)
    _check_cells(names, data.columns, limits)
    table.data = data.rename_columns(names)
    return table


def checked_stream(stream: TableStream, limits: Limits = Limits()) -> TableStream:
    """`checked` for a stream: names at once, values batch by batch, 'no data rows' at the end."""
    names, rename_notes = _checked_names(stream.schema.names, None, limits)
    schema = pa.schema([f.with_name(n) for f, n in zip(stream.schema, names, strict=True)])
    source = stream.batches

    def batches() -> Iterator[pa.RecordBatch]:
        rows = 0
        for batch in source:
            _check_cells(names, batch.columns, limits, rows)
            rows += batch.num_rows
            yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)
        if rows == 0:
            raise IngestError(422, f"the file has a header ({len(names)} columns) but no data rows")
        stream.notes.extend(rename_notes)

    return TableStream(schema, batches(), stream.file_format, stream.notes, stream.encoding)
