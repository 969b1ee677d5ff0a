"""A fuzz corpus for the file readers, through the ingest API on the real stack.

Valid files made from the bundled samples (CSV, TSV, cp932 CSV, NDJSON, Parquet, Excel, a zip
holding a CSV, gzip) are mutated at random with a fixed seed and a bounded count: bytes flipped,
inserted, deleted, duplicated, truncated; for the zip-based formats also a member's content mutated
and re-zipped with a valid checksum, so the XML and CSV parsers inside see the damage too. Every
answer must be 2xx or a 4xx whose detail says what is wrong, never a 5xx, and never a hang (each
request has its own timeout).

The uploads go to an ingest process of their own without the per-minute upload limit and the
tenant's analysis quota, so the corpus neither spends the session's limits nor is refused by them. An accepted mutant's analysis names
a role column that no mutant has: it fails at the mapping at once, and the corpus costs no fits.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import os
import random
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cqox_stack.stack import RunningService, Stack
from tests.integration.conftest import EXAMPLES, REPO

pytestmark = pytest.mark.integration

SEED = 16
# 5 per seed in `make test` (about 7 s of uploads); a deeper run: CQOX_FUZZ_MUTANTS_PER_SEED=150.
MUTANTS_PER_SEED = int(os.environ.get("CQOX_FUZZ_MUTANTS_PER_SEED", "5"))
REQUEST_TIMEOUT_S = 30.0
SPEC = json.dumps({"methods": ["diff_in_means"], "roles": {"treatment": "__fuzz_no_such_column__"}})
TOKENS = [
    b'"',
    b",",
    b"\t",
    b"\n",
    b"\r",
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"=1+1",
    b"9" * 400,
    b"-1e999",
]


def _rows(limit: int) -> list[list[str]]:
    lines = (EXAMPLES / "customers.csv").read_text().splitlines()[: limit + 1]
    return [line.split(",") for line in lines]


def _write_xlsx() -> Callable[..., Path]:
    spec = importlib.util.spec_from_file_location("cqox_bench_workbook", REPO / "bench/ingest/workbook.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_xlsx  # type: ignore[no-any-return]


def seeds(tmp: Path) -> dict[str, bytes]:
    """Valid files of every format the readers take, from the bundled samples."""
    rows = _rows(120)
    csv = "\n".join(",".join(r) for r in rows).encode()
    header, body = rows[0], rows[1:]
    table = pa.table({name: [r[i] for r in body] for i, name in enumerate(header)})
    parquet = io.BytesIO()
    pq.write_table(table, parquet)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        handle.writestr("customers.csv", csv)
    typed = [header] + [[r[0], int(r[1]), float(r[2]), *r[3:]] for r in body[:60]]
    xlsx = _write_xlsx()(tmp / "seed.xlsx", {"data": typed}).read_bytes()
    return {
        "customers.csv": csv,
        "customers.tsv": "\n".join("\t".join(r) for r in rows).encode(),
        "store_panel_sjis.csv": b"\n".join(
            (EXAMPLES / "store_panel_sjis.csv").read_bytes().splitlines()[:120]
        ),
        "customers.ndjson": "\n".join(
            json.dumps(dict(zip(header, r, strict=True))) for r in body[:80]
        ).encode(),
        "customers.parquet": parquet.getvalue(),
        "customers.xlsx": xlsx,
        "customers.zip": archive.getvalue(),
        "customers.csv.gz": gzip.compress(csv, mtime=0),
    }


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """One to three random byte-level mutations."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["flip", "insert", "delete", "duplicate", "truncate"])
        at = rng.randrange(len(out)) if out else 0
        if kind == "flip" and out:
            for _ in range(rng.randint(1, 8)):
                out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        elif kind == "insert":
            out[at:at] = rng.choice(TOKENS) * rng.randint(1, 3)
        elif kind == "delete":
            del out[at : at + rng.randint(1, 64)]
        elif kind == "duplicate":
            chunk = out[at : at + rng.randint(1, 256)]
            where = rng.randrange(len(out) + 1)
            out[where:where] = chunk
        else:
            del out[rng.randint(0, max(len(out) - 1, 0)) :]
    return bytes(out)


