"""The check that keeps calamine from allocating a sheet's whole span: it finds what the pattern
`_CELL_REFERENCE` finds (scanned with numpy), refuses references past Excel's grid and spans past
the limit with a 422 naming them, and lets ordinary sheets through."""

from __future__ import annotations

import random
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cqox_ingest.readers import excel as excel_reader
from cqox_ingest.readers.base import IngestError, Limits

# The scan alone, and the one pass that also counts the inflated bytes (what the reader calls).
CHECKS: dict[str, Callable[[Path], None]] = {
    "references": excel_reader.check_cell_references,
    "workbook": lambda path: excel_reader.check_workbook(path, Limits()),
}


def _letters(column: int) -> str:
    name = ""
    while column:
        column, rest = divmod(column - 1, 26)
        name = chr(65 + rest) + name
    return name


def _sheet_xml(rng: random.Random) -> bytes:
    """Sheet XML with the shapes real files have: attributes in any order, row elements with their
    own r=, inline text that contains r=\"…\" (not a reference), and a few odd references."""
    rows = []
    for row in range(1, 400):
        cells = []
        for column in rng.sample(range(1, 60), 5):
            ref = f"{_letters(column)}{row}"
            attributes = [f'r="{ref}"', 's="1"', 't="inlineStr"']
            rng.shuffle(attributes)
            text = rng.choice(["plain", 'say r="ZZZZ9" aloud', 'x r="A1"', "<tag>".replace("<", "&lt;")])
            cells.append(f"<c {' '.join(attributes)}><is><t>{text}</t></is></c>")
        if row % 97 == 0:
            cells.append('<c r="a1"/><c r="B"/><c r="12"/>')  # not references by the pattern
        rows.append(f'<row r="{row}" spans="1:60">{"".join(cells)}</row>')
    return ("<worksheet><sheetData>" + "".join(rows) + "</sheetData></worksheet>").encode()


def _by_pattern(text: bytes) -> list[tuple[int, int]]:
    found = []
    for letters, digits in excel_reader._CELL_REFERENCE.findall(text):
        column = 0
        for letter in letters:
            column = column * 26 + letter - 64
        found.append((int(digits), column))
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_numpy_scan_finds_what_the_pattern_finds(seed: int) -> None:
    text = _sheet_xml(random.Random(seed))
    found = excel_reader._references(text + b" " * 64)  # the last reference is not left to a next piece
    assert not found.outside.any()
    assert list(zip(found.rows.tolist(), found.columns.tolist(), strict=True)) == _by_pattern(text)


@pytest.mark.parametrize(
    "text",
    [b'<c s="1" r="B7"', b'<x r="B7" ', b'<row r="7"><c r="C7"', b'r="A1"', b'<c <c r="D9"', b""],
)
def test_pieces_without_a_closing_bracket_are_scanned_as_the_pattern_scans_them(text: bytes) -> None:
    found = excel_reader._references(text + b" " * 64)
    assert list(zip(found.rows.tolist(), found.columns.tolist(), strict=True)) == _by_pattern(text)


def _with_cell(tmp_path: Path, write_xlsx: Callable[..., Any], extra: str) -> Path:
    """An ordinary workbook whose sheet gets one more cell element."""
    path = write_xlsx(tmp_path / "book.xlsx", {"s": [["a", "b"], [1, 2], [3, 4]]})
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    parts["xl/worksheets/sheet1.xml"] = sheet.replace(b"</row>", extra.encode() + b"</row>", 1)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize(
    ("cell", "named"),
    [
        ('<c r="XFE1"><v>1</v></c>', "XFE1"),  # one column past XFD
        ('<c s="1" r="A1048577"><v>1</v></c>', "A1048577"),  # one row past the last
        ('<c r="ABCDE12"><v>1</v></c>', "ABCDE12"),
        ('<c r="G59999999999999999999999"><v>1</v></c>', "G59999999999999999999"),  # digits cut at 20
    ],
)
def test_a_reference_past_the_grid_is_refused_by_name(
    tmp_path: Path, write_xlsx: Callable[..., Any], cell: str, named: str, check: str
) -> None:
    with pytest.raises(IngestError) as info:
        CHECKS[check](_with_cell(tmp_path, write_xlsx, cell))
    assert info.value.status_code == 422
    assert f"refers to cell {named}," in info.value.message


@pytest.mark.parametrize("check", list(CHECKS))
def test_a_stray_cell_far_from_the_data_is_refused_for_its_span(
    tmp_path: Path, write_xlsx: Callable[..., Any], check: str
) -> None:
    with pytest.raises(IngestError, match=r"spans 17179869184 cells .*the limit is 33554432"):
        CHECKS[check](_with_cell(tmp_path, write_xlsx, '<c r="XFD1048576"><v>1</v></c>'))
    CHECKS[check](_with_cell(tmp_path, write_xlsx, '<c r="Z900"><v>1</v></c>'))
