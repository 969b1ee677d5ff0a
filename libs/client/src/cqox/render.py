"""How the command line shows things (Rich): the live event lines and an analysis's results —
estimates, gates, refuters, sensitivity panel, verdict and where the report is."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cqox.models import Analysis, flagged_by
from cqox.sse import AnalysisEvent
from cqox_contracts.v1 import GateResult, Refuter

ICONS = {
    "dataset.ingested": "⬆",
    "dataset.mapped": "🧭",
    "dataset.confirmed": "✍",
    "dataset.qualified": "✔",
    "dataset.rejected": "✘",
    "estimate.requested": "…",
    "estimate.completed": "∑",
    "estimate.failed": "✘",
    "refutation.completed": "↺",
    "refutation.failed": "✘",
    "analysis.estimated": "∑",
    "analysis.assessed": "⚖",
    "report.generated": "📄",
    "analysis.failed": "✘",
    "notification.delivered": "✉",
    "notification.failed": "✘",
}
STATUS_STYLE = {"completed": "green", "failed": "red", "rejected": "red", "awaiting_confirmation": "yellow"}
VERDICT_STYLE = {"GO": "bold green", "CAUTION": "bold yellow", "HOLD": "bold red"}


def num(value: Any, digits: int = 3) -> str:
    """A number for a table: '—' when absent, scientific when tiny."""
    if value is None:
        return "—"
    if isinstance(value, float) and value != 0 and abs(value) < 10**-digits:
        return f"{value:.1e}"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def p_value(value: float | None) -> str:
    """A p-value: '<0.001' below a thousandth."""
    if value is None:
        return "—"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def event_line(event: AnalysisEvent, elapsed_s: float) -> Text:
    """One live event line: time since the start, icon, type, producer, summary."""
    icon = ICONS.get(event.event_type, "•")
    style = "red" if event.event_type.endswith(("failed", "rejected")) else ""
    return Text(
        f"  {elapsed_s:6.2f}s {icon} {event.event_type:<22} {event.producer:<13} {event.summary}", style=style
    )


def refuter_of(gate: GateResult) -> str | None:
    """The refuter a `<refuter>[<method>]` gate reports, or None for any other gate."""
    refuter = gate.name.split("[", 1)[0]
    return refuter if gate.name.endswith("]") and refuter in set(Refuter) else None


def status_line(analysis: Analysis) -> Text:
    """'Analysis <id>: <status>' in the status's colour, with the design and the seed."""
    text = Text(f"Analysis {analysis.analysis_id}: ")
    text.append(analysis.status, style=STATUS_STYLE.get(analysis.status, "cyan"))
    if analysis.design:
        seed = f", seed {analysis.seed}" if analysis.seed is not None else ""
        text.append(f"  (design {analysis.design}, dataset {analysis.dataset_id} v{analysis.version}{seed})")
    return text


