"""Readers on a corpus generated here: every format, the value forms users send, and bad files."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from cqox_contracts.v1 import ColumnSchema
from cqox_ingest.readers import IngestError, Limits, read_table, safe_filename, sniff_format, write_parquet


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _read(tmp_path: Path, name: str, data: bytes, **options: object) -> pa.Table:
    return read_table(_write(tmp_path, name, data), name, **options).data  # type: ignore[arg-type]


# ---- delimited text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "delimiter_note"),
    [
        ("id,treated,y\n1,1,2.5\n2,0,1.5\n", None),
        ("id\ttreated\ty\n1\t1\t2.5\n2\t0\t1.5\n", None),
        ("id|treated|y\n1|1|2.5\n2|0|1.5\n", "pipe-separated"),
        ("id;treated;y\n1;1;2,5\n2;0;1,5\n", "semicolon-separated"),
    ],
)
def test_delimiters_are_sniffed(tmp_path: Path, text: str, delimiter_note: str | None) -> None:
    table = read_table(_write(tmp_path, "d.txt", text.encode()), "d.txt")
    assert table.data.column_names == ["id", "treated", "y"]
    assert table.data.column("y").to_pylist() == [2.5, 1.5]
    assert table.data.schema.field("id").type == pa.int64()
    if delimiter_note:
        assert delimiter_note in table.notes


def test_quoted_delimiters_and_newlines(tmp_path: Path) -> None:
    text = 'id,comment,y\n1,"a, b",1\n2,"line one\nline two",2\n3,"say ""hi""",3\n'
    data = _read(tmp_path, "q.csv", text.encode())
    assert data.column("comment").to_pylist() == ["a, b", "line one\nline two", 'say "hi"']


def test_quoted_newlines_beyond_the_first_block(tmp_path: Path) -> None:
    rows = [f'{i},"x{i}\nmore",{i}' for i in range(400_000)]
    data = _read(tmp_path, "q.csv", ("id,comment,y\n" + "\n".join(rows)).encode())
    assert data.num_rows == 400_000 and data.column("comment")[-1].as_py() == "x399999\nmore"


def test_header_is_detected_or_generated(tmp_path: Path) -> None:
    headless = read_table(_write(tmp_path, "h.csv", b"1,2.5,3\n4,5.5,6\n"), "h.csv")
    assert headless.data.column_names == ["column_1", "column_2", "column_3"]
    assert any("no header" in n for n in headless.notes)
    numeric_names = _read(tmp_path, "n.csv", b"2019,2020\n1,2\n3,4\n")  # ambiguous: numbers both
    assert numeric_names.num_rows == 3
    text_header = _read(tmp_path, "t.csv", b"name,city\nann,paris\nbob,rome\n")
    assert text_header.column_names == ["name", "city"]


def test_title_lines_above_the_header_are_skipped(tmp_path: Path) -> None:
    text = "売上レポート 2024年\n\n顧客,売上,地域\nA,1,東京\nB,2,大阪\n"
    table = read_table(_write(tmp_path, "r.csv", text.encode("cp932")), "r.csv")
    assert table.data.column_names == ["顧客", "売上", "地域"]
    assert table.data.column("売上").to_pylist() == [1, 2]
    assert "skipped 2 title line(s) above the header" in table.notes


def test_single_column(tmp_path: Path) -> None:
    data = _read(tmp_path, "s.csv", b"y\n1\n2\n3\n")
    assert data.column_names == ["y"] and data.num_rows == 3


def test_compressed_csv(tmp_path: Path) -> None:
    text = b"id,y\n1,2\n3,4\n"
    gz = read_table(_write(tmp_path, "d.csv.gz", gzip.compress(text)), "d.csv.gz")
    assert gz.file_format == "csv+gz" and gz.data.num_rows == 2
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inner/data.tsv", text.replace(b",", b"\t"))
    zipped = read_table(_write(tmp_path, "d.zip", buffer.getvalue()), "d.zip")
    assert zipped.file_format == "tsv+zip" and zipped.data.column("y").to_pylist() == [2, 4]


# ---- values ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "first"),
    [
        (["2023年1月", "2023年10月", "2023年2月"], "2023-01-01"),
        (["2023-01", "2023-10", "2023-02"], "2023-01-01"),
        (["2023/1", "2023/10", "2023/2"], "2023-01-01"),
    ],
)
def test_year_months_become_the_first_of_the_month(tmp_path: Path, values: list[str], first: str) -> None:
    # As text they sort 10月 before 2月; as dates they sort in time order.
    text = "store,month\n" + "".join(f"A,{v}\n" for v in values)
    data = _read(tmp_path, "m.csv", text.encode())
    assert str(data.schema.field("month").type) == "date32[day]"
    assert str(data.column("month")[0]) == first
    assert sorted(map(str, data.column("month").to_pylist())) == ["2023-01-01", "2023-02-01", "2023-10-01"]


