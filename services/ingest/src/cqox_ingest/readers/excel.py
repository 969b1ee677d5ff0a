"""Excel workbooks (.xlsx, .xlsm, .xls, .ods) through calamine, a fast Rust reader.

An .xlsx/.xlsm sheet goes straight from calamine to Arrow through fastexcel when every column holds
one kind of cell (numbers, text or booleans) under a header of text: the common export, read with
no Python object per cell. Any other sheet (mixed or date cells, a header with numbers, blanks or
repeats, .xls/.ods) is read through python-calamine's rows, which decide those cases cell by cell.
Both give the same table; the first is about four times faster.
"""

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

import fastexcel
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from python_calamine import CalamineError, CalamineWorkbook

from cqox_ingest.readers import values
from cqox_ingest.readers.archive import Budget, check_declared, check_inflation, inflate
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
    if kind in ("xlsx", "xlsm"):
        check_workbook(path, limits)  # inflates every part once, counting real bytes, scanning sheets
        typed = _arrow_sheet(path, sheet, limits, kind)
        if typed is not None:
            return typed
    elif kind != "xls":
        check_inflation(path, limits)  # inflates every part once, counting real bytes
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


# fastexcel's types that the cell-by-cell reader would give the same column for.
_ARROW_KINDS = frozenset({"float", "string", "boolean", "null"})
_NOT_TEXT = re.compile(r"[\d\s.,:/+\-eETZ]*|true|false|nan|inf", re.IGNORECASE)
_RENAMED = re.compile(r"(.*)_\d+")


def _arrow_sheet(path: Path, sheet: str | None, limits: Limits, kind: str) -> Table | None:
    """The sheet read by fastexcel straight into Arrow and typed as `read_excel` types it, or None
    when the cell-by-cell reader must decide (the sheet is not one fastexcel reads the same way).

    fastexcel names columns from the header row's text (a number or boolean there loses its form,
    a repeated name gets a suffix, a blank one a made-up name) and refuses, in strict mode, a
    column with more than one kind of cell: each of these goes to the other reader, which also
    words every error (a missing sheet, too many columns, a header without rows).
    """
    try:
        reader = fastexcel.read_excel(path)
        names = list(reader.sheet_names)
        if sheet is None:
            candidates = names
        elif sheet in names:
            candidates = [sheet]
        elif sheet.isdigit() and int(sheet) < len(names):
            candidates = [names[int(sheet)]]
        else:
            return None
        for name in candidates:
            loaded = reader.load_sheet(name, schema_sample_rows=None, dtype_coercion="strict")
            found = loaded.available_columns()
            if not found and sheet is None:
                continue  # an empty sheet: the first non-empty one is read
            header = [c.name for c in found]
            if (
                not found
                or len(found) > limits.max_columns
                or any(c.dtype not in _ARROW_KINDS or c.column_name_from != "looked_up" for c in found)
                or any(_NOT_TEXT.fullmatch(n) for n in header)
                or any((renamed := _RENAMED.fullmatch(n)) and renamed.group(1) in header for n in header)
            ):
                return None
            batch = loaded.to_arrow()
            columns = _dense([_Part(_arrow_column(c), frozenset()) for c in batch.columns])
            if not columns or len(columns[0].array) == 0:
                return None
            data, notes = values.normalize(
                pa.table([c.array for c in columns], names=[n.strip() for n in header])
            )
            notes = [f"sheet {name!r}" + (f" of {len(names)}" if len(names) > 1 else ""), *notes]
            return Table(data, kind, notes)
    except fastexcel.FastExcelError:
        return None
    return None


def _arrow_column(cells: pa.Array) -> pa.Array:
    """One fastexcel column typed as `_column` types the same cells: whole numbers as integers
    (while exact in a float), blank text as missing, a column without values as float64."""
    if pa.types.is_string(cells.type) or pa.types.is_large_string(cells.type):
        text = cells.cast(pa.string())
        cells = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    if cells.null_count == len(cells) or pa.types.is_null(cells.type):
        return pa.nulls(len(cells), pa.float64())
    if pa.types.is_floating(cells.type):
        whole = pc.all(pc.equal(cells, pc.floor(cells))).as_py() is not False
        if whole and (pc.max(pc.abs(cells)).as_py() or 0) < 2**53:
            return cells.cast(pa.int64())
        return cells.cast(pa.float64())
    return cells


