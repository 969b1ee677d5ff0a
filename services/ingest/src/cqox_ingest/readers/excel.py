"""Excel workbooks (.xlsx, .xlsm, .xls, .ods) through calamine, a fast Rust reader."""

from __future__ import annotations

import functools
import itertools
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from python_calamine import CalamineError, CalamineWorkbook

from cqox_ingest.readers import values
from cqox_ingest.readers.archive import check_inflation
from cqox_ingest.readers.base import IngestError, Limits, Table

CHUNK_ROWS = 1 << 16


def read_excel(
    path: Path, *, sheet: str | None = None, limits: Limits = Limits(), kind: str = "xlsx"
) -> Table:
    """Read one sheet (by name or 0-based index; default the first non-empty one) with a header row.

    Rows come from calamine `CHUNK_ROWS` at a time and become typed Arrow columns chunk by chunk, so
    Python objects exist for one chunk at a time, never for the whole sheet (ADR 0009's reader held
    every cell as a Python object: many times the sheet's size).
    """
    if kind != "xls":
        check_inflation(path, limits)  # inflates every part once, counting real bytes
    if kind in ("xlsx", "xlsm"):
        check_cell_references(path)
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        names = list(workbook.sheet_names)
        rows, chosen = _sheet_rows(workbook, names, sheet)
        header_row = next(rows, None)
        if header_row is None:
            raise IngestError(422, f"sheet {chosen!r} has no data")
        width = len(header_row)
        if width > limits.max_columns:
            raise IngestError(422, f"sheet {chosen!r} has {width} columns; the limit is {limits.max_columns}")
        chunks = [_dense(_chunk(body, width)) for body in _batched(rows)]
    except CalamineError as exc:
        raise IngestError(422, f"the workbook cannot be read: {exc}") from exc
    except (ValueError, OSError) as exc:
        raise IngestError(422, f"the workbook cannot be read: {exc}") from exc
    header = [str(cell).strip() if cell not in ("", None) else "" for cell in header_row]
    columns = [_unified([chunk[i] for chunk in chunks]) for i in range(width)]
    while width > 0 and header[width - 1] == "" and columns[width - 1].null_count == len(columns[width - 1]):
        width -= 1  # blank trailing columns (formatting beyond the data)
    header = [name or f"column_{i + 1}" for i, name in enumerate(header[:width])]
    data = pa.table(columns[:width], names=header)
    data, notes = values.normalize(data)
    notes = [f"sheet {chosen!r}" + (f" of {len(names)}" if len(names) > 1 else ""), *notes]
    return Table(data, kind, notes)


# Excel's own grid, and the dense range calamine builds from a sheet's extreme cells (a cell far out
# makes it allocate rows by columns cells: "G5999…" once asked for a terabyte and aborted the process).
EXCEL_ROWS, EXCEL_COLUMNS = 1 << 20, 1 << 14
MAX_SHEET_CELLS = 1 << 25
_CELL_REFERENCE = re.compile(rb'<c [^>]*?r="([A-Z]+)([0-9]+)"')
_SCAN_CHUNK = 1 << 20


def check_cell_references(path: Path) -> None:
    """422 for a worksheet whose cell references leave Excel's grid or span more cells than the
    reader may hold, before calamine sees it (it would allocate the whole span, or abort)."""
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                _check_sheet_part(archive, info)


