"""Readers that used to fall back to the whole file in memory now stream it or refuse it (413/422).

Files are small but shaped to take each fallback path: blocks of 4 KiB stand in for Arrow's 1 MiB,
and a limit for reading whole of a few KiB stands in for the default 64 MiB.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from cqox_ingest import conversion
from cqox_ingest.conversion import convert
from cqox_ingest.readers import IngestError, Limits, columnar, jsonl, read_table
from cqox_ingest.readers import delimited as delimited_reader
from cqox_ingest.readers import excel as excel_reader

SMALL = Limits(max_whole_read_bytes=8192)


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stream in 4 KiB blocks so that small files span many batches."""
    monkeypatch.setattr(delimited_reader, "STREAM_BLOCK_BYTES", 4096)
    monkeypatch.setattr(jsonl, "STREAM_BLOCK_BYTES", 4096)
    monkeypatch.setattr(conversion, "ROW_GROUP_ROWS", 500)


def _write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---- CSV whose types change after the first block ------------------------------------------------


def _retyped_csv(tmp_path: Path) -> Path:
    rows = [f"{i},{i % 10}" for i in range(3000)]
    return _write(tmp_path, "d.csv", ["id,x", *rows, "3000,abc"])


def test_a_retyped_csv_within_the_limit_is_read_whole(tmp_path: Path) -> None:
    path = _retyped_csv(tmp_path)
    result = convert(path, tmp_path / "d.parquet", "d.csv")  # 64 MiB default: read whole
    assert {c.name: c.dtype for c in result.columns}["x"] == "string"
    assert pq.read_table(tmp_path / "d.parquet").num_rows == 3001


def test_a_retyped_csv_over_the_limit_is_refused_with_the_column_and_advice(tmp_path: Path) -> None:
    path = _retyped_csv(tmp_path)
    with pytest.raises(IngestError) as info:
        convert(path, tmp_path / "d.parquet", "d.csv", limits=SMALL)
    assert info.value.status_code == 413
    message = info.value.message
    assert "column types of this file change after its first rows" in message and "'abc'" in message
    assert "8192-byte limit" in message and "CQOX_MAX_WHOLE_READ_BYTES" in message
    assert "one type throughout" in message
    assert not (tmp_path / "d.parquet").exists()


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        ("2024-01-{:02d}", "column 'day': CSV conversion error to date32"),  # Arrow's own typing
        ("2024/01/{:02d}", "column 'day': a value that is not a date (%Y/%m/%d)"),  # our date plan
    ],
)
def test_a_late_value_that_breaks_a_column_names_it(tmp_path: Path, day: str, reason: str) -> None:
    rows = [f"{i},{day.format(i % 28 + 1)}" for i in range(3000)]
    path = _write(tmp_path, "d.csv", ["id,day", *rows, "3000,soon"])
    with pytest.raises(IngestError, match=reason.replace("(", r"\(").replace(")", r"\)")) as info:
        convert(path, tmp_path / "d.parquet", "d.csv", limits=SMALL)
    assert info.value.status_code == 413


def test_quoted_line_breaks_in_a_large_csv_are_streamed_not_refused(tmp_path: Path) -> None:
    rows = [f'{i},"note {i}"' for i in range(3000)]
    path = _write(tmp_path, "d.csv", ["id,note", *rows, '3000,"two\nlines"', "3001,last"])
    result = convert(path, tmp_path / "d.parquet", "d.csv", limits=SMALL)
    notes = pq.read_table(tmp_path / "d.parquet").column("note").to_pylist()
    assert result.n_rows == 3002 and notes[3000] == "two\nlines" and notes[-1] == "last"


def test_a_ragged_row_late_in_a_large_csv_is_named_without_reading_it_whole(tmp_path: Path) -> None:
    path = _write(tmp_path, "d.csv", ["a,b", *[f"{i},{i}" for i in range(3000)], "1,2,3"])
    with pytest.raises(IngestError, match="line 3002 has 3 fields") as info:
        convert(path, tmp_path / "d.parquet", "d.csv", limits=SMALL)
    assert info.value.status_code == 422


# ---- NDJSON ------------------------------------------------------------------------------------


def _records(n: int) -> list[str]:
    return [json.dumps({"id": i, "y": i * 0.5, "who": {"name": f"n{i}"}}) for i in range(n)]


def test_ndjson_is_streamed_in_blocks(tmp_path: Path) -> None:
    path = _write(tmp_path, "d.ndjson", _records(3000))
    result = convert(path, tmp_path / "d.parquet", "d.ndjson", limits=SMALL)  # over the limit: streamed
    written = pq.read_table(tmp_path / "d.parquet")
    assert result.file_format == "ndjson" and result.n_rows == 3000
    assert written.column_names == ["id", "y", "who.name"]
    assert pq.ParquetFile(tmp_path / "d.parquet").metadata.num_row_groups > 1
    assert written.equals(read_table(path, "d.ndjson").data)


@pytest.mark.parametrize("limits", [Limits(), SMALL], ids=["read whole", "streamed scan"])
def test_a_bad_late_ndjson_line_is_named(tmp_path: Path, limits: Limits) -> None:
    path = _write(tmp_path, "d.ndjson", [*_records(3000), '{"id": 1, "y": '])
    with pytest.raises(IngestError, match="invalid JSON at line 3001") as info:
        convert(path, tmp_path / "d.parquet", "d.ndjson", limits=limits)
    assert info.value.status_code == 422


