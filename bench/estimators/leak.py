"""Estimator memory per analysis (on demand, not part of `make test`): issue 15's soak, in-process.

    uv run --frozen python -m bench.estimators.leak [--analyses 120] [--every 10] [--methods ols]
        [--gap-s 30] [--idle-s 600] [--cache-mb 512]

Runs one demo sample's fits and refutations `--analyses` times through the estimator's own compute
steps (`handlers.estimate_work` and `refute_work`, sharing one `FrameCache` as a worker process's
pools do), each time as a new analysis of a new dataset version (a new Parquet URI in a file
artifact store), as the load soak's uploads are. `--gap-s` is the time between analyses on the
cache's clock (the soak starts one every 30 s; no real waiting here), so `--idle-s` acts as it
would in the service; `--idle-s 0` keeps frames until the byte bound, as the cache did before.

Every `--every` analyses it prints RSS, PSS, malloc's bytes in use, live Python objects and the
frames the cache holds; then the growth per analysis from the end of the warm-up (`--warmup`).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd

from bench.memory import usage
from cqox_contracts.v1 import ColumnSchema, DatasetRef, EstimateRequested, RefutationRequested, RoleMapping
from cqox_estimator.frames import FrameCache
from cqox_estimator.handlers import estimate_work, refute_work
from cqox_estimator.refutation import refutable
from cqox_shared.allocator import cap_arenas
from cqox_shared.artifacts import LocalArtifactStore
from cqox_shared.bus import WorkContext
from cqox_shared.logging import configure_logging

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Clock:
    """The cache's clock: moved on by hand, `--gap-s` per analysis."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def sample_events(sample: str, data_uri: str, analysis: int, methods: list[str]) -> list[object]:
    """The estimate and refutation requests one analysis of `sample` sends to this process."""
    meta = json.loads((EXAMPLES / f"{sample}.meta.json").read_text())
    frame = pd.read_csv(EXAMPLES / f"{sample}.csv")
    dataset = DatasetRef(
        dataset_id=str(uuid.uuid4()),
        version=1,
        name=sample,
        parquet_uri=data_uri,
        n_rows=len(frame),
        columns=[ColumnSchema(name=c, dtype=str(t), nullable=True) for c, t in frame.dtypes.items()],
    )
    roles = RoleMapping(
        treatment=meta["treatment"], outcome=meta["outcome"], unit=meta["unit"], covariates=meta["covariates"]
    )
    analysis_id = str(uuid.uuid4())
    common = {
        "analysis_id": analysis_id,
        "correlation_id": analysis_id,
        "producer": "bench",
        "dataset": dataset,
        "roles": roles,
        "design": "observational",
        "seed": analysis,
    }
    events: list[object] = [EstimateRequested(method=m, **common) for m in methods]
    events += [RefutationRequested(method=m, **common) for m in methods if refutable(m)]
    return events


async def _main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--analyses", type=int, default=120, help="analyses to run (default 120)")
    parser.add_argument("--every", type=int, default=10, help="sample memory every N analyses (default 10)")
    parser.add_argument(
        "--warmup", type=int, default=40, help="analyses before growth is counted (default 40)"
    )
    parser.add_argument(
        "--sample", default="customers", help="a demo sample in examples/ (default customers)"
    )
    parser.add_argument("--methods", default="ols", help="methods fitted per analysis (default ols)")
    parser.add_argument("--gap-s", type=float, default=30.0, help="seconds between analyses (default 30)")
    parser.add_argument(
        "--idle-s", type=float, default=600.0, help="the cache's idle time; 0: none (default 600)"
    )
    parser.add_argument("--cache-mb", type=int, default=512, help="the cache's byte bound (default 512)")
    args = parser.parse_args()
    cap_arenas()  # as the service's runtime does at start
    configure_logging("bench-estimator", "WARNING")
    methods = [m for m in args.methods.split(",") if m]
    clock = Clock()
    frames = FrameCache(args.cache_mb * 2**20, idle_s=args.idle_s or None, clock=clock)
    fit, refute = estimate_work(frames, seed_refit_budget_s=10.0), refute_work(frames)
    workdir = Path(tempfile.mkdtemp(prefix="cqox-est-leak-"))
    try:
        store = LocalArtifactStore(workdir / "artifacts")
        work = WorkContext(store=store, producer="bench", flow="bench")
        buffer = io.BytesIO()
        pd.read_csv(EXAMPLES / f"{args.sample}.csv").to_parquet(buffer)
        data = buffer.getvalue()
        idle = f"idle {args.idle_s:g} s" if args.idle_s else "no idle limit"
        print(
            f"{args.analyses} analyses of {args.sample} ({', '.join(methods)} and their refuters), one "
            f"every {args.gap_s:g} s on the cache's clock, frame cache {args.cache_mb} MB, {idle}:\n"
        )
        print(
            "| analyses | RSS MB | PSS MB | malloc in use MB | Python objects | frames held | MB held | s/analysis |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        rows: list[tuple[int, float, float, float, int]] = []
        started = time.perf_counter()
        for done in range(args.analyses + 1):
            if done % args.every == 0 or done == args.analyses:
                now = usage()
                rows.append((done, now.rss_mb, now.pss_mb, now.malloc_mb, now.objects))
                per = (time.perf_counter() - started) / max(done, 1)
                print(
                    f"| {done} | {now.rss_mb:.1f} | {now.pss_mb:.1f} | {now.malloc_mb:.1f} | {now.objects} "
                    f"| {len(frames)} | {frames.held_bytes / 2**20:.1f} | {per:.2f} |",
                    flush=True,
                )
            if done == args.analyses:
                break
            uri = store.put_bytes(f"bench/{done}/data.parquet", data)
            for event in sample_events(args.sample, uri, done, methods):
                step = fit if isinstance(event, EstimateRequested) else refute
                await step(event, work)
            clock.now += args.gap_s
        warm = [r for r in rows if r[0] >= args.warmup]
        if len(warm) >= 2:
            (a, rss0, pss0, mal0, obj0), (b, rss1, pss1, mal1, obj1) = warm[0], warm[-1]
            n = b - a
            print(
                f"\ngrowth from analysis {a} to {b} ({n} analyses): RSS {rss1 - rss0:+.1f} MB "
                f"({(rss1 - rss0) * 1000 / n:+.0f} kB/analysis), PSS {pss1 - pss0:+.1f} MB "
                f"({(pss1 - pss0) * 1000 / n:+.0f} kB/analysis), malloc in use {mal1 - mal0:+.1f} MB "
                f"({(mal1 - mal0) * 1000 / n:+.0f} kB/analysis), Python objects {obj1 - obj0:+d}"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    """Run the analyses, print the memory table and the growth per analysis."""
    asyncio.run(_main())


if __name__ == "__main__":
    main()
