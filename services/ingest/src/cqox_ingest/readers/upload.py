"""An uploaded file as a checked table or stream: decompress, sniff the content, pick a reader."""

from __future__ import annotations

import gzip
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from cqox_ingest.readers.archive import Budget, check_declared, inflate
from cqox_ingest.readers.base import IngestError, Limits, Table, TableStream, too_large_to_read_whole
from cqox_ingest.readers.checks import checked, checked_stream
from cqox_ingest.readers.columnar import read_arrow, read_parquet, stream_columnar
from cqox_ingest.readers.delimited import (
    explain_parse_error,
    is_parse_error,
    read_delimited,
    stream_delimited,
)
from cqox_ingest.readers.encoding import detect_encoding
from cqox_ingest.readers.excel import read_excel
from cqox_ingest.readers.jsonl import read_json, refuse_json, stream_ndjson
from cqox_ingest.readers.sniff import sniff_format
from cqox_ingest.readers.values import PlanBroken

COPY_CHUNK = 1 << 20
STREAM_ROWS = 1 << 16


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
    except PlanBroken as exc:
        stream = open_stream(
            path, filename, encoding=encoding, sheet=sheet, limits=limits, whole=True, because=str(exc)
        )
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
    because: str = "",
) -> TableStream:
    """An uploaded file as a checked, typed stream of record batches.

    Delimited text is parsed block by block (memory bounded by a few blocks); other formats are
    read whole and then streamed. The batches may raise `PlanBroken` while delimited text is
    streamed (a later block breaks the types chosen on the first): open again with `whole=True`,
    which reads the file at once exactly as `read_delimited` does, up to
    `limits.max_whole_read_bytes` (`because` says why the stream broke): a larger file is streamed
    again if only quoted line breaks broke it, else refused (413, or 422 naming a malformed line).
    NDJSON streams the same way. IngestError (4xx) may come from opening or from any batch.
    """
    source = _source(path, filename, limits)
    if source.kind == "text":
        if not whole:
            try:
                stream = stream_delimited(source.path, encoding=encoding, limits=limits, hint=source.hint)
            except PlanBroken as exc:
                because = str(exc)
            else:
                return checked_stream(_labelled(stream, source), limits)
        if source.path.stat().st_size > limits.max_whole_read_bytes:
            return checked_stream(_labelled(_large_text(source, because, encoding, limits), source), limits)
    if source.kind in ("parquet", "arrow") and not whole:
        try:
            typed = stream_columnar(source.path, source.kind)
        except PlanBroken as exc:
            because = str(exc)
        else:
            return checked_stream(_labelled(typed, source), limits)
    if source.kind in ("parquet", "arrow") and source.path.stat().st_size > limits.max_whole_read_bytes:
        raise too_large_to_read_whole(
            source.path.stat().st_size,
            limits,
            f"its column types cannot be settled from its first rows ({because})",
            "store each column as one type (text, number or date), integers as int64",
        )
    if source.kind == "json" and not whole:
        try:
            streamed = stream_ndjson(source.path, encoding=detect_encoding(source.path, encoding))
        except PlanBroken as exc:
            because = str(exc)
        else:
            if streamed is not None:
                return checked_stream(_labelled(streamed, source), limits)
    if source.kind == "json" and source.path.stat().st_size > limits.max_whole_read_bytes:
        raise refuse_json(source.path, detect_encoding(source.path, encoding), limits, because)
    table = _whole(source, filename, encoding=encoding, sheet=sheet, limits=limits)
    return TableStream(
        table.data.schema,
        iter(table.data.to_batches(max_chunksize=STREAM_ROWS)),
        table.file_format,
        table.notes,
        table.encoding,
    )


def _labelled(stream: TableStream, source: _Source) -> TableStream:
    if source.inner_note:
        stream.notes.insert(0, source.inner_note)
        stream.file_format = f"{stream.file_format}+{'gz' if source.outer == 'gzip' else 'zip'}"
    return stream


def _large_text(source: _Source, because: str, encoding: str | None, limits: Limits) -> TableStream:
    """Delimited text too large to read whole, whose first stream broke `because`."""
    if not is_parse_error(because):
        raise _refusal(source, because, encoding, limits)
    try:  # quoted line breaks in values need Arrow's slower serial mode
        stream = stream_delimited(
            source.path, encoding=encoding, limits=limits, hint=source.hint, newlines_in_values=True
        )
    except PlanBroken as exc:
        raise _refusal(source, str(exc), encoding, limits) from exc
    batches = stream.batches

    def guarded() -> Iterator[pa.RecordBatch]:
        try:
            yield from batches
        except PlanBroken as exc:
            raise _refusal(source, str(exc), encoding, limits) from exc

    stream.batches = guarded()
    return stream


def _refusal(source: _Source, reason: str, encoding: str | None, limits: Limits) -> IngestError:
    if is_parse_error(reason):
        return explain_parse_error(source.path, reason, encoding=encoding, limits=limits, hint=source.hint)
    return too_large_to_read_whole(
        source.path.stat().st_size,
        limits,
        f"the column types of this file change after its first rows ({reason})",
        "give each column values of one type throughout (or leave them blank), or upload Parquet",
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
        return read_json(path, encoding=detect_encoding(path, encoding), limits=limits)
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
    except (OSError, EOFError, zlib.error) as exc:  # zlib.error: a damaged deflate stream
        raise IngestError(422, f"the gzip file is damaged: {exc}") from exc
    return target, ""