def _rezip(data: bytes, change: Callable[[str, bytes], bytes]) -> bytes:
    """A zip with each member's content passed through `change`, re-zipped with valid checksums."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        members = [(info.filename, source.read(info)) for info in source.infolist()]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, content in members:
            target.writestr(name, change(name, content))
    return out.getvalue()


def mutate_member(data: bytes, rng: random.Random) -> bytes:
    """A zip (xlsx) with one member's content mutated, re-zipped with valid checksums."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        victim = rng.choice(source.namelist())
    return _rezip(data, lambda name, content: mutate_bytes(content, rng) if name == victim else content)


def _moved_cell(xlsx: bytes, reference: str) -> bytes:
    """The workbook with cell G55 of its sheet moved to `reference`."""
    return _rezip(xlsx, lambda _, content: content.replace(b'r="G55"', f'r="{reference}"'.encode()))


def regressions(tmp: Path) -> Iterator[tuple[str, bytes]]:
    """Mutants a longer run of this corpus found (5xx or a crash), kept as fixed cases."""
    xlsx = seeds(tmp)["customers.xlsx"]
    yield "r-bare-cr.csv", b"a,b,c\n1,2,3\r4,5,6\n7,8,9\n"  # csv.Error in the preamble scan
    yield "r-overflow.xlsx", _moved_cell(xlsx, "G5" + "9" * 300)  # calamine aborted (1 TB allocation)
    yield "r-far-cell.xlsx", _moved_cell(xlsx, "XFD1048576")  # a dense range of 17 G cells


def corpus(tmp: Path) -> Iterator[tuple[str, bytes]]:
    """(file name, mutated content), the same every run, then the regressions."""
    yield from regressions(tmp)
    rng = random.Random(SEED)
    for name, data in seeds(tmp).items():
        for index in range(MUTANTS_PER_SEED):
            zipped = name.endswith((".xlsx", ".zip"))
            mutant = mutate_member(data, rng) if zipped and index % 2 else mutate_bytes(data, rng)
            yield f"{index}-{name}", mutant


@pytest.fixture(scope="module")
def fuzz_ingest(stack: Stack) -> Iterator[RunningService]:
    # Without the upload rate limit and the tenant's analysis quota: both answer before the readers
    # run, and what other tests have in flight must not decide what the corpus reaches.
    limits_off = {"CQOX_RATE_LIMIT_UPLOADS_PER_MINUTE": "0", "CQOX_MAX_CONCURRENT_ANALYSES": "0"}
    ingest = stack.start_service("ingest", env=limits_off)
    try:
        yield ingest
    finally:
        ingest.process.stop()
        del stack.services[ingest.name]


def test_mutated_files_get_2xx_or_an_actionable_4xx(fuzz_ingest: RunningService, tmp_path: Path) -> None:
    answers: list[tuple[str, int]] = []
    failures: list[str] = []
    with httpx.Client(base_url=fuzz_ingest.url, timeout=REQUEST_TIMEOUT_S) as client:
        for name, content in corpus(tmp_path):
            try:
                response = client.post(
                    "/v1/datasets",
                    files={"file": (name.split("-", 1)[1], content)},
                    data={"name": f"fuzz-{name}", "analysis": SPEC},
                )
            except httpx.TimeoutException:
                failures.append(f"{name}: no answer within {REQUEST_TIMEOUT_S} s")
                continue
            answers.append((name, response.status_code))
            if response.status_code >= 500 or response.status_code < 200 or 300 <= response.status_code < 400:
                failures.append(f"{name}: {response.status_code} {response.text[:300]}")
            elif response.status_code >= 400:
                detail = response.json().get("detail")
                text = detail if isinstance(detail, str) else json.dumps(detail)
                if len(text) < 15 or "Traceback" in text:
                    failures.append(f"{name}: {response.status_code} without an actionable detail: {text!r}")
        assert client.get("/healthz").status_code == 200  # still serving
    assert not failures, "\n".join(failures)
    statuses = {status for _, status in answers}
    assert 202 in statuses and any(400 <= s < 500 for s in statuses), answers  # both sides reached
