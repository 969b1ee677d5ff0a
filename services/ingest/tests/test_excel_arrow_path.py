"""The .xlsx fast path (fastexcel straight to Arrow) gives the table the cell-by-cell reader gives,
and leaves every sheet it cannot read the same way to that reader."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cqox_ingest.readers import excel as excel_reader
from cqox_ingest.readers.base import Limits

UNIFORM: dict[str, dict[str, list[list[Any]]]] = {
    "numbers, text, booleans": {
        "s": [["id", "y", "name", "flag"], [1, 2.5, "a", True], [2, 3.0, "b", False], [3, -1.25, "", True]]
    },
    "whole numbers past 2**53 stay floats": {"s": [["big"], [2.0**60], [3.0]]},
    "blank rows above and between": {"s": [[], [], ["a", "b"], [1, 2], [None, None], [3, 4]]},
    "ragged rows": {"s": [["a", "b", "c"], [1, 2], [3, 4, 5], [6]]},
    "the first sheet empty": {"cover": [], "data": [["x", "when"], [1, "2024-01-31"], [2, "2024-02-01"]]},
    "a column without values": {"s": [["a", "none"], [1, None], [2, None]]},
}
CELL_BY_CELL: dict[str, list[list[Any]]] = {
    "numbers and text in a column": [["a"], [1], ["x"]],
    "booleans and text in a column": [["f"], [True], ["maybe"]],
    "a number in the header": [["a", 2020], [1, 2]],
    "a boolean in the header": [["a", True], [1, 2]],
    "a blank header cell": [["a", "", "c"], [1, 2, 3]],
    "a repeated header": [["a", "a"], [1, 2]],
    "a header without rows": [["a", "b"]],
}


@pytest.mark.parametrize("case", list(UNIFORM))
def test_a_uniform_sheet_is_read_straight_to_arrow_as_the_cell_reader_reads_it(
    case: str, tmp_path: Path, write_xlsx: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_xlsx(tmp_path / "book.xlsx", UNIFORM[case])
    fast = excel_reader._arrow_sheet(path, None, Limits(), "xlsx")
    assert fast is not None, "the fast path should take this sheet"
    monkeypatch.setattr(excel_reader, "_arrow_sheet", lambda *args: None)
    cells = excel_reader.read_excel(path)
    assert fast.data.schema == cells.data.schema
    assert fast.data.equals(cells.data)
    assert fast.notes == cells.notes


@pytest.mark.parametrize("case", list(CELL_BY_CELL))
def test_a_sheet_the_fast_path_would_read_otherwise_goes_cell_by_cell(
    case: str, tmp_path: Path, write_xlsx: Callable[..., Any]
) -> None:
    path = write_xlsx(tmp_path / "book.xlsx", {"s": CELL_BY_CELL[case]})
    assert excel_reader._arrow_sheet(path, None, Limits(), "xlsx") is None


def test_a_sheet_named_or_numbered_is_the_one_read(tmp_path: Path, write_xlsx: Callable[..., Any]) -> None:
    path = write_xlsx(tmp_path / "book.xlsx", {"a": [["x"], [1]], "b": [["y"], [2]]})
    by_name = excel_reader._arrow_sheet(path, "b", Limits(), "xlsx")
    by_number = excel_reader._arrow_sheet(path, "1", Limits(), "xlsx")
    assert by_name is not None and by_number is not None
    assert by_name.data.column_names == by_number.data.column_names == ["y"]
    assert by_name.notes[0] == "sheet 'b' of 2"
    assert excel_reader._arrow_sheet(path, "nope", Limits(), "xlsx") is None  # the other reader says why