# Excel's own grid, and the dense range calamine builds from a sheet's extreme cells (a cell far out
# makes it allocate rows by columns cells: "G5999…" once asked for a terabyte and aborted the process).
EXCEL_ROWS, EXCEL_COLUMNS = 1 << 20, 1 << 14
MAX_SHEET_CELLS = 1 << 25
_CELL_REFERENCE = re.compile(rb'<c [^>]*?r="([A-Z]+)([0-9]+)"')
_SCAN_CHUNK = 1 << 20
_SCAN_PIECE = 256 << 10


def check_workbook(path: Path, limits: Limits) -> None:
    """`check_inflation` and `check_cell_references` in one inflation of every part: the real bytes
    are counted (413 past the limits, 422 if the zip is damaged or lies) while the worksheet parts
    stream through the reference scan (a second inflation cost 0.1 s on the bench workbook)."""
    check_declared(path, limits)
    budget = Budget(path, limits)
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            if not _is_sheet_part(info):
                inflate(path, archive, info, budget, None)
                continue
            scan = _SheetScan(info.filename)
            inflate(path, archive, info, budget, scan.feed)
            scan.finish()


def check_cell_references(path: Path) -> None:
    """422 for a worksheet whose cell references leave Excel's grid or span more cells than the
    reader may hold, before calamine sees it (it would allocate the whole span, or abort)."""
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if _is_sheet_part(info):
                scan = _SheetScan(info.filename)
                with archive.open(info) as part:
                    while chunk := part.read(_SCAN_CHUNK):
                        scan.feed(chunk)
                scan.finish()


def _is_sheet_part(info: zipfile.ZipInfo) -> bool:
    return info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")


