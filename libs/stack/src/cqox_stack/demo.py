"""The demo: upload the sample, follow the analysis live, print the results and the report path."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from cqox_contracts.v1 import Refuter

ICONS = {
    "dataset.ingested": "⬆",
    "dataset.mapped": "🧭",
    "dataset.qualified": "✔",
    "dataset.rejected": "✘",
    "estimate.requested": "…",
    "estimate.completed": "∑",
    "estimate.failed": "✘",
    "analysis.estimated": "∑",
    "analysis.assessed": "⚖",
    "report.generated": "📄",
    "analysis.failed": "✘",
    "notification.delivered": "✉",
    "notification.failed": "✘",
}


AVERAGE_EFFECTS = {"ATE", "ATT", "ATC", "ATO"}


def follow(api_url: str, analysis_id: str, *, timeout_s: float = 600, out=print) -> None:  # type: ignore[no-untyped-def]
    """Print each event of the analysis as it happens (SSE), until the analysis is done."""
    started = time.monotonic()
    with (
        httpx.Client(timeout=httpx.Timeout(10, read=timeout_s)) as client,
        client.stream("GET", f"{api_url}/v1/analyses/{analysis_id}/events") as response,
    ):
        response.raise_for_status()
        event_type = ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                event_type = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data = json.loads(line.split(":", 1)[1])
                if event_type == "end":
                    return
                icon = ICONS.get(event_type, "•")
                out(
                    f"  {time.monotonic() - started:6.2f}s {icon} {event_type:<22} {data['producer']:<13} {data['summary']}"
                )
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"analysis {analysis_id} did not finish in {timeout_s:.0f}s")


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and abs(value) < 10**-digits and value != 0:
        return f"{value:.1e}"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _p(value: float | None) -> str:
    if value is None:
        return "—"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def print_results(analysis: dict[str, Any], truth: float | None, out=print, api_url: str = "") -> None:  # type: ignore[no-untyped-def]
    """Estimates next to the true effect, the gates, and where the report is."""
    out(f"\nAnalysis {analysis['analysis_id']}: {analysis['status']}")
    if analysis.get("error"):
        out(f"  error: {analysis['error']}")
    flagged: dict[str, list[str]] = {}
    for gate in analysis.get("gates", []):
        for method in [] if gate["passed"] else gate.get("applies_to", []):
            flagged.setdefault(method, []).append(gate["name"])
    header = f"  {'method':<18} {'estimand':<12} {'estimate':>9} {'SE':>7} {'95% CI':>19} {'p':>8} {'n':>6}"
    out("\nEstimates" + (f" (true effect of the sample: {truth:+.3f})" if truth is not None else ""))
    out(header)
    out("  " + "-" * (len(header) - 2))
    for e in analysis.get("estimates", []):
        ci = f"[{_num(e['ci_lower'])}, {_num(e['ci_upper'])}]"
        note = f"  ⚠ {', '.join(flagged[e['method']])}" if e["method"] in flagged else ""
        comparable = truth is not None and e["estimand"] in AVERAGE_EFFECTS  # constant effect: all equal it
        diff = f"  (Δ truth {e['estimate'] - truth:+.3f})" if comparable else ""
        out(
            f"  {e['method']:<18} {e['estimand']:<12} {e['estimate']:>9.3f} {_num(e['std_error']):>7} {ci:>19} "
            f"{_p(e['p_value']):>8} {e['n']:>6}{diff}{note}"
        )
    for f in analysis.get("failures", []):
        out(f"  {f['method']:<18} failed: {f['reason']}")
    out("\nQuality gates")
    for g in analysis.get("gates", []):
        if _refuter_of(g) is not None:
            continue  # summarised per refuter below
        mark = "pass" if g["passed"] else ("FAIL" if g["severity"] == "error" else "warn")
        out(
            f"  [{mark}] {g['category']:<6} {g['name']:<32} value={_num(g['value'])} threshold={_num(g['threshold'])}"
        )
    print_refuters(analysis, out=out)
    print_sensitivity(analysis, out=out)
    print_verdict(analysis, out=out)
    report = analysis.get("report") or {}
    if report:
        out(f"\nReport: {api_url}{report.get('url', '')}")
        for artifact in report.get("artifacts", []):
            if artifact.get("name") == "report_pdf":
                out(f"        {api_url}{artifact['url']} (PDF)")
        if report.get("headline"):
            out(f"        {report['headline']}")


def _refuter_of(gate: dict[str, Any]) -> str | None:
    """The refuter a `<refuter>[<method>]` gate reports, or None for any other gate."""
    name = str(gate.get("name", ""))
    refuter = name.split("[", 1)[0]
    return refuter if name.endswith("]") and refuter in set(Refuter) else None


def print_refuters(analysis: dict[str, Any], out=print) -> None:  # type: ignore[no-untyped-def]
    """One line per refuter: how many refuted methods pass, and the ones that do not, with values."""
    by_refuter: dict[str, list[dict[str, Any]]] = {}
    for gate in analysis.get("gates", []):
        if (refuter := _refuter_of(gate)) is not None:
            by_refuter.setdefault(refuter, []).append(gate)
    if not by_refuter:
        return
    out("\nRefuters (placebo checks of each refuted method)")
    for refuter, gates in by_refuter.items():
        passed = sum(1 for g in gates if g["passed"])
        others = [
            f"{', '.join(g['applies_to'])} {'not run' if g['severity'] == 'info' else 'warn'}"
            f" value={_num(g['value'])}"
            for g in gates
            if not g["passed"]
        ]
        threshold = _num(gates[0]["threshold"])
        tail = f"; {'; '.join(others)}" if others else ""
        out(f"  {refuter:<20} {passed}/{len(gates)} pass (threshold {threshold}){tail}")


def print_sensitivity(analysis: dict[str, Any], out=print) -> None:  # type: ignore[no-untyped-def]
    """Each sensitivity panel in one or two lines: how strong a hidden confounder must be."""
    panels = analysis.get("sensitivity") or []
    if not panels:
        return
    out("\nSensitivity to hidden confounding")
    for panel in panels:
        lead = " (headline)" if panel.get("headline") else ""
        parts = []
        if ev := panel.get("e_value"):
            parts.append(f"E-value {ev['point']:.2f} (CI {_num(ev.get('ci'), 2)})")
        if ovb := panel.get("omitted_variable_bias"):
            parts.append(f"RV {ovb['robustness_value']:.1%} (α: {ovb['robustness_value_alpha']:.1%})")
            one = next((b for b in ovb.get("bounds", []) if b["k"] == 1), None)
            if one:
                parts.append(f"1× {one['covariate']} → {one['adjusted_estimate']:.3f}")
        if rb := panel.get("rosenbaum"):
            parts.append(f"Rosenbaum Γ {_num(rb.get('critical_gamma'), 2)}")
        if (oster := panel.get("oster")) and oster.get("delta") is not None:
            parts.append(f"Oster δ {oster['delta']:.2f}, β* {_num(oster.get('beta_star'))}")
        measures = ", ".join(parts) if parts else "no measure applies"
        out(f"  {panel['method']:<18} {panel['estimand']:<6}{lead:<11} {measures}")


def print_verdict(analysis: dict[str, Any], out=print) -> None:  # type: ignore[no-untyped-def]
    """GO / CAUTION / HOLD and the reasons."""
    verdict = analysis.get("verdict")
    if not verdict:
        return
    out(f"\nVerdict: {verdict['summary']}")
    for reason in verdict.get("failed", []):
        out(f"  ✗ {reason[:160]}")
    if verdict.get("robustness"):
        out(f"  hidden confounding: {verdict['robustness'][:240]}")
    if verdict.get("untestable"):
        out(f"  untestable: {'; '.join(verdict['untestable'])[:240]}")


def run_demo(api_url: str, sample: Path, meta: Path | None, out=print) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Upload the sample through the API, follow it, print the results; returns the analysis."""
    truth = json.loads(meta.read_text()).get("true_ate") if meta and meta.exists() else None
    out(f"\nUploading {sample.name} to {api_url}/v1/datasets ...")
    with sample.open("rb") as handle:
        response = httpx.post(
            f"{api_url}/v1/datasets",
            files={"file": (sample.name, handle, "text/csv")},
            data={"name": sample.stem, "analysis": json.dumps({"methods": "auto"})},
            timeout=120,
        )
    if response.status_code != 202:
        raise RuntimeError(f"upload refused ({response.status_code}): {response.text}")
    created = response.json()
    out(f"  dataset {created['dataset_id']} v{created['version']}, analysis {created['analysis_id']}\n")
    out("Events (live):")
    follow(api_url, created["analysis_id"], out=out)
    analysis = httpx.get(f"{api_url}/v1/analyses/{created['analysis_id']}", timeout=30).json()
    print_results(analysis, truth, out=out, api_url=api_url)
    return analysis  # type: ignore[no-any-return]
