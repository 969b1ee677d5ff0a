"""The text typing's shortcuts (no trim, no token lookup where neither can change a value) give
exactly what trimming and looking up every value gives."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from cqox_ingest.readers import values
from cqox_ingest.readers.values import NA_TOKENS, trimmed_text


def _plain(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    stripped = pc.utf8_trim_whitespace(column)
    missing = pc.is_in(stripped, value_set=pa.array(NA_TOKENS))
    return pc.if_else(missing, pa.scalar(None, pa.string()), stripped)


def test_the_space_bytes_are_those_of_every_character_arrow_trims() -> None:
    points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    trimmed = pc.utf8_trim_whitespace(pa.array([f"a{chr(c)}a{chr(c)}" for c in points])).to_pylist()
    spaces = [chr(c) for c, text in zip(points, trimmed, strict=True) if text == f"a{chr(c)}a"]
    assert len(spaces) > 20
    assert set(np.flatnonzero(values._SPACE_FIRST)) == {s.encode()[0] for s in spaces}
    assert set(np.flatnonzero(values._SPACE_LAST)) == {s.encode()[-1] for s in spaces}


PIECES = ["north", "関東", "x", "", " ", "\u3000", "\u00a0", "\t", "NA", "欠損", "-", "customer 12 note"]


@pytest.mark.parametrize("seed", range(6))
def test_trimmed_text_equals_trimming_and_looking_up_every_value(seed: int) -> None:
    rng = random.Random(seed)
    pool = PIECES if seed % 2 else [p for p in PIECES if p.strip() and p not in NA_TOKENS and len(p) > 3]
    rows = [
        None if rng.random() < 0.05 else "".join(rng.choices(pool, k=rng.randint(1, 3))) for _ in range(500)
    ]
    column = pa.array(rows, pa.string())
    for sample in (
        column,
        column.slice(37, 300),
        pa.chunked_array([column.slice(0, 200), column.slice(200)]),
    ):
        assert trimmed_text(sample).equals(_plain(sample))


def test_long_text_without_edge_spaces_is_returned_as_it_is() -> None:
    column = pa.array([f"customer {i} note" for i in range(1000)])
    assert trimmed_text(column) is column
