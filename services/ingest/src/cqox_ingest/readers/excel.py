"""Excel workbooks (.xlsx, .xlsm, .xls, .ods) through calamine, a fast Rust reader."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from python_calamine import CalamineError, CalamineWorkbook

from cqox_ingest.readers import values
from cqox_ingest.readers.archive import check_inflation
from cqox_ingest.readers.base import IngestError, Limits, Table


def read_excel(
    path: Path, *, sheet: str | None = None, limits: Limits = Limits(), kind: str = "xlsx"
) -> Table:
    """Read one sheet (by name or 0-based index; default the first non-empty one) with a header row."""
    if kind != "xls":
        check_inflation(path, limits)  # inflates every part once, counting real bytes
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        names = list(workbook.sheet_names)
        rows, chosen = _sheet_rows(workbook, names, sheet)
    except CalamineError as exc:
        raise IngestError(422, f"the workbook cannot be read: {exc}") from exc
    except (ValueError, OSError) as exc:
        raise IngestError(422, f"the workbook cannot be read: {exc}") from exc
    rows = [row for row in rows if any(cell not in ("", None) for cell in row)]
    if not rows:
        raise IngestError(422, f"sheet {chosen!r} has no data")
    header = [str(cell).strip() if cell not in ("", None) else "" for cell in rows[0]]
    width = max(len(r) for r in rows)
    while (
        width > 0
        and header[width - 1 : width] == [""]
        and all(len(r) < width or r[width - 1] in ("", None) for r in rows[1:])
    ):
        width -= 1
    if width > limits.max_columns:
        raise IngestError(422, f"sheet {chosen!r} has {width} columns; the limit is {limits.max_columns}")
    header = (header + [""] * width)[:width]
    header = [name or f"column_{i + 1}" for i, name in enumerate(header)]
    body = rows[1:]
    if {len(row) for row in body} == {width}:  # the usual rectangular sheet: transpose in C
        cells: list[Sequence[Any]] = list(zip(*body, strict=True)) if body else [()] * width
    else:
        cells = [[row[i] if i < len(row) else None for row in body] for i in range(width)]
    columns = [_column(column) for column in cells]
    data = pa.table(columns, names=header)
    data, notes = values.normalize(data)
    notes = [f"sheet {chosen!r}" + (f" of {len(names)}" if len(names) > 1 else ""), *notes]
    return Table(data, kind, notes)


def _sheet_rows(workbook: Any, names: list[str], sheet: str | None) -> tuple[list[list[Any]], str]:
    if sheet is not None:
        if sheet in names:
            return workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=True), sheet
        if sheet.isdigit() and int(sheet) < len(names):
            return workbook.get_sheet_by_index(int(sheet)).to_python(skip_empty_area=True), names[int(sheet)]
        raise IngestError(422, f"no sheet {sheet!r}; the workbook has {names}")
    for name in names:
        rows = workbook.get_sheet_by_name(name).to_python(skip_empty_area=True)
        if any(any(cell not in ("", None) for cell in row) for row in rows):
            return rows, name
    raise IngestError(422, f"every sheet of the workbook is empty ({names})")


def _column(cells: Sequence[Any]) -> pa.Array:
    """One typed Arrow column from a sheet column's cells (blank cells are missing)."""
    cleaned = [None if c == "" else c for c in cells]
    kinds = set(map(type, cleaned)) - {type(None)}
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
