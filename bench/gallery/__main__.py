"""Real-data gallery (issue 12): published datasets uploaded through the HTTP API, scored against the
published figures.

    uv run python -m bench.gallery [--fast] [--only card_schooling,senate_incumbency]
                                   [--json out.json] [--markdown out.md] [--api URL]

Starts the embedded stack (real nats-server and PostgreSQL, every service its own process) in a
temporary folder unless `--api` names a running one (`make up`), uploads each dataset with only
the roles a user would state, waits for its analysis and prints, per dataset: the design found,
the published value and tolerance, the headline (estimand, estimate, CI), every method's
estimate, whether it is inside the tolerance, and the gates that flag it. Exit status 1 when a
row misses the bar (headline inside the tolerance; every other estimate inside it or flagged by
a named gate). Sources and tolerances: bench/gallery/datasets.py.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.gallery.datasets import GALLERY, TOLERANCE_RULE, UNCOVERED, GalleryDataset
from bench.gallery.harness import Row, _fmt, reupload, run_dataset


@contextmanager
def embedded_api() -> Iterator[str]:
    """The whole stack as processes in a temporary folder; yields the ingest API URL."""
    from cqox_stack.stack import Stack

    root = Path(tempfile.mkdtemp(prefix="cqox-gallery-"))
    stack = Stack(root, env_overrides={"CQOX_LOG_LEVEL": "WARNING"})
    try:
        print(f"starting the embedded stack in {root} ...", file=sys.stderr, flush=True)
        stack.start()
        yield stack.api_url
    finally:
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)


def _ci(lower: float | None, upper: float | None) -> str:
    return f"[{_fmt(lower)}, {_fmt(upper)}]" if lower is not None and upper is not None else ""


def published_text(row: Row) -> str:
    """The published value and tolerance the headline is scored with."""
    if row.headline_reference is not None and row.headline_tolerance is not None:
        return f"{_fmt(row.headline_reference)} ± {_fmt(row.headline_tolerance)}"
    return f"{_fmt(row.reference)} ± {_fmt(row.tolerance)}"


def headline_text(row: Row) -> str:
    """Estimand, estimate and CI of the headline, or what stopped the analysis."""
    if row.headline is None or row.headline.estimate is None:
        return f"— ({row.status})"
    head = row.headline
    mark = "✓" if row.headline_in_tolerance else "✗"
    return f"{head.estimand} {_fmt(head.estimate)} {_ci(head.ci_lower, head.ci_upper)} {mark}".replace(
        "  ", " "
    )


def methods_text(row: Row, sep: str = "; ") -> str:
    """Every method's estimate: ✓ inside the tolerance, ✗ outside, ⚑gate when a gate flags it."""
    parts = []
    for score in row.scores:
        if score.in_tolerance or not score.scored:
            mark = "✓" if score.in_tolerance else "(not an effect)"
            flags = (
                "⚑" if score.flags else ""
            )  # flags on an estimate inside the tolerance: counted, not named
        else:
            mark, flags = "✗", (" ⚑" + ", ".join(score.flags) if score.flags else "")
        parts.append(f"{score.method} {_fmt(score.estimate)} {mark}{flags}")
    parts += [f"{f['method']} failed" for f in row.failures]
    return sep.join(parts) or "—"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def verdict_text(row: Row) -> str:
    """The analysis's verdict level, or a dash when it has none (rejected, failed)."""
    return row.robustness.verdict or "—"


def sensitivity_text(row: Row) -> str:
    """The headline's E-value (point; CI limit nearest no effect) and Cinelli-Hazlett RV."""
    rob = row.robustness
    if not rob.panel_method:
        return "—"
    parts = []
    if rob.e_value is not None:
        parts.append(f"E-value {_number(rob.e_value)} (CI {_number(rob.e_value_ci)})")
    if rob.robustness_value is not None:
        alpha = rob.robustness_value_alpha
        parts.append(f"RV {rob.robustness_value:.1%}" + (f" (α: {alpha:.1%})" if alpha is not None else ""))
    if not parts:
        note = rob.panel_notes[0] if rob.panel_notes else "no measure applies"
        note = note.split(", not by", 1)[0].split(";", 1)[0]
        return f"none ({note[:100].rstrip('.')})"
    return ", ".join(parts)


def refuters_text(row: Row) -> str:
    """Each refuter: ✓/✗ on the headline's method (· when not run on it), and passed of all run."""
    if not row.robustness.refuters:
        return "—"
    marks = {"passed": "✓", "failed": "✗", "": "·"}
    return ", ".join(
        f"{r.refuter} {marks[r.headline]} {r.passed}/{r.passed + r.failed}" for r in row.robustness.refuters
    )