def test_localized_numbers_na_tokens_booleans_and_dates(tmp_path: Path) -> None:
    text = (
        "id;amount;big;flag;jp;when;eu_date;us_date;note\n"
        "1;1.234,5;1.000.000;yes;はい;2024/01/02;31.12.2023;1/13/2024;NA\n"
        "2;12,5;2.500;no;いいえ;2024/1/3;01.02.2024;2/1/2024;欠損\n"
        "3;-;N/A;null;;2024/01/04;;;\n"
    )
    data = _read(tmp_path, "v.csv", text.encode())
    types = {f.name: str(f.type) for f in data.schema}
    assert data.column("amount").to_pylist() == [1234.5, 12.5, None]
    assert data.column("big").to_pylist() == [1_000_000, 2500, None]
    assert types["big"] == "int64"
    assert data.column("flag").to_pylist() == [True, False, None]
    assert data.column("jp").to_pylist() == [True, False, None]
    assert types["when"] == types["eu_date"] == types["us_date"] == "date32[day]"
    assert str(data.column("eu_date")[0]) == "2023-12-31"
    assert str(data.column("us_date")[0]) == "2024-01-13"
    assert data.column("note").null_count == 3


def test_thousands_commas_in_comma_files(tmp_path: Path) -> None:
    data = _read(tmp_path, "t.csv", b'id,revenue\n1,"1,234.50"\n2,"12,000"\n3,7\n')
    assert data.column("revenue").to_pylist() == [1234.5, 12000.0, 7.0]


def test_text_that_only_looks_numeric_stays_text(tmp_path: Path) -> None:
    data = _read(tmp_path, "z.csv", b"code,y\n00123,1\nA-17,2\n")
    assert data.column("code").to_pylist() == ["00123", "A-17"]


def test_integers_are_64_bit_everywhere(tmp_path: Path) -> None:
    arrow = pa.table(
        {
            "small": pa.array([1, -2, 3], pa.int8()),
            "mid": pa.array([1000, 2000, 3000], pa.int32()),
            "unsigned": pa.array([1, 2, 3], pa.uint16()),
            "nullable": pa.array([1, None, 3], pa.int16()),
            "y": pa.array([0.5, 1.5, None], pa.float64()),
        }
    )
    pq.write_table(arrow, tmp_path / "upload.bin")  # the extension is irrelevant
    table = read_table(tmp_path / "upload.bin", "upload.bin")
    assert table.file_format == "parquet"
    for name in ("small", "mid", "unsigned", "nullable"):
        assert table.data.schema.field(name).type == pa.int64()
    assert table.data.column("nullable").to_pylist() == [1, None, 3]
    pq.write_table(pa.table({"big": pa.array([2**63, 1], pa.uint64())}), tmp_path / "u.parquet")
    big = read_table(tmp_path / "u.parquet", "u.parquet")
    assert big.data.column("big").to_pylist() == [2**63, 1]  # kept unsigned, never wrapped
    assert any("unsigned" in n for n in big.notes)


# ---- JSON, Arrow, Excel ------------------------------------------------------------------------


def test_json_array_is_flattened(tmp_path: Path) -> None:
    records = [
        {"id": 1, "user": {"age": 30, "地域": "東京"}},
        {"id": 2, "user": {"age": None, "地域": "大阪"}},
    ]
    table = read_table(_write(tmp_path, "d.json", json.dumps(records, ensure_ascii=False).encode()), "d.json")
    assert table.file_format == "json"
    assert table.data.column_names == ["id", "user.age", "user.地域"]
    assert table.data.column("user.age").to_pylist() == [30, None]


def test_large_json_arrays_are_refused_with_advice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cqox_ingest.readers import jsonl

    monkeypatch.setattr(jsonl, "MAX_ARRAY_BYTES", 100)
    with pytest.raises(IngestError) as info:
        _read(tmp_path, "big.json", json.dumps([{"a": i} for i in range(50)]).encode())
    assert info.value.status_code == 413 and "send NDJSON" in info.value.message


def test_ndjson(tmp_path: Path) -> None:
    lines = b'{"id": 1, "a": {"b": "x"}}\n{"id": 2, "a": {"b": "y"}}\n'
    table = read_table(_write(tmp_path, "d.data", lines), "d.data")
    assert table.file_format == "ndjson"
    assert table.data.column_names == ["id", "a.b"]


