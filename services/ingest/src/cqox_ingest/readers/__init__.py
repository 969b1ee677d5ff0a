"""Reading uploaded files into typed Arrow tables: sniff the content, pick a reader, check the result.

One module per family: `delimited` (CSV/TSV/…), `jsonl` (JSON, NDJSON), `columnar` (Parquet, Arrow),
`excel` (xlsx/xls via calamine), `encoding` (text encoding detection), `values` (NA tokens, booleans,
localized numbers, dates, 64-bit integers). The extension of the file name is a hint, never the truth.
"""

from __future__ import annotations

import gzip
import re
import zipfile
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cqox_contracts.v1 import ColumnSchema
from cqox_ingest.readers.base import IngestError, Limits, Table, safe_filename
from cqox_ingest.readers.columnar import read_arrow, read_parquet
from cqox_ingest.readers.delimited import read_delimited
from cqox_ingest.readers.encoding import bom_encoding, detect_encoding
from cqox_ingest.readers.excel import check_inflation, read_excel
from cqox_ingest.readers.jsonl import read_json

__all__ = ["IngestError", "Limits", "Table", "read_table", "safe_filename", "sniff_format", "write_parquet"]


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
COPY_CHUNK = 1 << 20


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


def read_table(
    path: Path,
    filename: str = "",
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    limits: Limits = Limits(),
) -> Table:
    """Read an uploaded file into a checked, typed table (raises IngestError with a 4xx status)."""
    if path.stat().st_size == 0:
        raise IngestError(400, "the uploaded file is empty")
    hint = filename.lower()
    kind = sniff_format(path, hint)
    inner_note = None
    outer = ""
    if kind in ("gzip", "zip"):
        path, inner_name = _decompressed(path, kind, limits)
        inner_note = f"decompressed from {kind}" + (f" ({inner_name})" if inner_name else "")
        hint = inner_name.lower() if inner_name else hint.removesuffix(".gz")
        if path.stat().st_size == 0:
            raise IngestError(400, "the compressed file holds an empty file")
        outer = kind
        kind = sniff_format(path, hint)
        if kind in ("gzip", "zip"):
            raise IngestError(422, "nested archives are not accepted: compress the data file once")
    table = _read(path, kind, hint, encoding=encoding, sheet=sheet, limits=limits, name=filename)
    if inner_note:
        table.notes.insert(0, inner_note)
        table.file_format = f"{table.file_format}+{'gz' if outer == 'gzip' else 'zip'}"
    return checked(table, limits)


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
    """Stream a .gz file or the single member of a .zip next to the upload, bounded by the limits."""
    target = path.with_name(path.name + ".inflated")
    inner_name = ""
    if kind == "zip":
        check_inflation(path, limits)
        with zipfile.ZipFile(path) as archive:
            members = [
                i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX")
            ]
            if len(members) != 1:
                raise IngestError(
                    422, f"a zip upload must hold exactly one data file; this one holds {len(members)}"
                )
            inner_name = Path(members[0].filename).name
            with archive.open(members[0]) as source:
                _copy_bounded(source, target, path, limits)
        return target, inner_name
    try:
        with gzip.open(path, "rb") as source:
            _copy_bounded(source, target, path, limits)
    except (OSError, EOFError) as exc:
        raise IngestError(422, f"the gzip file is damaged: {exc}") from exc
    return target, ""


def _copy_bounded(source: _Readable, target: Path, packed: Path, limits: Limits) -> None:
    size = 0
    with target.open("wb") as out:
        while chunk := source.read(COPY_CHUNK):
            size += len(chunk)
            if size > limits.max_inflated_bytes:
                raise IngestError(
                    413,
                    f"the file inflates beyond {limits.max_inflated_bytes} bytes from "
                    f"{packed.stat().st_size}; refused as a possible zip bomb",
                )
            out.write(chunk)


def checked(table: Table, limits: Limits = Limits()) -> Table:
    """Refuse tables no analysis can use; name every column uniquely and sensibly."""
    data = table.data
    if data.num_columns == 0:
        raise IngestError(422, "the file has no columns")
    if data.num_columns > limits.max_columns:
        raise IngestError(
            422,
            f"the file has {data.num_columns} columns; the limit is {limits.max_columns} (CQOX_MAX_COLUMNS)",
        )
    if data.num_rows == 0:
        raise IngestError(422, f"the file has a header ({data.num_columns} columns) but no data rows")
    names = [str(n).strip() for n in data.column_names]
    duplicates = sorted({n for n in names if n and names.count(n) > 1})
    if duplicates:
        where = {n: [i + 1 for i, m in enumerate(names) if m == n] for n in duplicates}
        raise IngestError(
            422,
            "duplicate column names "
            + ", ".join(f"{n!r} (columns {', '.join(map(str, at))})" for n, at in where.items())
            + ": give every column a unique name",
        )
    for index, name in enumerate(names):
        if not name or re.fullmatch(r"Unnamed: \d+", name):
            names[index] = f"column_{index + 1}"
            table.notes.append(f"column {index + 1} had no name: named {names[index]!r}")
    for name, column in zip(names, data.columns, strict=True):
        if pa.types.is_string(column.type) or pa.types.is_binary(column.type):
            lengths = pc.binary_length(column)
            longest = pc.max(lengths).as_py() or 0
            if longest > limits.max_cell_bytes:
                row = pc.index(lengths, longest).as_py()
                raise IngestError(
                    422,
                    f"column {name!r}, row {row + 1}: a value of {longest} bytes; the limit for one value "
                    f"is {limits.max_cell_bytes} bytes (CQOX_MAX_CELL_BYTES)",
                )
    table.data = data.rename_columns(names)
    return table


def write_parquet(data: pa.Table, path: Path) -> list[ColumnSchema]:
    """Write the table as Parquet once; return the Arrow schema as column descriptions."""
    pq.write_table(data, path, compression="zstd")
    return [ColumnSchema(name=f.name, dtype=str(f.type), nullable=f.nullable) for f in data.schema]
