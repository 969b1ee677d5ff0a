"""The conversion pipeline's shortcuts give what the plain computations give: the distinct sketch,
dictionary pages only where values repeat, and a profile and Parquet file equal to the whole read."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from cqox_ingest import conversion, profiling
from cqox_ingest.conversion import convert
from cqox_ingest.profiling import SKETCH_SIZE, Sketch, _hashes, _value_counts, profile
from cqox_ingest.readers import IngestError, Limits, jsonl, read_table
from cqox_ingest.readers import delimited as delimited_reader


@pytest.mark.parametrize(("rows", "cardinality"), [(50_000, 40_000), (60_000, 3_000), (30_000, 30)])
def test_the_sketch_keeps_exactly_the_smallest_distinct_hashes(rows: int, cardinality: int) -> None:
    rng = np.random.default_rng(rows)
    sketch, seen = Sketch(), []
    for _ in range(3):  # large batches take the partition shortcut; many repeats must not fool it
        values = pa.array(rng.integers(0, cardinality, rows))
        sketch.add(values)
        seen.append(_hashes(values))
    assert sketch.smallest.tolist() == np.unique(np.concatenate(seen))[:SKETCH_SIZE].tolist()


@pytest.mark.parametrize("longest", [3, 20, 40, 300])
def test_a_strings_hash_does_not_depend_on_the_other_strings_of_its_batch(longest: int) -> None:
    rng = random.Random(longest)
    letters = "ab長 \x00"
    texts = ["".join(rng.choices(letters, k=rng.randint(0, longest))) for _ in range(400)]
    texts += ["x" * 16, "x" * 17, ""]
    hashes = _hashes(pa.array(texts)).tolist()
    alone = [_hashes(pa.array([text])).tolist()[0] for text in texts]  # every step taken on all rows
    assert hashes == alone
    with_long = _hashes(pa.array([*texts, "y" * 5000])).tolist()[:-1]  # most rows stop early
    assert hashes == with_long
    assert len(set(hashes)) == len(set(texts))


@pytest.mark.parametrize(
    "values",
    [
        pa.array([True, False, True, True]),
        pa.array([True, True]),
        pa.array(np.random.default_rng(1).integers(-50, 50, 3000)),  # a bincount
        pa.array(np.random.default_rng(2).integers(-(2**62), 2**62, 3000)),  # hashed: too wide
        pa.array([2**63 - 1, 2**63 - 2, 2**63 - 1]),
        pa.array(np.random.default_rng(3).integers(0, 9000, 3000)).cast(pa.int32()).cast(pa.date32()),
        pa.chunked_array([pa.array([3, 1, 3]), pa.array([1, 7])]),
        pa.chunked_array([pa.array([5, 5, 6])]),
        pa.array([0.5, 0.5, 1.5]),
    ],
)
def test_value_counts_count_what_arrows_hashing_counts(values: pa.Array) -> None:
    distinct, counts = _value_counts(values)
    expected = pc.value_counts(values).flatten()
    assert distinct.type == values.type and counts.type == pa.int64()
    assert dict(zip(distinct.to_pylist(), counts.to_pylist(), strict=True)) == dict(
        zip(expected[0].to_pylist(), expected[1].to_pylist(), strict=True)
    )


def _csv(path: Path, rows: int) -> Path:
    rng = random.Random(5)
    lines = ["id,arm,score,region,note,day"]
    for i in range(rows):
        lines.append(
            f"{i},{i % 2},{rng.random():.6f},{['north', 'south', '関東'][i % 3]},"
            f"customer {i} note,2024-01-{1 + i % 28:02d}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_dictionary_pages_go_to_repetitive_columns_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conversion, "ROW_GROUP_ROWS", 2000)
    convert(_csv(tmp_path / "d.csv", 5000), tmp_path / "d.parquet", "d.csv")
    group = pq.ParquetFile(tmp_path / "d.parquet").metadata.row_group(0)
    encoded = {
        group.column(i).path_in_schema: "RLE_DICTIONARY" in group.column(i).encodings
        for i in range(group.num_columns)
    }
    assert encoded == {"id": False, "arm": True, "score": False, "region": True, "note": False, "day": True}


def test_the_pipeline_writes_and_profiles_what_a_whole_read_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delimited_reader, "STREAM_BLOCK_BYTES", 4096)
    monkeypatch.setattr(conversion, "ROW_GROUP_ROWS", 700)
    path = _csv(tmp_path / "w.csv", 9000)
    converted = convert(path, tmp_path / "w.parquet", "w.csv")
    whole = read_table(path, "w.csv").data
    assert pq.ParquetFile(tmp_path / "w.parquet").metadata.num_row_groups > 5
    assert pq.read_table(tmp_path / "w.parquet").equals(whole)
    assert converted.profile == profile(whole)


def test_text_ranges_past_the_exact_counts_come_from_the_row_groups_statistics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profiling, "EXACT_DISTINCT", 300)  # the note column goes to the sketch early
    monkeypatch.setattr(delimited_reader, "STREAM_BLOCK_BYTES", 16384)  # holds the long value whole
    monkeypatch.setattr(conversion, "ROW_GROUP_ROWS", 500)
    notes = [f"note {i:05d}" for i in range(6000)]
    notes[4321] = "a note that sorts first"  # late: only a row group's statistics can tell
    notes[5432] = "z" * 5000  # too long for the writer's statistics: that group is ranged directly
    path = tmp_path / "n.csv"
    path.write_text("id,note\n" + "".join(f"{i},{n}\n" for i, n in enumerate(notes)), encoding="utf-8")
    converted = convert(path, tmp_path / "n.parquet", "n.csv")
    note = converted.profile.columns[1]
    assert (note.min, note.max) == ("a note that sorts first", "z" * 5000)
    assert converted.profile == profile(read_table(path, "n.csv").data)


def test_a_stream_that_breaks_while_a_row_group_is_written_waits_for_it_then_gets_its_4xx(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsonl, "STREAM_BLOCK_BYTES", 4096)
    monkeypatch.setattr(conversion, "ROW_GROUP_ROWS", 500)
    write, close = pq.ParquetWriter.write_table, pq.ParquetWriter.close
    events: list[str] = []

    def slow_write(self: pq.ParquetWriter, table: pa.Table, **options: object) -> None:
        events.append("writing")
        time.sleep(0.2)  # the reader meets the bad line while this row group is being written
        write(self, table, **options)
        events.append("written")

    def logged_close(self: pq.ParquetWriter) -> None:
        events.append("closed")  # closing under a running write corrupts it (Arrow raises OSError)
        close(self)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", slow_write)
    monkeypatch.setattr(pq.ParquetWriter, "close", logged_close)
    path = tmp_path / "late.ndjson"
    lines = [json.dumps({"id": i, "who": {"name": f"n{i}"}}) for i in range(3000)]
    path.write_text("\n".join([*lines, '{"id": 1, "who": ']) + "\n", encoding="utf-8")
    with pytest.raises(IngestError) as refused:
        convert(path, tmp_path / "late.parquet", "late.ndjson", limits=Limits(max_whole_read_bytes=8192))
    assert refused.value.status_code == 422 and "line 3001" in refused.value.message
    assert events[-1] == "closed" and events.count("writing") == events.count("written") > 0


def test_a_conversion_allocates_from_jemalloc_where_pyarrow_has_it(tmp_path: Path) -> None:
    try:
        jemalloc = pa.jemalloc_memory_pool()
    except NotImplementedError:
        pytest.skip("this pyarrow build has no jemalloc")
    convert(_csv(tmp_path / "p.csv", 2000), tmp_path / "p.parquet", "p.csv")
    assert pa.default_memory_pool().backend_name == jemalloc.backend_name == "jemalloc"
    assert jemalloc.max_memory() > 0  # the conversion's buffers came from it
