""".xls and .ods workbooks, zip containers whose declared sizes lie, and the streamed conversion."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xlwt  # type: ignore[import-untyped]

from cqox_ingest import conversion
from cqox_ingest.conversion import convert
from cqox_ingest.profiling import profile
from cqox_ingest.readers import IngestError, Limits, read_table, sniff_format
from cqox_ingest.readers import delimited as delimited_reader

# ---- .xls and .ods -----------------------------------------------------------------------------


def test_xls_workbook(tmp_path: Path) -> None:
    book = xlwt.Workbook(encoding="utf-8")
    book.add_sheet("空")
    sheet = book.add_sheet("データ")
    dated = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for c, name in enumerate(["顧客", "売上", "施策", "日付"]):
        sheet.write(0, c, name)
    for r, (who, amount, flag, day) in enumerate(
        [("田中", 1.5, True, date(2024, 1, 31)), ("佐藤", 2, False, date(2024, 2, 1))], start=1
    ):
        sheet.write(r, 0, who)
        sheet.write(r, 1, amount)
        sheet.write(r, 2, flag)
        sheet.write(r, 3, day, dated)
    path = tmp_path / "book.bin"  # the extension is irrelevant
    book.save(str(path))
    assert sniff_format(path) == "xls"
    table = read_table(path, "book.bin")
    assert table.file_format == "xls"
    assert table.data.column_names == ["顧客", "売上", "施策", "日付"]
    assert table.data.column("売上").to_pylist() == [1.5, 2.0]
    assert table.data.column("施策").to_pylist() == [True, False]
    assert table.data.column("日付").to_pylist() == [date(2024, 1, 31), date(2024, 2, 1)]
    assert "sheet 'データ' of 2" in table.notes


def test_ods_workbook(tmp_path: Path) -> None:
    path = tmp_path / "book.ods"
    frame = pd.DataFrame({"単位": ["u1", "u2", "u3"], "処置": [1, 0, 1], "結果": [1.5, 2.5, None]})
    with pd.ExcelWriter(path, engine="odf") as writer:
        frame.to_excel(writer, sheet_name="data", index=False)
    assert sniff_format(path) == "ods"
    table = read_table(path, "book.ods")
    assert table.file_format == "ods"
    assert table.data.column_names == ["単位", "処置", "結果"]
    assert table.data.schema.field("処置").type == pa.int64()
    assert table.data.column("結果").to_pylist() == [1.5, 2.5, None]


# ---- zip containers that lie about their sizes -------------------------------------------------


def _lie(data: bytes, member: str, size: int) -> bytes:
    """Rewrite the declared uncompressed size of `member` in the local header and central directory."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(member)
    struct.pack_into("<L", out, info.header_offset + 22, size)
    at = 0
    while (at := out.find(b"PK\x01\x02", at)) >= 0:
        name_length = struct.unpack_from("<H", out, at + 28)[0]
        if bytes(out[at + 46 : at + 46 + name_length]) == member.encode():
            struct.pack_into("<L", out, at + 24, size)
        at += 4
    return bytes(out)


def _zip(member: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, content)
    return buffer.getvalue()


def test_a_zip_bomb_that_declares_a_small_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    path.write_bytes(_lie(_zip("data.csv", b"a\n" + b"0" * (40 << 20)), "data.csv", 100))
    assert zipfile.ZipFile(path).getinfo("data.csv").file_size == 100  # the directory lies
    with pytest.raises(IngestError) as info:
        read_table(path, "bomb.zip", limits=Limits(max_inflated_bytes=32 << 20))
    assert info.value.status_code == 413 and "zip bomb" in info.value.message


def test_a_zip_that_lies_within_the_limits_is_refused_as_damaged(tmp_path: Path) -> None:
    path = tmp_path / "lie.zip"
    path.write_bytes(_lie(_zip("data.csv", b"a,b\n" + b"1,2\n" * 1000), "data.csv", 8))
    with pytest.raises(IngestError) as info:
        read_table(path, "lie.zip")
    assert info.value.status_code == 422 and "declares 8 bytes and holds 4004" in info.value.message