class _SheetScan:
    """The cell references of one worksheet part, fed a piece at a time (pieces overlap by a tail):
    422 at once for a reference past Excel's grid, at `finish` for a span past MAX_SHEET_CELLS."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tail = b""
        self.rows: list[int] = []
        self.columns: list[int] = []

    def feed(self, chunk: bytes) -> None:
        """Scan one more piece of the part (in pieces of `_SCAN_PIECE` bytes: the scan's arrays
        then stay small enough to be reused, where 1 MiB ones were mapped afresh each time and
        paging cost as much system time as the scan's own CPU)."""
        for start in range(0, len(chunk), _SCAN_PIECE):
            text = self.tail + chunk[start : start + _SCAN_PIECE]
            self.tail = text[-256:]
            self._scan(text)

    def finish(self) -> None:
        """Scan what is left at the end, then refuse a span past the limit."""
        self._scan(self.tail + b" " * _REF_WINDOW)  # a reference in the last bytes is read too
        rows, columns = self.rows, self.columns
        if not rows:
            return
        span = (max(rows) - min(rows) + 1) * (max(columns) - min(columns) + 1)
        if span > MAX_SHEET_CELLS:
            raise IngestError(
                422,
                f"{self.name} spans {span} cells (rows {min(rows)}–{max(rows)}, columns "
                f"{min(columns)}–{max(columns)}); the limit is {MAX_SHEET_CELLS}: remove the stray "
                "cells far from the data, or upload the sheet as CSV",
            )

    def _scan(self, text: bytes) -> None:
        found = _references(text)
        for tag in found.tags[found.outside]:  # the first one the pattern confirms is named
            if (match := _CELL_REFERENCE.match(text, int(tag))) is not None:
                letters, digits = match.groups()
                raise IngestError(
                    422,
                    f"{self.name} refers to cell {letters.decode()}{digits.decode()[:20]}, "
                    f"outside Excel's {EXCEL_ROWS} rows × {EXCEL_COLUMNS} columns: the workbook "
                    "is damaged; save it again from Excel or upload the sheet as CSV",
                )
        inside = ~found.outside
        if inside.any():  # keep the extremes only
            rows, columns = found.rows[inside], found.columns[inside]
            self.rows = [min([*self.rows, int(rows.min())]), max([*self.rows, int(rows.max())])]
            self.columns = [
                min([*self.columns, int(columns.min())]),
                max([*self.columns, int(columns.max())]),
            ]


@dataclass
class _References:
    """The cell references of a piece of sheet XML: where each `<c` tag starts, its row and column
    (from 1), and whether it lies outside Excel's grid (then row and column mean nothing)."""

    tags: np.ndarray
    rows: np.ndarray
    columns: np.ndarray
    outside: np.ndarray


_REF_WINDOW = 14  # bytes after r=" that tell any reference: 4 letters or 9 digits are past the grid


def _references(text: bytes) -> _References:
    """Every reference `<c … r="AB12"` that `_CELL_REFERENCE` finds, found with numpy over the bytes:
    the pattern's per-match objects cost several times the scan (0.7 s for a 60 MB sheet part).
    A reference within `_REF_WINDOW` bytes of the end is left to the next piece (pieces overlap)."""
    data = np.frombuffer(text, np.uint8)
    size = len(data)
    quotes = np.flatnonzero(data == 0x22)
    quotes = quotes[(quotes >= 2) & (quotes + _REF_WINDOW < size)]
    opening = quotes[(data[quotes - 1] == 0x3D) & (data[quotes - 2] == 0x72)]  # r="

    def back(offset: int) -> np.ndarray:  # the byte `offset` before each r=" (0 before the text)
        return np.where(opening >= offset, data[np.maximum(opening - offset, 0)], 0)

    # Excel writes r first: '<c r="' is a cell, '<row r="' a row; only other shapes need the tags.
    cell = (back(5) == 0x3C) & (back(4) == 0x63) & (back(3) == 0x20)
    row = (back(7) == 0x3C) & (back(6) == 0x72) & (back(5) == 0x6F) & (back(4) == 0x77) & (back(3) == 0x20)
    tags = np.where(cell, opening - 5, -1)
    other = ~cell & ~row
    if other.any():
        rest = opening[other]
        starts, ends = np.flatnonzero(data == 0x3C), np.flatnonzero(data == 0x3E)  # < and >
        before = np.searchsorted(starts, rest) - 1
        tag = np.where(before >= 0, starts[np.maximum(before, 0)] if len(starts) else 0, -1)
        closing = np.searchsorted(ends, tag)  # the tag's first '>': after r=" if r=" is in the tag
        within = np.ones(len(rest), bool)
        if len(ends):
            within = (closing >= len(ends)) | (ends[np.minimum(closing, len(ends) - 1)] > rest)
        named = (data[np.clip(tag + 1, 0, size - 1)] == 0x63) & (data[np.clip(tag + 2, 0, size - 1)] == 0x20)
        tags[other] = np.where((tag >= 0) & within & named, tag, -1)
    first = opening[tags >= 0] + 1
    tags = tags[tags >= 0]
    columns = np.zeros(len(first), np.int64)
    letters = np.zeros(len(first), np.int64)
    going = np.ones(len(first), bool)
    for k in range(4):  # a fourth letter puts it past the grid
        byte = data[first + k]
        going &= (byte >= 0x41) & (byte <= 0x5A)
        columns = np.where(going, columns * 26 + byte.astype(np.int64) - 64, columns)
        letters += going
    rows = np.zeros(len(first), np.int64)
    digits = np.zeros(len(first), np.int64)
    going = np.ones(len(first), bool)
    for k in range(9):  # a ninth digit puts it past the grid
        byte = data[first + letters + k]
        going &= (byte >= 0x30) & (byte <= 0x39)
        rows = np.where(going, rows * 10 + byte.astype(np.int64) - 48, rows)
        digits += going
    end = first + letters + digits
    long = (letters > 3) | (digits > 8)  # past the grid, if the pattern confirms it is a reference
    keep = (letters >= 1) & (long | ((digits >= 1) & (data[np.minimum(end, size - 1)] == 0x22)))
    rows, columns = rows[keep], columns[keep]
    outside = long[keep] | (rows > EXCEL_ROWS) | (columns > EXCEL_COLUMNS)
    return _References(tags[keep], rows, columns, outside)


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