def estimates_table(analysis: Analysis) -> Table:
    """The estimates, one row per method, with the failed gates that cast doubt on each."""
    flagged = flagged_by(analysis)
    table = Table(title="Estimates", title_justify="left", show_edge=False, pad_edge=False)
    for column, justify in (
        ("method", "left"),
        ("estimand", "left"),
        ("estimate", "right"),
        ("SE", "right"),
        ("CI", "right"),
        ("p", "right"),
        ("n", "right"),
        ("doubted by", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for e in analysis.estimates:
        table.add_row(
            e.method,
            e.estimand,
            f"{e.estimate:.3f}",
            num(e.std_error),
            f"[{num(e.ci_lower)}, {num(e.ci_upper)}]",
            p_value(e.p_value),
            str(e.n),
            Text("⚠ " + ", ".join(flagged[e.method]), style="yellow") if e.method in flagged else "",
        )
    return table


def gates_table(gates: Sequence[GateResult], *, title: str = "Quality gates") -> Table:
    """Gates other than the per-method refuter checks: pass/warn/FAIL, value against threshold."""
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in ("", "category", "gate", "value", "threshold"):
        table.add_column(column, justify="right" if column in ("value", "threshold") else "left")
    for g in gates:
        if refuter_of(g) is not None:
            continue
        mark = (
            Text("pass", style="green")
            if g.passed
            else Text("FAIL", style="bold red")
            if g.severity == "error"
            else Text("warn", style="yellow")
        )
        table.add_row(mark, g.category, g.name, num(g.value), num(g.threshold))
    return table


def print_refuters(console: Console, analysis: Analysis) -> None:
    """One line per refuter: how many refuted methods pass, and the ones that do not."""
    by_refuter: dict[str, list[GateResult]] = {}
    for gate in analysis.gates:
        if (refuter := refuter_of(gate)) is not None:
            by_refuter.setdefault(refuter, []).append(gate)
    if not by_refuter:
        return
    console.print("\n[bold]Refuters[/] (placebo checks of each refuted method)")
    for refuter, gates in by_refuter.items():
        passed = sum(1 for g in gates if g.passed)
        others = [
            f"{', '.join(g.applies_to)} {'not run' if g.severity == 'info' else 'warn'} value={num(g.value)}"
            for g in gates
            if not g.passed
        ]
        tail = f"; {'; '.join(others)}" if others else ""
        console.print(
            Text(f"  {refuter:<20} {passed}/{len(gates)} pass (threshold {num(gates[0].threshold)}){tail}")
        )


def print_sensitivity(console: Console, analysis: Analysis) -> None:
    """Each sensitivity panel in a line: how strong a hidden confounder would have to be."""
    if not analysis.sensitivity:
        return
    console.print("\n[bold]Sensitivity to hidden confounding[/]")
    for panel in analysis.sensitivity:
        parts = []
        if ev := panel.e_value:
            parts.append(f"E-value {ev.point:.2f} (CI {num(ev.ci, 2)})")
        if ovb := panel.omitted_variable_bias:
            parts.append(f"RV {ovb.robustness_value:.1%} (α: {ovb.robustness_value_alpha:.1%})")
            one = next((b for b in ovb.bounds if b.k == 1), None)
            if one:
                parts.append(f"1× {one.covariate} → {one.adjusted_estimate:.3f}")
        if rb := panel.rosenbaum:
            parts.append(f"Rosenbaum Γ {num(rb.critical_gamma, 2)}")
        if (oster := panel.oster) and oster.delta is not None:
            parts.append(f"Oster δ {oster.delta:.2f}, β* {num(oster.beta_star)}")
        lead = " (headline)" if panel.headline else ""
        measures = ", ".join(parts) if parts else "no measure applies"
        console.print(Text(f"  {panel.method:<18} {panel.estimand:<6}{lead:<11} {measures}"))


def print_verdict(console: Console, analysis: Analysis) -> None:
    """GO / CAUTION / HOLD and the reasons."""
    verdict = analysis.verdict
    if verdict is None:
        return
    line = Text("\nVerdict: ")
    line.append(verdict.summary, style=VERDICT_STYLE.get(verdict.level, "bold"))
    console.print(line)
    for reason in verdict.failed:
        console.print(Text(f"  ✗ {reason[:160]}"))
    if verdict.robustness:
        console.print(Text(f"  hidden confounding: {verdict.robustness[:240]}"))
    if verdict.untestable:
        console.print(Text(f"  untestable: {'; '.join(verdict.untestable)[:240]}"))


def report_lines(analysis: Analysis, api_url: str) -> list[str]:
    """Where the report is: its local path when the API shows one, else its download URL."""
    report = analysis.report
    if report is None:
        return []
    names = {a.name for a in report.artifacts}
    lines = [f"Report: {report.path or (api_url + report.url if report.url else report.uri)}"]
    if "report_pdf" in names:
        pdf = report.path.removesuffix(".html") + ".pdf" if report.path else None
        lines.append(
            f"        {pdf} (PDF)" if pdf else f"        PDF: cqox report {analysis.analysis_id} --format pdf"
        )
    if report.headline:
        lines.append(f"        {report.headline}")
    return lines


def print_results(console: Console, analysis: Analysis, api_url: str) -> None:
    """Everything an analysis found: status, estimates, gates, refuters, sensitivity, verdict, report."""
    console.print()
    console.print(status_line(analysis))
    if analysis.error:
        console.print(Text(f"  error: {analysis.error}", style="red"))
    if analysis.awaiting_confirmation:
        print_mapping(console, analysis)
        return
    if lead := analysis.headline:
        console.print(
            Text(
                f"  headline: {lead.estimand} {lead.estimate:.4g} ({lead.ci_level:.0%} CI "
                f"{num(lead.ci_lower)} to {num(lead.ci_upper)}; {lead.method})"
            )
        )
    if analysis.estimates:
        console.print()
        console.print(estimates_table(analysis))
    for f in analysis.failures:
        console.print(Text(f"  {f.method:<18} failed: {f.reason}", style="red"))
    if analysis.gates:
        console.print()
        console.print(gates_table(analysis.gates))
    print_refuters(console, analysis)
    print_sensitivity(console, analysis)
    print_verdict(console, analysis)
    lines = report_lines(analysis, api_url)
    if lines:
        console.print()
        for line in lines:
            console.print(Text(line))


def print_mapping(console: Console, analysis: Analysis) -> None:
    """The inferred roles with their confidence and alternatives, and how to confirm them."""
    table = Table(title="Inferred roles (waiting for a confirmation)", title_justify="left", show_edge=False)
    for column in ("role", "column", "confidence", "alternatives"):
        table.add_column(column)
    for a in analysis.mapping:
        style = (
            "yellow" if analysis.confidence_threshold and a.confidence < analysis.confidence_threshold else ""
        )
        table.add_row(a.role, a.column, Text(f"{a.confidence:.2f}", style=style), ", ".join(a.alternatives))
    console.print(table)
    for note in analysis.mapping_notes:
        console.print(Text(f"  {note}"))
    console.print(
        Text(
            f"  confirm with: cqox mapping confirm {analysis.dataset_id} --analysis {analysis.analysis_id} "
            "[--treatment COL --outcome COL ...] --wait"
        )
    )