def test_an_xlsx_whose_sheet_declares_a_small_size_is_refused(
    tmp_path: Path, write_xlsx: Callable[..., Any]
) -> None:
    honest = write_xlsx(tmp_path / "b.xlsx", {"s": [["a"], [1]]}, padding=80 << 20)
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(_lie(honest.read_bytes(), "xl/worksheets/sheet1.xml", 1000))
    with pytest.raises(IngestError) as info:
        read_table(path, "bomb.xlsx")
    assert info.value.status_code == 413 and "zip bomb" in info.value.message


def test_an_honest_zip_is_read(tmp_path: Path) -> None:
    path = tmp_path / "ok.zip"
    path.write_bytes(_zip("d.csv", b"id,y\n1,2.5\n2,3.5\n"))
    table = read_table(path, "ok.zip")
    assert table.file_format == "csv+zip" and table.data.column("y").to_pylist() == [2.5, 3.5]


# ---- the streamed conversion --------------------------------------------------------------------


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stream in 4 KiB blocks so that small files span many batches."""
    monkeypatch.setattr(delimited_reader, "STREAM_BLOCK_BYTES", 4096)
    monkeypatch.setattr(conversion, "ROW_GROUP_ROWS", 500)


def _csv(tmp_path: Path, lines: list[str], name: str = "d.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_streamed_conversion_matches_the_whole_file(tmp_path: Path, small_blocks: None) -> None:
    lines = ["id;amount;flag;when;region;empty"]
    lines += [
        f"{i};{i},5;{'はい' if i % 2 else 'いいえ'};2024/01/{i % 28 + 1:02d};関東;" for i in range(3000)
    ]
    path = _csv(tmp_path, lines)
    result = convert(path, tmp_path / "d.parquet", "d.csv")
    written = pq.read_table(tmp_path / "d.parquet")
    assert pq.ParquetFile(tmp_path / "d.parquet").metadata.num_row_groups > 1
    whole = read_table(path, "d.csv").data
    assert written.equals(whole)
    assert result.n_rows == 3000 and result.file_format == "csv"
    assert [c.dtype for c in result.columns] == ["int64", "double", "bool", "date32[day]", "string", "null"]
    assert "column 'amount': numbers with decimal commas read as double" in result.notes
    assert result.profile == profile(whole)
    amount = next(c for c in result.profile.columns if c.name == "amount")
    assert (amount.min, amount.max, amount.distinct_count) == (0.5, 2999.5, 3000)


@pytest.mark.parametrize(
    ("late", "column", "expected"),
    [
        ("abc", "x", "string"),  # numbers, then text: stays text, as a whole-file read decides
        ("7.5", "x", "double"),  # integers, then a decimal
        ("31/1/2024", "d", "date32[day]"),  # month-first until a day above 12 appears
    ],
)
def test_a_late_block_that_breaks_the_first_blocks_types_is_read_whole(
    tmp_path: Path, small_blocks: None, late: str, column: str, expected: str
) -> None:
    rows = [f"{i},{i % 10},1/{i % 12 + 1}/2024" for i in range(2000)]
    if column == "x":
        rows.append(f"2000,{late},1/1/2024")
    else:
        rows.append(f"2000,1,{late}")
    path = _csv(tmp_path, ["id,x,d", *rows])
    result = convert(path, tmp_path / "d.parquet", "d.csv")
    assert {c.name: c.dtype for c in result.columns}[column] == expected
    assert pq.read_table(tmp_path / "d.parquet").num_rows == result.n_rows == 2001


def test_errors_found_late_in_a_stream_still_name_the_line(tmp_path: Path, small_blocks: None) -> None:
    path = _csv(tmp_path, ["a,b", *[f"{i},{i}" for i in range(3000)], "1,2,3"])
    with pytest.raises(IngestError, match="line 3002 has 3 fields"):
        convert(path, tmp_path / "d.parquet", "d.csv")
