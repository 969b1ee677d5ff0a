"""The demo, as a user types it: `cqox upload FILE --wait` per sample (upload progress, the live
event list, estimates, gates, refuters, sensitivity panel, verdict), `cqox report ID` for the HTML
and PDF files, then the estimates set against the sample's known true effect (through the SDK)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cqox import Client

from cqox_contracts.v1 import AVERAGE_ESTIMANDS

Out = Callable[[str], None]
ANALYSIS_ID = re.compile(r"analysis ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


def cqox_command() -> list[str]:
    """The `cqox` console script of this environment (or `python -m cqox` without one)."""
    script = Path(sys.executable).with_name("cqox")
    if script.exists():
        return [str(script)]
    found = shutil.which("cqox")
    return [found] if found else [sys.executable, "-m", "cqox"]


def _env(api_url: str) -> dict[str, str]:
    env = {**os.environ, "CQOX_URL": api_url}
    if sys.stdout.isatty():  # the CLI's output passes through a pipe here: keep colours and width
        env.setdefault("FORCE_COLOR", "1")
        env.setdefault("COLUMNS", str(shutil.get_terminal_size().columns))
    return env


def cqox(api_url: str, *args: str, out: Out = print) -> tuple[int, list[str]]:
    """Show `$ cqox ARGS` and run it, passing its output through line by line; (exit code, lines)."""
    out(f"\n$ cqox {shlex.join(args)}")
    process = subprocess.Popen(
        [*cqox_command(), *args], env=_env(api_url), stdout=subprocess.PIPE, text=True, bufsize=1
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        out(lines[-1])
    return process.wait(), lines


def print_truth(analysis: dict[str, Any], truth: float, out: Out = print) -> None:
    """Each average-effect estimate next to the sample's true (constant) effect."""
    comparable = [e for e in analysis.get("estimates", []) if e["estimand"] in set(AVERAGE_ESTIMANDS)]
    if not comparable:
        return
    out(f"\nAgainst the true effect of the sample ({truth:+.3f})")
    for e in comparable:
        inside = e["ci_lower"] is not None and e["ci_lower"] <= truth <= e["ci_upper"]
        mark = "CI covers it" if inside else "CI misses it"
        out(
            f"  {e['method']:<18} {e['estimand']:<5} {e['estimate']:>9.3f}  Δ truth {e['estimate'] - truth:+.3f}  {mark}"
        )


def report_summary(written: dict[str, Path]) -> dict[str, Any]:
    """Where the report files are and how many views its figure table (report.json) lists."""
    summary: dict[str, Any] = {fmt: str(path) for fmt, path in written.items()}
    if "json" in written:
        figures = json.loads(written["json"].read_text(encoding="utf-8")).get("figures", [])
        tables = sum("table" in entry.get("formats", []) for entry in figures)
        summary |= {"views": len(figures), "figures": len(figures) - tables, "tables": tables}
    return summary


def report_line(sample: str, summary: dict[str, Any]) -> str:
    """One line per sample: the report's path and its figure count."""
    where = summary.get("html") or summary.get("pdf") or "—"
    if "views" not in summary:
        return f"\nReport of {sample}: {where} (no report.json, figure count unknown)"
    figures, tables = summary["figures"], summary["tables"]
    return (
        f"\nReport of {sample}: {where} — {figures} figure{'s' * (figures != 1)} and {tables} "
        f"table{'s' * (tables != 1)} ({summary['views']} views in the figure table)"
    )


def run_demo(
    api_url: str, sample: Path, meta: Path | None, out: Out = print, reports: Path = Path(".cqox") / "reports"
) -> dict[str, Any]:
    """Upload the sample with the CLI, follow it, download its report; returns the analysis."""
    truth = json.loads(meta.read_text()).get("true_ate") if meta and meta.exists() else None
    code, lines = cqox(api_url, "upload", str(sample), "--name", sample.stem, "--wait", out=out)
    found = next((m.group(1) for line in lines if (m := ANALYSIS_ID.search(line))), None)
    if found is None:
        raise RuntimeError(f"cqox upload {sample} did not start an analysis (exit {code})")
    written: dict[str, Path] = {}
    with Client(api_url) as client:
        analysis = client.get(found)
        if analysis.report is not None:
            reports.mkdir(parents=True, exist_ok=True)
            names = {a.name for a in analysis.report.artifacts}
            wanted = {"html": "report", "pdf": "report_pdf", "json": "report_json"}
            for fmt in (fmt for fmt, name in wanted.items() if name in names):
                target = reports / f"{sample.stem}.{fmt}"
                code, _ = cqox(api_url, "report", found, "--format", fmt, "--output", str(target), out=out)
                if code == 0:
                    written[fmt] = target
    body = analysis.model_dump(mode="json")
    if written:
        body["demo_report"] = report_summary(written)
        out(report_line(sample.stem, body["demo_report"]))
    if truth is not None:
        print_truth(body, float(truth), out=out)
    return body
