"""Reading uploaded files into typed Arrow tables: sniff the content, pick a reader, check the result.

One module per family: `delimited` (CSV/TSV/…), `jsonl` (JSON, NDJSON), `columnar` (Parquet, Arrow),
`excel` (xlsx/xls via calamine), `encoding` (text encoding detection), `values` (NA tokens, booleans,
localized numbers, dates, 64-bit integers). The extension of the file name is a hint, never the truth.
"""

from __future__ import annotations

import gzip
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cqox_contracts.v1 import ColumnSchema
from cqox_ingest.readers.archive import Budget, check_declared, inflate
from cqox_ingest.readers.base import IngestError, Limits, Table, TableStream, safe_filename
from cqox_ingest.readers.columnar import read_arrow, read_parquet
from cqox_ingest.readers.delimited import read_delimited, stream_delimited
from cqox_ingest.readers.encoding import bom_encoding, detect_encoding
from cqox_ingest.readers.excel import read_excel
from cqox_ingest.readers.jsonl import read_json
from cqox_ingest.readers.values import PlanBroken

__all__ = [
    "IngestError",
    "Limits",
    "PlanBroken",
    "Table",
    "TableStream",
    "open_stream",
    "read_table",
    "safe_filename",
    "sniff_format",
    "write_parquet",
]


OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
COPY_CHUNK = 1 << 20
STREAM_ROWS = 1 << 16


def sniff_format(path: Path, hint: str = "") -> str:
    """The file's format from its first bytes: parquet, arrow, gzip, xlsx, zip, xls, json, html or text."""
    with path.open("rb") as handle:
        head = handle.read(8192)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"ARROW1") or head.startswith(b"\xff\xff\xff\xff"):
        return "arrow"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return "zip"
        if any(n.startswith("xl/") for n in names):
            return "xlsx"
        if "content.xml" in names and "mimetype" in names:
            return "ods"
        return "zip"
    if head.startswith(OLE2):
        return "xls"
    encoding = bom_encoding(head)
    text = head.decode(encoding or "latin-1", errors="replace").lstrip("\ufeff \t\r\n")
    if encoding is None and b"\x00" in head:
        return "binary"
    lowered = text[:200].lower()
    if lowered.startswith(("<!doctype html", "<html", "<?xml", "<head", "<body")):
        return "html"
    if text.startswith(("[", "{")):
        return "json"
    return "text"


@dataclass
class _Source:
    """The file to parse after decompression, its sniffed kind, and where it came from."""

    path: Path
    kind: str
    hint: str
    inner_note: str | None = None
    outer: str = ""


def _source(path: Path, filename: str, limits: Limits) -> _Source:
    if path.stat().st_size == 0:
        raise IngestError(400, "the uploaded file is empty")
    hint = filename.lower()
    kind = sniff_format(path, hint)
    if kind not in ("gzip", "zip"):
        return _Source(path, kind, hint)
    path, inner_name = _decompressed(path, kind, limits)
    inner_note = f"decompressed from {kind}" + (f" ({inner_name})" if inner_name else "")
    hint = inner_name.lower() if inner_name else hint.removesuffix(".gz")
    if path.stat().st_size == 0:
        raise IngestError(400, "the compressed file holds an empty file")
    inner = sniff_format(path, hint)
    if inner in ("gzip", "zip"):
        raise IngestError(422, "nested archives are not accepted: compress the data file once")
    return _Source(path, inner, hint, inner_note, kind)


def _whole(
    source: _Source, filename: str, *, encoding: str | None, sheet: str | None, limits: Limits
) -> Table:
    table = _read(
        source.path, source.kind, source.hint, encoding=encoding, sheet=sheet, limits=limits, name=filename
    )
    if source.inner_note:
        table.notes.insert(0, source.inner_note)
        table.file_format = f"{table.file_format}+{'gz' if source.outer == 'gzip' else 'zip'}"
    return checked(table, limits)