def test_arrow_feather(tmp_path: Path) -> None:
    feather.write_feather(pa.table({"x": pa.array([1, 2], pa.int16()), "名前": ["a", "b"]}), tmp_path / "f")
    table = read_table(tmp_path / "f", "f.feather")
    assert table.file_format == "arrow"
    assert table.data.schema.field("x").type == pa.int64()


def test_excel_first_non_empty_sheet_and_sheet_parameter(
    tmp_path: Path, write_xlsx: Callable[..., Any]
) -> None:
    path = write_xlsx(
        tmp_path / "book.xlsx",
        {
            "表紙": [],
            "データ": [["顧客", "売上", "施策"], ["田中", 1.5, True], ["佐藤", 2, False]],
            "other": [["a", "b"], [1, "x"]],
        },
    )
    table = read_table(path, "book.xlsx")
    assert table.file_format == "xlsx"
    assert table.data.column_names == ["顧客", "売上", "施策"]
    assert table.data.column("施策").to_pylist() == [True, False]
    assert read_table(path, "book.xlsx", sheet="other").data.column_names == ["a", "b"]
    assert read_table(path, "book.xlsx", sheet="2").data.column_names == ["a", "b"]
    with pytest.raises(IngestError, match="no sheet 'nope'"):
        read_table(path, "book.xlsx", sheet="nope")


def test_content_not_extension_decides(tmp_path: Path, write_xlsx: Callable[..., Any]) -> None:
    path = write_xlsx(tmp_path / "x.csv", {"s": [["a"], [1]]})
    assert sniff_format(path) == "xlsx"
    assert read_table(path, "x.csv").file_format == "xlsx"


# ---- bad files ---------------------------------------------------------------------------------


def _parquet_bytes() -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"a": list(range(1000)), "b": [float(i) for i in range(1000)]}), buffer)
    return buffer.getvalue()


def _zip_of(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, b"a,b\n1,2\n")
    return buffer.getvalue()


BAD_INPUTS: list[tuple[str, bytes, int, str]] = [
    ("empty.csv", b"", 400, "empty"),
    ("blank.csv", b"\n\n \n", 400, "empty"),
    ("header.csv", b"id,treated,y\n", 422, "no data rows"),
    ("junk.bin", bytes(range(256)) * 40, 415, "looks binary"),
    ("page.csv", b"<!DOCTYPE html>\n<html><body>Sign in</body></html>\n", 415, "HTML"),
    ("page2.csv", b"  \n<HTML><head></head><body>x</body></HTML>", 415, "HTML"),
    ("dup.csv", b"id,y,y\n1,2,3\n4,5,6\n", 422, "duplicate column names 'y' (columns 2, 3)"),
    ("ragged.csv", b"a,b\n1,2\n3,4\n5,6,7,8\n", 422, "ragged rows: line 4 has 4 fields, the header has 2"),
    ("ragged2.csv", b"Report\na,b\n1,2\n5,6,7\n", 422, "ragged rows: line 4 has 3 fields, the header has 2"),
    (
        "wide.csv",
        (",".join(f"c{i}" for i in range(2500)) + "\n" + ",".join("1" * 2500) + "\n").encode(),
        422,
        "2500 columns; the limit is 2000",
    ),
    ("cell.csv", b"a,b\n1," + b"x" * (2 << 20) + b"\n", 422, "column 'b', row 1: a value of 2097152 bytes"),
    ("huge.csv", b"a,b\n1," + b"x" * (20 << 20) + b"\n2,y\n", 422, "a value of 20971520 bytes"),
    ("bad.json", b'[{"a": 1},\n {"a": }]', 422, "invalid JSON at line 2, column 8"),
    ("bad.ndjson", b'{"a": 1}\n{"a": 2\n', 422, "invalid JSON at line 2"),
    ("scalar.json", b"[1, 2, 3]", 422, "array of objects"),
    ("cut.parquet", _parquet_bytes()[:200], 422, "Parquet file cannot be read"),
    ("tail.parquet", _parquet_bytes()[:-10], 422, "Parquet file cannot be read"),
    ("two.zip", _zip_of("a.csv", "b.csv"), 422, "exactly one data file; this one holds 2"),
    ("nested.gz", gzip.compress(gzip.compress(b"a\n1\n")), 422, "nested archives"),
    ("broken.gz", gzip.compress(b"a,b\n1,2\n" * 100)[:30], 422, "gzip file is damaged"),
    ("bomb.gz", gzip.compress(b"0" * (40 << 20)), 413, "zip bomb"),
]


