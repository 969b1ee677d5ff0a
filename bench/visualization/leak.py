"""Visualization memory per report (on demand, not part of `make test`): issue 15's leak, in-process.

    uv run --frozen python -m bench.visualization.leak [--reports 40] [--every 5] [--sample customers]
        [--methods ols] [--no-pdf] [--tracemalloc] [--glibc-arenas]

Draws and stores one demo sample's report `--reports` times through visualization's own path
(`handlers.draw_and_store`: the figure catalogue, the interactive and print HTML, the PDF and
report.json, drawn in worker threads as the service does, stored in a file artifact store), each
time as a new analysis (new id), from the analysis.assessed event the stack recorded for the
sample (services/visualization/tests/fixtures) with the sample's data and CATE tables in the
store, so the views of raw data and effects are drawn too. `--methods ols` keeps those estimates
only, as the load soak's analyses have.

Every `--every` reports it prints the process's RSS and PSS (with its children: a renderer
process would count), the bytes malloc has handed out and not had back (glibc `mallinfo2`: native
memory such as Pango's, which tracemalloc cannot see), the live Python objects and the child
processes; then the growth per report from the end of the warm-up (`--warmup` reports) to the
last report. `--tracemalloc` adds the Python allocations that grew most over the same span. The
malloc arenas are capped as the service caps them (`cqox_shared.allocator`); `--glibc-arenas` keeps
glibc's default (up to eight per core: RSS rises while the bytes in use stay flat).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import shutil
import tempfile
import time
import tracemalloc
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.memory import usage
from cqox_contracts.v1 import AnalysisAssessed
from cqox_shared.allocator import cap_arenas
from cqox_shared.artifacts import LocalArtifactStore
from cqox_shared.logging import configure_logging
from cqox_visualization.handlers import _render, draw_and_store, store_report

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "services" / "visualization" / "tests" / "fixtures"
EXAMPLES = ROOT / "examples"
ENCODINGS = {"store_panel_sjis": "cp932"}


@dataclass
class Reading:
    """One sample of the process's memory after `reports` reports."""

    reports: int
    rss_mb: float
    pss_mb: float
    malloc_mb: float
    objects: int
    children: int
    seconds: float

    def row(self) -> str:
        """One line of the table."""
        return (
            f"| {self.reports} | {self.rss_mb:.1f} | {self.pss_mb:.1f} | {self.malloc_mb:.1f} "
            f"| {self.objects} | {self.children} | {self.seconds:.2f} |"
        )


def read_memory(reports: int, seconds: float) -> Reading:
    """RSS and PSS of this process (PSS with its children), malloc's bytes in use, objects."""
    now = usage()
    return Reading(reports, now.rss_mb, now.pss_mb, now.malloc_mb, now.objects, now.children, seconds)


def assessed_event(sample: str, store: LocalArtifactStore, methods: list[str] | None) -> AnalysisAssessed:
    """The sample's recorded analysis.assessed, its data and CATE tables put in `store`."""
    event = AnalysisAssessed.model_validate_json((FIXTURES / f"{sample}.assessed.json").read_text())
    frame = pd.read_csv(EXAMPLES / f"{sample}.csv", encoding=ENCODINGS.get(sample, "utf-8"))
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    parquet_uri = store.put_bytes(f"bench/{sample}/data.parquet", buffer.getvalue())
    rng = np.random.default_rng(15)
    estimates = []
    for estimate in event.estimates:
        if methods and estimate.method not in methods:
            continue
        artifacts = []
        for artifact in estimate.artifacts:
            if artifact.name.startswith("cate_"):  # per-row effects around the estimate
                centre = estimate.estimate if estimate.estimate is not None else 0.0
                table = pd.DataFrame(
                    {"row": np.arange(len(frame)), "cate": rng.normal(centre, 1.0, len(frame))}
                )
                buffer = io.BytesIO()
                table.to_parquet(buffer)
                uri = store.put_bytes(f"bench/{sample}/{artifact.name}.parquet", buffer.getvalue())
                artifact = artifact.model_copy(update={"uri": uri})
            artifacts.append(artifact)
        estimates.append(estimate.model_copy(update={"artifacts": artifacts}))
    dataset = event.dataset.model_copy(update={"parquet_uri": parquet_uri})
    return event.model_copy(update={"dataset": dataset, "estimates": estimates})


