"""JSON: an array of records or newline-delimited records; nested objects become `a.b` columns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.json as pajson

from cqox_ingest.readers import values
from cqox_ingest.readers.base import IngestError, Table

# A JSON array is parsed whole into Python objects (about 10 times its size); NDJSON streams through Arrow.
MAX_ARRAY_BYTES = 64 << 20


def read_json(path: Path, *, encoding: str = "utf-8") -> Table:
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
    return _read_lines(path, encoding)


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


def _read_lines(path: Path, encoding: str) -> Table:
    if encoding in ("utf-8", "utf-8-sig", "ascii"):
        try:
            data = pajson.read_json(path, read_options=pajson.ReadOptions(block_size=16 << 20))
            flat = data.flatten()
            while any(pa.types.is_struct(f.type) for f in flat.schema):
                flat = flat.flatten()
            table, notes = values.normalize(flat)
            return Table(table, "ndjson", notes)
        except pa.ArrowInvalid:
            pass  # mixed types or a bad line: the record-by-record path says which line
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