def print_rows(rows: list[Row]) -> None:
    """The console table: one summary line per dataset, then each method's line."""
    print()
    header = f"{'dataset':22} {'design found':24} {'published ± tol':>22}  headline"
    print(header)
    print("-" * 110)
    for row in rows:
        design = row.design or "—"
        if row.expected_design and row.design and row.design != row.expected_design:
            design = f"{design} (≠{row.expected_design})"
        published = published_text(row)
        bar = "MEETS BAR" if row.meets_bar else "misses bar"
        print(f"{row.name:22} {design:24} {published:>22}  {headline_text(row)}   [{bar}]")
        print(
            f"    verdict {verdict_text(row)} · sensitivity of the headline: {sensitivity_text(row)}"
            f" · refuters (✓/✗ on the headline's method; passed/run over all methods): {refuters_text(row)}"
        )
        for score in row.scores:
            mark = "in tol" if score.in_tolerance else ("OUT   " if score.scored else "n/a   ")
            flags = ", ".join(score.flags)
            print(
                f"    {score.method:28} {score.estimand:10} {_fmt(score.estimate):>12} "
                f"{_ci(score.ci_lower, score.ci_upper):>26}  {mark} {flags}"
            )
        for failure in row.failures:
            print(f"    {failure['method']:28} failed: {failure['reason'][:150]}")
        for reason in row.reasons:
            print(f"    ✗ {reason[:200]}")
        moved = {m: v for m, v in row.seed_spread.items() if v["range_over_se"] > 1}
        if row.seed_spread:
            text = ", ".join(f"{m} {_fmt(v['range'])} ({v['range_over_se']:.1f}x)" for m, v in moved.items())
            print(f"    seed spread above 1 SE (headline: CI half-width): {text or 'none'}")
    met = sum(r.meets_bar for r in rows)
    heads = sum(r.headline_in_tolerance for r in rows)
    completed = [r for r in rows if r.status == "completed"]
    shown = sum(r.robustness.shown and bool(r.robustness.verdict) for r in completed)
    print("-" * 110)
    print(f"{met} of {len(rows)} datasets meet the bar; {heads} of {len(rows)} headlines inside tolerance.")
    levels = {level: sum(r.robustness.verdict == level for r in rows) for level in ("GO", "CAUTION", "HOLD")}
    print(
        f"{shown} of {len(completed)} completed analyses show a verdict "
        f"({', '.join(f'{k} {v}' for k, v in levels.items())}); "
        f"{sum(bool(r.robustness.panel_method) for r in completed)} a headline sensitivity panel; "
        f"{sum(bool(r.robustness.refuters) for r in completed)} refuter results."
    )
    print(
        f"Tolerance: {TOLERANCE_RULE}. Not covered: " + "; ".join(f"{k}: {v}" for k, v in UNCOVERED.items())
    )


def markdown(rows: list[Row]) -> str:
    """The README table."""
    lines = [
        "| dataset | design claimed → found | published ± tolerance | headline | verdict | headline sensitivity | refuters (✓/✗ headline's method; passed/run) | every method (✓ in tolerance, ✗ not, ⚑ flagged: by whom when outside) | bar |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        found = row.design or row.status
        bar = "✅" if row.meets_bar else "❌ " + "; ".join(r[:90] for r in row.reasons[:2])
        lines.append(
            f"| `{row.name}` | {row.claim} → {found} | {published_text(row)} | "
            f"{headline_text(row)} | {verdict_text(row)} | {sensitivity_text(row)} | "
            f"{refuters_text(row)} | {methods_text(row).replace('|', '/')} | {bar} |"
        )
    return "\n".join(lines)


def main() -> int:
    """Run the gallery (or a part of it) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated dataset names")
    parser.add_argument("--fast", action="store_true", help="only the fast half (the one make test runs)")
    parser.add_argument("--json", type=Path, help="write the rows as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the README table here")
    parser.add_argument("--api", help="use a running stack's ingest API instead of starting one")
    parser.add_argument("--list", action="store_true", help="list the datasets and their sources")
    parser.add_argument(
        "--seeds", type=int, default=1, help="re-upload each file with seeds 2..N and report the spread"
    )
    parser.add_argument("--from-json", type=Path, help="re-render the tables of an earlier --json run")
    args = parser.parse_args()
    # a SIGTERM (timeout, Ctrl-C from a supervisor) still stops every process the stack started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    chosen: list[GalleryDataset] = list(GALLERY)
    if args.fast:
        chosen = [d for d in chosen if d.fast]
    if args.only:
        names = {n.strip() for n in args.only.split(",") if n.strip()}
        unknown = names - {d.name for d in GALLERY}
        if unknown:
            parser.error(f"unknown dataset(s): {', '.join(sorted(unknown))}")
        chosen = [d for d in chosen if d.name in names]
    if args.list:
        for d in chosen:
            fast = " [fast]" if d.fast else ""
            print(f"{d.name:22} {d.claim:45} {d.package:12} {d.reference.source}{fast}")
        return 0

    rows: list[Row] = []
    started = time.monotonic()
    if args.from_json:
        rows = [Row.from_json(r) for r in json.loads(args.from_json.read_text())]
        rows = [r for r in rows if r.name in {d.name for d in chosen}]
        print_rows(rows)
        if args.markdown:
            args.markdown.write_text(markdown(rows) + "\n")
        return 0 if all(r.meets_bar for r in rows) else 1
    with (
        embedded_api() if not args.api else _given(args.api) as url,
        httpx.Client(base_url=url, timeout=60) as api,
        tempfile.TemporaryDirectory() as tmp,
    ):
        for dataset in chosen:
            print(f"  {dataset.name} ...", file=sys.stderr, end="", flush=True)
            row = run_dataset(api, dataset, Path(tmp))
            if args.seeds > 1 and row.status == "completed":
                reupload(api, dataset, Path(tmp), row, args.seeds)
            print(f" {row.status} in {row.seconds:.0f}s", file=sys.stderr, flush=True)
            rows.append(row)
    print_rows(rows)
    print(f"({time.monotonic() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in rows], indent=2, default=str))
    if args.markdown:
        args.markdown.write_text(markdown(rows) + "\n")
    return 0 if all(r.meets_bar for r in rows) else 1


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    sys.exit(main())