async def draw_once(template: AnalysisAssessed, store: LocalArtifactStore, pdf: bool) -> None:
    """One report of a new analysis (a new id, as every report of the soak is)."""
    analysis_id = str(uuid.uuid4())
    event = template.model_copy(update={"analysis_id": analysis_id, "correlation_id": analysis_id})
    if pdf:
        await draw_and_store(event, store, None)
        return
    rendered = await asyncio.to_thread(_render, event, store, None)
    await store_report(event, store, rendered, None)


def main() -> None:
    """Draw the reports, print the memory table and the growth per report."""
    asyncio.run(_main())


async def _main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=40, help="reports to draw (default 40)")
    parser.add_argument("--every", type=int, default=5, help="sample memory every N reports (default 5)")
    parser.add_argument("--warmup", type=int, default=5, help="reports before growth is counted (default 5)")
    parser.add_argument(
        "--sample",
        default="customers",
        choices=sorted(p.name.split(".")[0] for p in FIXTURES.glob("*.assessed.json")),
    )
    parser.add_argument("--methods", default="", help="keep these estimates only (comma-separated), e.g. ols")
    parser.add_argument("--no-pdf", action="store_true", help="skip the PDF (isolate figures and HTML)")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="show the Python allocations that grew most"
    )
    parser.add_argument(
        "--glibc-arenas",
        action="store_true",
        help="keep glibc's default malloc arenas (the service caps them: cqox_shared.allocator)",
    )
    args = parser.parse_args()
    arenas = None if args.glibc_arenas else cap_arenas()  # as the service's runtime does at start
    configure_logging("bench-visualization", "WARNING")  # the table only, not a line per PDF
    logging.getLogger("weasyprint").setLevel(logging.ERROR)  # the template's screen-only CSS, per PDF
    methods = [m for m in args.methods.split(",") if m]
    workdir = Path(tempfile.mkdtemp(prefix="cqox-vis-leak-"))
    try:
        store = LocalArtifactStore(workdir / "artifacts")
        template = assessed_event(args.sample, store, methods)
        print(
            f"{args.reports} reports of {args.sample} ({len(template.estimates)} estimates"
            f"{'' if not args.no_pdf else ', no PDF'}; malloc arenas: "
            f"{arenas or 'glibc default or MALLOC_ARENA_MAX'}), memory every {args.every}:\n"
        )
        print(
            "| reports | RSS MB | PSS MB (with children) | malloc in use MB | Python objects | children | s/report |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|")
        readings = [read_memory(0, 0.0)]
        print(readings[0].row(), flush=True)
        warm: Reading | None = None
        snapshot = None
        started = time.perf_counter()
        for done in range(1, args.reports + 1):
            await draw_once(template, store, not args.no_pdf)  # one loop and thread pool, as the service
            if done == args.warmup:
                warm = read_memory(done, (time.perf_counter() - started) / done)
                if args.tracemalloc:
                    tracemalloc.start(12)
                    snapshot = tracemalloc.take_snapshot()
            if done % args.every == 0 or done == args.reports:
                reading = read_memory(done, (time.perf_counter() - started) / done)
                readings.append(reading)
                print(reading.row(), flush=True)
        last = readings[-1]
        if warm is not None and last.reports > warm.reports:
            span = last.reports - warm.reports
            print(
                f"\ngrowth from report {warm.reports} to {last.reports} ({span} reports): "
                f"RSS {last.rss_mb - warm.rss_mb:+.1f} MB ({(last.rss_mb - warm.rss_mb) / span * 1e3:+.0f} kB/report), "
                f"PSS {last.pss_mb - warm.pss_mb:+.1f} MB ({(last.pss_mb - warm.pss_mb) / span * 1e3:+.0f} kB/report), "
                f"malloc in use {last.malloc_mb - warm.malloc_mb:+.1f} MB "
                f"({(last.malloc_mb - warm.malloc_mb) / span * 1e3:+.0f} kB/report), "
                f"Python objects {last.objects - warm.objects:+d}"
            )
        if snapshot is not None:
            print("\nPython allocations that grew most since the warm-up (tracemalloc):")
            for stat in tracemalloc.take_snapshot().compare_to(snapshot, "traceback")[:8]:
                print(f"{stat.size_diff / 1e3:+.1f} kB in {stat.count_diff:+d} blocks:")
                print("\n".join(stat.traceback.format()[-6:]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
