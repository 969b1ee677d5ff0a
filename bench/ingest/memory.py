"""Ingest memory benchmark (on demand, not part of `make test`): peak RSS of the conversion on large
and pathological files, against a stated bound.

    uv run python -m bench.ingest.memory [--gib 1.0] [--ndjson-mb 256] [--dir DIR] [--bound-mb 768]

Files are generated on the fly into a temp dir (Arrow's CSV writer, so a 1 GiB file takes seconds):
- a 1 GiB CSV of the bench's 15 mixed columns, converted to Parquet with its profile;
- the same CSV with one text value in a numeric column on its very last line, which used to send the
  whole file to a second, whole-file read (now: refused with 413 once the stream meets it);
- NDJSON with a malformed last line, which used to be parsed whole and then re-read into Python
  records (now: streamed, then the line named by a streaming scan, 422);
- NDJSON whose last record changes a field's type (now: streamed, then 413).
Each runs `cqox_ingest.conversion.convert` in its own process; the peak RSS printed is that
process's whole peak (imports included, ~150 MB). The bound holds whatever the file's size: memory
is a few row groups, never the file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

ROWS_PER_BLOCK = 500_000
REGIONS = ["north", "south", "east", "west", "関東", "関西"]


def _block(start: int, rows: int, rng: np.random.Generator) -> pa.Table:
    """`rows` rows of the bench's 15 columns (ids from `start`), built with numpy."""
    i = np.arange(start, start + rows)
    days = np.datetime64("2020-01-01") + (i % 1500).astype("timedelta64[D]")
    ratio = np.round(rng.random(rows) * 3, 4)
    return pa.table(
        {
            "id": i,
            "treated": i % 2,
            "outcome": np.round(rng.normal(10, 3, rows), 4),
            "age": rng.integers(18, 91, rows),
            "income": np.round(rng.uniform(10, 200, rows), 2),
            "score": np.round(rng.random(rows), 6),
            "region": pa.array(np.array(REGIONS, dtype=object)[i % len(REGIONS)]),
            "segment": pa.array([f"seg-{k}" for k in (i % 17)]),
            "signup": pa.array(days.astype("datetime64[D]")),
            "active": i % 3 != 0,
            "visits": rng.integers(0, 51, rows),
            "spend": np.round(rng.exponential(10, rows), 3),
            "ratio": pa.array(ratio, mask=(i % 50 == 0)),
            "channel": pa.array(np.array(["web", "store", "phone"], dtype=object)[i % 3]),
            "note": pa.array([f"customer {k} note" for k in i]),
        }
    )


def make_csv(path: Path, size: int, *, late: str | None = None) -> Path:
    """A CSV of at least `size` bytes; `late` (a line) is appended at the very end."""
    rng = np.random.default_rng(7)
    start = 0
    with pacsv.CSVWriter(path, _block(0, 1, rng).schema) as writer:
        while path.stat().st_size < size:
            writer.write_table(_block(start, ROWS_PER_BLOCK, rng))
            start += ROWS_PER_BLOCK
    if late is not None:
        with path.open("a", encoding="utf-8") as out:
            out.write(late + "\n")
    return path


def make_ndjson(path: Path, size: int, *, last: str) -> Path:
    """NDJSON of at least `size` bytes with nested records; `last` is its final line."""
    with path.open("w", encoding="utf-8") as out:
        i = 0
        while out.tell() < size:
            out.write(
                "".join(
                    json.dumps({"id": k, "y": k * 0.5, "who": {"name": f"n{k}", "age": k % 90}}) + "\n"
                    for k in range(i, i + 100_000)
                )
            )
            i += 100_000
        out.write(last + "\n")
    return path


MEASURE = r"""
import json, resource, sys, time
from pathlib import Path
from cqox_ingest.conversion import convert
from cqox_ingest.readers import IngestError
from cqox_shared.allocator import cap_arenas
cap_arenas()  # the malloc arenas of the service process
path, out = Path(sys.argv[1]), Path(sys.argv[2])
start = time.perf_counter()
try:
    result = convert(path, out, path.name)
    outcome = f"converted {result.n_rows:,} rows"
except IngestError as exc:
    outcome = f"{exc.status_code}: {exc.message[:110]}"
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak, "outcome": outcome}))
"""


def measure(path: Path, workdir: Path) -> dict[str, object]:
    """Convert `path` in a fresh process; its seconds, peak RSS and outcome."""
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), str(workdir / "out.parquet")],
        check=True,
        capture_output=True,
        text=True,
    )
    (workdir / "out.parquet").unlink(missing_ok=True)
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    """Generate the files, convert each in its own process, print peak RSS against the bound."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gib", type=float, default=1.0, help="size of the large CSV")
    parser.add_argument("--ndjson-mb", type=int, default=256, help="size of the pathological NDJSON")
    parser.add_argument("--bound-mb", type=int, default=768, help="the stated peak-RSS bound")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="cqox-bench-memory-"))
    workdir.mkdir(parents=True, exist_ok=True)
    size = int(args.gib * (1 << 30))
    cases = [
        ("csv", lambda p: make_csv(p, size)),
        ("csv, text on the last line", lambda p: make_csv(p, size, late=",".join(["x"] * 15))),
        ("ndjson, bad last line", lambda p: make_ndjson(p, args.ndjson_mb << 20, last='{"id": 1, "y": ')),
        (
            "ndjson, last type change",
            lambda p: make_ndjson(p, args.ndjson_mb << 20, last='{"id": "x", "y": 1, "who": {}}'),
        ),
    ]
    header = f"{'file':<28}{'MB':>8}{'s':>8}{'peak MB':>9}{'bound':>7}  outcome"
    print(header)
    print("-" * (len(header) + 40))
    for label, make in cases:
        path = workdir / ("big.ndjson" if "ndjson" in label else "big.csv")
        started = time.perf_counter()
        make(path)
        generated = time.perf_counter() - started
        size_mb = path.stat().st_size / 1e6
        r = measure(path, workdir)
        peak = float(r["peak_mb"])  # type: ignore[arg-type]
        held = "ok" if peak < args.bound_mb else "OVER"
        print(
            f"{label:<28}{size_mb:>8.0f}{float(r['seconds']):>8.1f}{peak:>9.0f}{held:>7}  "  # type: ignore[arg-type]
            f"{r['outcome']}  (generated in {generated:.0f}s)",
            flush=True,
        )
        path.unlink()
    print(f"bound: peak RSS of the converting process < {args.bound_mb} MB, whatever the file's size")


if __name__ == "__main__":
    main()