def test_ndjson_whose_types_change_late_is_read_whole_or_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "d.ndjson", [*_records(3000), json.dumps({"id": "x", "y": 1.0})])
    result = convert(path, tmp_path / "d.parquet", "d.ndjson")
    assert {c.name: c.dtype for c in result.columns}["id"] == "string"
    with pytest.raises(IngestError, match="fields or types of its records change") as info:
        convert(path, tmp_path / "d.parquet", "d.ndjson", limits=SMALL)
    assert info.value.status_code == 413


def test_a_large_json_array_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"id": i} for i in range(3000)]))
    with pytest.raises(IngestError, match="send NDJSON") as info:
        convert(path, tmp_path / "d.parquet", "d.json", limits=SMALL)
    assert info.value.status_code == 413


# ---- Excel, chunk by chunk ---------------------------------------------------------------------


def test_a_sheet_read_in_chunks_is_typed_as_a_whole(
    tmp_path: Path, write_xlsx: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(excel_reader, "CHUNK_ROWS", 3)  # every few rows a new chunk
    rows: list[list[Any]] = [["id", "whole", "mixed", "flag", ""]]
    rows += [[i, float(i), float(i), True, ""] for i in range(6)]
    rows += [["", "", "", "", ""]]  # a blank row in the middle: dropped
    rows += [[6, 6.5, "text", "maybe", ""], [7, 7.0, 3.0, False, ""]]
    path = write_xlsx(tmp_path / "book.xlsx", {"data": rows})
    table = read_table(path, "book.xlsx").data
    assert table.column_names == ["id", "whole", "mixed", "flag"]  # the blank last column trimmed
    assert table.num_rows == 8
    assert table.schema.field("id").type == pa.int64()
    assert table.column("whole").type == pa.float64()  # whole numbers until a fraction in chunk 3
    assert table.column("whole").to_pylist()[6] == 6.5
    assert table.column("mixed").to_pylist() == ["0", "1", "2", "3", "4", "5", "text", "3"]
    assert table.column("flag").to_pylist()[:2] == ["True", "True"]
    assert table.column("flag").to_pylist()[6:] == ["maybe", "False"]


def test_ndjson_of_mixed_types_goes_to_python_records_only_when_small(tmp_path: Path) -> None:
    path = _write(tmp_path, "d.ndjson", [*_records(3000), json.dumps({"id": "x", "y": 1.0})])
    size = path.stat().st_size
    # Read whole (under the limit), but records as Python objects take ~20x: an eighth of the limit.
    with pytest.raises(IngestError, match="holds values of different types") as info:
        convert(path, tmp_path / "d.parquet", "d.ndjson", limits=Limits(max_whole_read_bytes=size + 1))
    assert info.value.status_code == 413
    result = convert(path, tmp_path / "d.parquet", "d.ndjson", limits=Limits(max_whole_read_bytes=9 * size))
    assert result.n_rows == 3001


# ---- Parquet and Arrow IPC, a row group or batch at a time ------------------------------------


def _typed_table(n: int) -> pa.Table:
    return pa.table(
        {
            "small": pa.array([i % 100 for i in range(n)], pa.int8()),
            "code": pa.array([f"c{i % 7}" for i in range(n)]).dictionary_encode(),
            "note": pa.array([f"note {i}" for i in range(n)], pa.large_string()),
            "y": pa.array([i * 0.5 for i in range(n)]),
        }
    )


@pytest.mark.parametrize("kind", ["parquet", "arrow"])
def test_parquet_and_arrow_are_streamed_and_typed_as_when_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setattr(columnar, "STREAM_ROWS", 300)
    path = tmp_path / f"d.{kind}"
    if kind == "parquet":
        pq.write_table(_typed_table(3000), path, row_group_size=700)
        whole = columnar.read_parquet(path)
    else:
        feather.write_feather(_typed_table(3000), path, chunksize=700)
        whole = columnar.read_arrow(path)
    result = convert(path, tmp_path / "out.parquet", path.name, limits=SMALL)  # over the limit: streamed
    written = pq.read_table(tmp_path / "out.parquet")
    assert written.equals(whole.data)
    assert [c.dtype for c in result.columns] == ["int64", "string", "string", "double"]
    assert "column 'small': widened from int8 to int64" in result.notes
    assert pq.ParquetFile(tmp_path / "out.parquet").metadata.num_row_groups > 1


def test_a_late_uint64_beyond_int64_reads_whole_or_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(columnar, "STREAM_ROWS", 300)
    values = pa.array([*range(2999), 2**63 + 5], pa.uint64())
    path = tmp_path / "u.parquet"
    pq.write_table(pa.table({"id": values}), path, row_group_size=700)
    result = convert(path, tmp_path / "out.parquet", "u.parquet")  # within the limit: read whole
    assert [c.dtype for c in result.columns] == ["uint64"]
    with pytest.raises(IngestError, match="beyond the signed 64-bit range") as info:
        convert(path, tmp_path / "out.parquet", "u.parquet", limits=Limits(max_whole_read_bytes=100))
    assert info.value.status_code == 413
