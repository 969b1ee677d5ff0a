"""JSON: an array of records or newline-delimited records; nested objects become `a.b` columns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.json as pajson

from cqox_ingest.readers import values
from cqox_ingest.readers.base import IngestError, Limits, Table, TableStream, too_large_to_read_whole

# A JSON array is parsed whole into Python objects (about 10 times its size); NDJSON streams through Arrow.
MAX_ARRAY_BYTES = 64 << 20
STREAM_BLOCK_BYTES = 1 << 20
PYTHON_RECORDS_FACTOR = 8  # records as Python objects take ~8x what Arrow's reader takes
UTF8 = ("utf-8", "utf-8-sig", "ascii")


def _is_array(path: Path, encoding: str) -> bool:
    with path.open("rb") as handle:
        first = handle.read(4096).decode(encoding, errors="replace").lstrip("\ufeff \t\r\n")
    return first.startswith("[")


def _flat(batch: pa.RecordBatch) -> pa.Table:
    flat = pa.Table.from_batches([batch]).flatten()
    while any(pa.types.is_struct(f.type) for f in flat.schema):
        flat = flat.flatten()
    return flat


def stream_ndjson(path: Path, *, encoding: str = "utf-8") -> TableStream | None:
    """UTF-8 NDJSON as a stream of flat, typed record batches (bounded memory), or None for a JSON
    array or another encoding. Types are taken from the first block; a later line that is not valid
    JSON, or whose fields or types differ, raises `values.PlanBroken` (the caller reads whole, or
    refuses a large file with `refuse_json`)."""
    if encoding not in UTF8 or _is_array(path, encoding):
        return None
    normalize = values.BatchNormalizer()
    try:
        reader = pajson.open_json(path, read_options=pajson.ReadOptions(block_size=STREAM_BLOCK_BYTES))
        first = next((b for b in reader if b.num_rows), None)
    except pa.ArrowInvalid as exc:
        raise values.PlanBroken(str(exc)) from exc
    if first is None:
        raise values.PlanBroken("no records")
    head = normalize(_flat(first).combine_chunks().to_batches()[0])
    notes: list[str] = []

    def batches() -> Iterator[pa.RecordBatch]:
        yield head
        try:
            for batch in reader:
                if batch.num_rows:
                    for part in _flat(batch).to_batches():
                        yield normalize(part)
        except pa.ArrowInvalid as exc:
            raise values.PlanBroken(str(exc)) from exc
        notes.extend(normalize.notes(head.schema, {}))

    return TableStream(head.schema, batches(), "ndjson", notes, None)


def bad_line(path: Path, encoding: str) -> IngestError | None:
    """The first NDJSON line that is not a JSON object (422 naming it), found by a streaming scan."""
    try:
        with path.open(encoding=encoding, errors="strict") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    return IngestError(422, f"invalid JSON at line {number}, column {exc.colno}: {exc.msg}")
                if not isinstance(record, dict):
                    return IngestError(
                        422, f"line {number} is not a JSON object; NDJSON needs one object per line"
                    )
    except UnicodeDecodeError as exc:
        return IngestError(422, f"the JSON file is not valid {encoding} text (byte {exc.start})")
    return None


def refuse_json(path: Path, encoding: str, limits: Limits, because: str) -> IngestError:
    """Why a JSON file over the limit for reading whole is refused: its first malformed line (422),
    else 413 saying what would need the whole file."""
    size = path.stat().st_size
    if _is_array(path, encoding):
        return too_large_to_read_whole(
            size, limits, "a JSON array is parsed whole", "send NDJSON (one object per line)"
        )
    if (bad := bad_line(path, encoding)) is not None:
        return bad
    if encoding not in UTF8:
        return too_large_to_read_whole(
            size, limits, f"NDJSON in {encoding} is read record by record", "re-encode it as UTF-8"
        )
    return too_large_to_read_whole(
        size,
        limits,
        f"the fields or types of its records change after the first ones ({because})",
        "give every record the same fields with values of one type (null where missing)",
    )


def read_json(path: Path, *, encoding: str = "utf-8", limits: Limits = Limits()) -> Table:
    """Read JSON records (array or NDJSON) into a flat, typed Arrow table."""
    with path.open("rb") as handle:
        first = handle.read(4096).decode(encoding, errors="replace").lstrip("\ufeff \t\r\n")
    if first.startswith("["):
        size = path.stat().st_size
        if size > MAX_ARRAY_BYTES:
            raise IngestError(
                413,
                f"a JSON array of {size} bytes is over the {MAX_ARRAY_BYTES}-byte limit for arrays; "
                "send NDJSON (one object per line), which has only the upload limit",
            )
        return _read_array(path, encoding)
    return _read_lines(path, encoding, limits)


def _read_array(path: Path, encoding: str) -> Table:
    try:
        records = json.loads(path.read_text(encoding=encoding).lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        raise IngestError(422, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    except UnicodeDecodeError as exc:
        raise IngestError(422, f"the JSON file is not valid {encoding} text (byte {exc.start})") from exc
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise IngestError(422, "JSON must be an array of objects (records), one object per row")
    return _frame(records, "json")


def _read_lines(path: Path, encoding: str, limits: Limits) -> Table:
    if encoding in ("utf-8", "utf-8-sig", "ascii"):
        try:
            data = pajson.read_json(path, read_options=pajson.ReadOptions(block_size=16 << 20))
            flat = data.flatten()
            while any(pa.types.is_struct(f.type) for f in flat.schema):
                flat = flat.flatten()
            table, notes = values.normalize(flat)
            return Table(table, "ndjson", notes)
        except pa.ArrowInvalid as exc:
            # Mixed types or a bad line: a streaming scan names a bad line; mixed types are read
            # as Python records below.
            if (bad := bad_line(path, encoding)) is not None:
                raise bad from exc
            why = f"a field of its records holds values of different types ({exc})"
    else:
        why = f"NDJSON in {encoding} is read record by record"
    bound = limits.max_whole_read_bytes // PYTHON_RECORDS_FACTOR  # Python records: ~20x the file
    if path.stat().st_size > bound:
        raise too_large_to_read_whole(
            path.stat().st_size,
            Limits(max_whole_read_bytes=bound),
            why,
            "give each field values of one type (null where missing), in UTF-8",
        )
    records: list[dict[str, Any]] = []
    with path.open(encoding=encoding, errors="strict") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise IngestError(
                    422, f"invalid JSON at line {number}, column {exc.colno}: {exc.msg}"
                ) from exc
            if not isinstance(record, dict):
                raise IngestError(
                    422, f"line {number} is not a JSON object; NDJSON needs one object per line"
                )
            records.append(record)
    return _frame(records, "ndjson")


def _frame(records: list[dict[str, Any]], kind: str) -> Table:
    if not records:
        raise IngestError(422, "the JSON file has no records")
    frame = pd.json_normalize(records, sep=".")
    for column in frame.columns:  # mixed scalar types: keep them as text rather than fail
        if frame[column].dtype == object:
            frame[column] = frame[column].map(lambda v: v if v is None or isinstance(v, str) else _text(v))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table, notes = values.normalize(table)
    return Table(table, kind, notes)


def _text(value: Any) -> str | None:
    if isinstance(value, float) and value != value:
        return None
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else str(value)