@pytest.mark.parametrize(("name", "data", "status", "fragment"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_files_say_what_is_wrong(
    tmp_path: Path, name: str, data: bytes, status: int, fragment: str
) -> None:
    path = _write(tmp_path, name, data)
    with pytest.raises(IngestError) as info:
        read_table(path, name, limits=Limits(max_inflated_bytes=32 << 20))
    assert (info.value.status_code, fragment) == (status, fragment) and fragment in info.value.message, (
        info.value.message
    )


def test_xlsx_zip_bomb_is_refused_before_it_is_opened(tmp_path: Path, write_xlsx: Callable[..., Any]) -> None:
    path = write_xlsx(tmp_path / "bomb.xlsx", {"s": [["a"], [1]]}, padding=80 << 20)
    with pytest.raises(IngestError) as info:
        read_table(path, "bomb.xlsx")
    assert info.value.status_code == 413 and "zip bomb" in info.value.message


def test_binary_message_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"photo\.jpg looks binary"):
        read_table(_write(tmp_path, "x", b"\x00\x01\x02junk"), "photo.jpg")


def test_unnamed_columns_are_named_with_a_note(tmp_path: Path) -> None:
    table = read_table(_write(tmp_path, "u.csv", b",a,b\n0,1,2\n1,3,4\n"), "u.csv")
    assert table.data.column_names == ["column_1", "a", "b"]
    assert any("had no name" in n for n in table.notes)


# ---- Parquet writing and file names ----------------------------------------------------------


def test_write_parquet_once_with_the_schema(tmp_path: Path) -> None:
    table = read_table(
        _write(tmp_path, "d.csv", b"id,y,when,ok\n1,2.0,2024-01-01,yes\n2,3.5,2024-01-02,no\n")
    )
    schema = write_parquet(table.data, tmp_path / "d.parquet")
    assert all(isinstance(c, ColumnSchema) for c in schema)
    assert [(c.name, c.dtype) for c in schema] == [
        ("id", "int64"),
        ("y", "double"),
        ("when", "date32[day]"),
        ("ok", "bool"),
    ]
    assert pq.ParquetFile(tmp_path / "d.parquet").metadata.row_group(0).column(0).compression == "ZSTD"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("data.csv", "data.csv"),
        ("../../etc/passwd", "passwd"),
        ("/abs/dir/file.tsv", "file.tsv"),
        ("C:\\Users\\me\\My Data (final).csv", "My_Data_final_.csv"),
        ("売上 2024.csv", "売上_2024.csv"),
        ("weird;name&$.parquet", "weird_name_.parquet"),
        ("nul\x00byte.csv", "nul_byte.csv"),
        (".hidden", "hidden"),
        ("...", "upload"),
        ("", "upload"),
        (None, "upload"),
    ],
)
def test_safe_filename(name: str | None, expected: str) -> None:
    assert safe_filename(name) == expected
    assert len(safe_filename("x" * 500 + ".csv")) == 120


def test_excel_cells_become_typed_columns(tmp_path: Path, write_xlsx: Callable[..., Any]) -> None:
    rows: list[list[Any]] = [
        ["whole", "fraction", "huge", "blank", "mixed", "text", "flag"],
        [1.0, 1.5, 2.0**60, "", 1, "a", True],
        [2.0, "", 3.0, "", "x", "b", False],
        ["", 2.25, 4.0, "", 2.5, "", True],
    ]
    table = read_table(write_xlsx(tmp_path / "t.xlsx", {"s": rows}), "t.xlsx").data
    types = {field.name: field.type for field in table.schema}
    assert types["whole"] == pa.int64() and table.column("whole").to_pylist() == [1, 2, None]
    assert types["fraction"] == pa.float64() and table.column("fraction").to_pylist() == [1.5, None, 2.25]
    assert types["huge"] == pa.float64()  # whole, but past 2**53: not exact as an integer
    assert table.column("blank").null_count == 3
    assert types["mixed"] == pa.string() and table.column("mixed").to_pylist() == ["1", "x", "2.5"]
    assert table.column("text").to_pylist() == ["a", "b", None]
    assert types["flag"] == pa.bool_()


def test_excel_ragged_rows_are_padded(tmp_path: Path, write_xlsx: Callable[..., Any]) -> None:
    rows: list[list[Any]] = [["a", "b", "c"], [1, 2], [3, 4, 5], [6]]
    table = read_table(write_xlsx(tmp_path / "r.xlsx", {"s": rows}), "r.xlsx").data
    assert table.column("c").to_pylist() == [None, 5, None]
    assert table.column("b").to_pylist() == [2, 4, None]