def read_table(
    path: Path,
    filename: str = "",
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    limits: Limits = Limits(),
) -> Table:
    """Read an uploaded file into a checked, typed table (raises IngestError with a 4xx status).

    Delimited text goes through the same streaming path as the conversion (`open_stream`).
    """
    stream = open_stream(path, filename, encoding=encoding, sheet=sheet, limits=limits)
    try:
        batches = list(stream.batches)
    except PlanBroken:
        stream = open_stream(path, filename, encoding=encoding, sheet=sheet, limits=limits, whole=True)
        batches = list(stream.batches)
    data = pa.Table.from_batches(batches, stream.schema)
    return Table(data, stream.file_format, stream.notes, stream.encoding)


def open_stream(
    path: Path,
    filename: str = "",
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    limits: Limits = Limits(),
    whole: bool = False,
) -> TableStream:
    """An uploaded file as a checked, typed stream of record batches.

    Delimited text is parsed block by block (memory bounded by a few blocks); other formats are
    read whole and then streamed. The batches may raise `PlanBroken` while delimited text is
    streamed (a later block breaks the types chosen on the first): open again with `whole=True`,
    which reads the file at once exactly as `read_delimited` does. IngestError (4xx) may come from
    opening or from any batch.
    """
    source = _source(path, filename, limits)
    if source.kind == "text" and not whole:
        try:
            stream = stream_delimited(source.path, encoding=encoding, limits=limits, hint=source.hint)
        except PlanBroken:
            pass
        else:
            if source.inner_note:
                stream.notes.insert(0, source.inner_note)
                stream.file_format = f"{stream.file_format}+{'gz' if source.outer == 'gzip' else 'zip'}"
            return checked_stream(stream, limits)
    table = _whole(source, filename, encoding=encoding, sheet=sheet, limits=limits)
    return TableStream(
        table.data.schema,
        iter(table.data.to_batches(max_chunksize=STREAM_ROWS)),
        table.file_format,
        table.notes,
        table.encoding,
    )


def _read(
    path: Path, kind: str, hint: str, *, encoding: str | None, sheet: str | None, limits: Limits, name: str
) -> Table:
    label = name or "the file"
    if kind == "parquet":
        return read_parquet(path)
    if kind == "arrow":
        return read_arrow(path)
    if kind in ("xlsx", "xls", "ods"):
        return read_excel(path, sheet=sheet, limits=limits, kind=kind)
    if kind == "html":
        raise IngestError(415, f"{label} is an HTML/XML page, not a data file; export the data as CSV")
    if kind == "binary":
        raise IngestError(
            415,
            f"{label} looks binary, not a data file; upload CSV/TSV, JSON, Parquet, Arrow or Excel",
        )
    if kind == "json":
        return read_json(path, encoding=detect_encoding(path, encoding))
    return read_delimited(path, encoding=encoding, limits=limits, hint=hint)


def _decompressed(path: Path, kind: str, limits: Limits) -> tuple[Path, str]:
    """Stream a .gz file or the single member of a .zip next to the upload, counting the real bytes."""
    target = path.with_name(path.name + ".inflated")
    budget = Budget(path, limits)
    if kind == "zip":
        check_declared(path, limits)
        with zipfile.ZipFile(path) as archive:
            members = [
                i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX")
            ]
            if len(members) != 1:
                raise IngestError(
                    422, f"a zip upload must hold exactly one data file; this one holds {len(members)}"
                )
            with target.open("wb") as out:
                inflate(path, archive, members[0], budget, out.write)
        return target, Path(members[0].filename).name
    try:
        with gzip.open(path, "rb") as source, target.open("wb") as out:
            while chunk := source.read(COPY_CHUNK):
                budget.add(len(chunk))
                out.write(chunk)
    except (OSError, EOFError) as exc:
        raise IngestError(422, f"the gzip file is damaged: {exc}") from exc
    return target, ""


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


def write_parquet(data: pa.Table, path: Path) -> list[ColumnSchema]:
    """Write the table as Parquet once; return the Arrow schema as column descriptions."""
    pq.write_table(data, path, compression="zstd")
    return [ColumnSchema(name=f.name, dtype=str(f.type), nullable=f.nullable) for f in data.schema]