def _check_sheet_part(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    rows: list[int] = []
    columns: list[int] = []
    tail = b""
    with archive.open(info) as part:
        while chunk := part.read(_SCAN_CHUNK):
            text, tail = tail + chunk, chunk[-256:]
            for letters, digits in _CELL_REFERENCE.findall(text):
                row, column = _cell_position(letters, digits)
                if row > EXCEL_ROWS or column > EXCEL_COLUMNS:
                    raise IngestError(
                        422,
                        f"{info.filename} refers to cell {letters.decode()}{digits.decode()[:20]}, "
                        f"outside Excel's {EXCEL_ROWS} rows × {EXCEL_COLUMNS} columns: the workbook "
                        "is damaged; save it again from Excel or upload the sheet as CSV",
                    )
                rows.append(row)
                columns.append(column)
            if len(rows) > 1 << 16:  # keep the extremes only
                rows, columns = [min(rows), max(rows)], [min(columns), max(columns)]
    if rows:
        span = (max(rows) - min(rows) + 1) * (max(columns) - min(columns) + 1)
        if span > MAX_SHEET_CELLS:
            raise IngestError(
                422,
                f"{info.filename} spans {span} cells (rows {min(rows)}–{max(rows)}, columns "
                f"{min(columns)}–{max(columns)}); the limit is {MAX_SHEET_CELLS}: remove the stray "
                "cells far from the data, or upload the sheet as CSV",
            )


def _cell_position(letters: bytes, digits: bytes) -> tuple[int, int]:
    """(row, column), both from 1, of a reference like b"AB", b"12"; past the grid if absurdly long."""
    if len(digits) > 8 or len(letters) > 3:
        return EXCEL_ROWS + 1, EXCEL_COLUMNS + 1
    column = 0
    for letter in letters:
        column = column * 26 + letter - 64
    return int(digits), column


def _filled(row: list[Any]) -> bool:
    # any() is a fast first test; 0 and False are values, "" and None are not
    return any(row) or any(cell not in ("", None) for cell in row)


def _leading(rows: Iterator[list[Any]]) -> Iterator[list[Any]]:
    """Rows from the first non-blank one on (blank rows further down are dropped in bulk, `_dense`)."""
    for row in rows:
        if _filled(row):
            return itertools.chain([row], rows)
    return iter(())


def _dense(parts: list[_Part]) -> list[_Part]:
    """A chunk without its blank rows (every cell empty), found with Arrow rather than row by row."""
    if not parts:
        return parts
    filled = functools.reduce(pc.or_, [pc.is_valid(p.array) for p in parts])
    if filled.false_count == 0:
        return parts
    return [_Part(p.array.filter(filled), p.kinds) for p in parts]


def _sheet_rows(workbook: Any, names: list[str], sheet: str | None) -> tuple[Iterator[list[Any]], str]:
    """The chosen sheet's non-blank rows, as an iterator, and the sheet's name."""
    if sheet is not None:
        if sheet in names:
            chosen = sheet
        elif sheet.isdigit() and int(sheet) < len(names):
            chosen = names[int(sheet)]
        else:
            raise IngestError(422, f"no sheet {sheet!r}; the workbook has {names}")
        return _leading(workbook.get_sheet_by_name(chosen).iter_rows()), chosen
    for name in names:
        rows = _leading(workbook.get_sheet_by_name(name).iter_rows())
        first = next(rows, None)
        if first is not None:
            return itertools.chain([first], rows), name
    raise IngestError(422, f"every sheet of the workbook is empty ({names})")


def _batched(rows: Iterator[list[Any]]) -> Iterator[list[list[Any]]]:
    while body := list(itertools.islice(rows, CHUNK_ROWS)):
        yield body


@dataclass
class _Part:
    """One chunk of one column: its Arrow array and the Python types of its cells."""

    array: pa.Array
    kinds: frozenset[type]


def _chunk(body: list[list[Any]], width: int) -> list[_Part]:
    cells: list[Sequence[Any]]
    try:  # calamine's rows are rectangular: transpose in C
        cells = list(zip(*body, strict=True))
    except ValueError:
        cells = [[row[i] if i < len(row) else None for row in body] for i in range(width)]
    if len(cells) != width:
        cells = [[row[i] if i < len(row) else None for row in body] for i in range(width)]
    return [_part(column) for column in cells]


def _part(cells: Sequence[Any]) -> _Part:
    cleaned = [None if c == "" else c for c in cells] if "" in cells else list(cells)
    kinds = frozenset(map(type, cleaned)) - {type(None)}
    return _Part(_column(cleaned, kinds), kinds)


def _unified(parts: list[_Part]) -> pa.ChunkedArray:
    """The chunks of one column as one column, typed by the same rules as `_column` over all its cells."""
    kinds = frozenset[type]().union(*(p.kinds for p in parts))
    target: pa.DataType
    if kinds <= {int, float}:
        if kinds == {float}:  # whole numbers become integers only if every chunk's are
            whole = all(p.array.type == pa.int64() for p in parts if p.kinds)
            target = pa.int64() if whole else pa.float64()
        else:
            target = pa.int64() if kinds == {int} else pa.float64()
    elif kinds == {bool}:
        target = pa.bool_()
    elif kinds <= {date}:
        target = pa.date32()
    elif kinds <= {datetime, date}:
        target = pa.timestamp("s")
    else:
        target = pa.string()
    return pa.chunked_array([_as(p.array, target) for p in parts], target)


def _as(array: pa.Array, target: pa.DataType) -> pa.Array:
    if array.null_count == len(array):
        return pa.nulls(len(array), target)
    if array.type == target:
        return array
    if target == pa.string() and not pa.types.is_integer(array.type):
        return pa.array([None if v is None else _cell_text(v) for v in array.to_pylist()], pa.string())
    return array.cast(target)


def _column(cleaned: list[Any], kinds: frozenset[type]) -> pa.Array:
    """One typed Arrow column from a sheet column's cells (blank cells already None) and their types."""
    if kinds <= {int, float}:
        if kinds == {float}:
            numbers = pa.array(cleaned, pa.float64())
            # Whole numbers stored as floats (Excel's only number type) become integers, as long
            # as every one is exact in a float (|x| < 2**53).
            whole = pc.all(pc.equal(numbers, pc.floor(numbers))).as_py() is not False
            if whole and (pc.max(pc.abs(numbers)).as_py() or 0) < 2**53:
                return numbers.cast(pa.int64())
            return numbers
        return pa.array(cleaned, pa.int64() if kinds == {int} else pa.float64())
    if kinds == {bool}:
        return pa.array(cleaned, pa.bool_())
    if kinds <= {date}:
        return pa.array(cleaned, pa.date32())
    if kinds <= {datetime, date}:
        return pa.array([_stamp(c) for c in cleaned], pa.timestamp("s"))
    if kinds == {str}:
        return pa.array(cleaned, pa.string())
    return pa.array([None if c is None else _cell_text(c) for c in cleaned], pa.string())


def _stamp(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, time())


def _cell_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, timedelta):
        return str(value)
    return str(value)
