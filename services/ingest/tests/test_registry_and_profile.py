"""Schema registry rule (add is compatible; remove or retype is breaking) and version profiles."""

from __future__ import annotations

import pyarrow as pa

from cqox_contracts.v1 import ColumnSchema, DatasetIngested
from cqox_ingest.profiling import EXACT_DISTINCT, Sketch, _hashes, profile
from cqox_ingest.schema_registry import describe, diff

OLD = [{"name": "id", "dtype": "int64", "nullable": True}, {"name": "y", "dtype": "double", "nullable": True}]


def _cols(**types: str) -> list[ColumnSchema]:
    return [ColumnSchema(name=n, dtype=t) for n, t in types.items()]


def test_first_version_has_an_empty_diff() -> None:
    change = diff(None, _cols(id="int64"), None)
    assert not change.breaking and change.previous_version is None


def test_adding_columns_is_compatible() -> None:
    change = diff(OLD, _cols(id="int64", y="double", 地域="string"), 1)
    assert change.added == ["地域"] and not change.breaking and change.previous_version == 1


def test_removing_or_retyping_is_breaking_and_described() -> None:
    change = diff(OLD, _cols(id="string"), 3)
    assert change.breaking
    assert change.removed == ["y"]
    assert [(r.name, r.old_dtype, r.new_dtype) for r in change.retyped] == [("id", "int64", "string")]
    assert describe(change) == "removes 'y' and retypes 'id' (int64 → string)"


def test_a_column_that_was_all_missing_may_gain_a_type() -> None:
    old = [{"name": "x", "dtype": "null", "nullable": True}]
    assert not diff(old, _cols(x="double"), 1).breaking


def test_profile_per_column() -> None:
    data = pa.table(
        {
            "y": pa.array([1.0, 2.0, None, 5.0]),
            "arm": pa.array(["a", "b", "a", None]),
            "ok": pa.array([True, False, True, True]),
            "n": pa.array([3, 3, 3, 4], pa.int64()),
        }
    )
    result = profile(data)
    by_name = {c.name: c for c in result.columns}
    assert result.n_rows == 4
    assert by_name["y"].missing_share == 0.25
    assert (by_name["y"].min, by_name["y"].max, by_name["y"].mean) == (1.0, 5.0, 8.0 / 3)
    assert by_name["arm"].distinct_count == 2
    assert by_name["arm"].top_values[0].value == "a" and by_name["arm"].top_values[0].count == 2
    assert by_name["ok"].mean == 0.75
    assert by_name["n"].top_values[0].count == 3
    # the profile travels in the ingested event and survives a JSON round trip
    event = DatasetIngested.model_validate(
        {
            "correlation_id": "a",
            "producer": "ingest",
            "dataset": {
                "dataset_id": "d",
                "version": 1,
                "name": "n",
                "parquet_uri": "u",
                "n_rows": 4,
                "columns": [],
            },
            "raw_uri": "r",
            "analysis_id": "a",
            "profile": result.model_dump(mode="json"),
        }
    )
    assert event.profile == result


def test_text_hashes_are_equal_for_equal_strings_wherever_they_sit() -> None:
    texts = ["", "a", "a\x00", "12345678", "123456781", "x" * 100, "x" * 101, "長い名前の列"]
    values = pa.array(texts * 2)
    hashes = _hashes(values)
    assert len(set(hashes[: len(texts)].tolist())) == len(texts)  # all differ
    assert hashes[: len(texts)].tolist() == hashes[len(texts) :].tolist()
    assert _hashes(values.slice(3, 5)).tolist() == hashes[3:8].tolist()  # offsets into the buffer


def test_the_distinct_count_of_many_strings_is_estimated_within_five_percent() -> None:
    sketch = Sketch()
    for start in range(0, 300_000, 100_000):
        sketch.add(pa.array([f"customer {i} note" for i in range(start, start + 100_000)]))
        sketch.add(pa.array([f"customer {i} note" for i in range(start, start + 1000)]))  # repeats
    assert abs(sketch.estimate() - 300_000) < 0.05 * 300_000
    many = pa.table({"note": [f"n{i}" for i in range(EXACT_DISTINCT + 10_000)]})
    estimated = profile(many).columns[0].distinct_count
    assert abs(estimated - (EXACT_DISTINCT + 10_000)) < 0.05 * EXACT_DISTINCT
