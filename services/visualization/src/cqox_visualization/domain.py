"""What an analysis says, in numbers and one sentence: consensus, flags, headline, formatting.

Pure functions over contract value objects. The figures (`figures.py`) and the HTML report
(`report.py`) build on these so that the plot, the table and the event headline agree.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cqox_contracts.v1.models import EstimateResult, GateResult, Headline

MISSING = "—"
_MAX_NAMES_IN_HEADLINE = 4


def is_finite(value: float | None) -> bool:
    """True for a real, finite number (not None, NaN or ±inf)."""
    return value is not None and math.isfinite(value)


def format_number(value: float | None) -> str:
    """Format an effect, SE or gate value: 3 decimals, or 3 significant digits below 0.1."""
    if value is None:
        return MISSING
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if magnitude >= 1e7 or magnitude < 1e-4:
        text = f"{value:.3g}"
    elif magnitude >= 0.1:
        text = f"{value:,.3f}"
    else:
        # Small values keep three significant digits instead of rounding to 0.000.
        decimals = 2 - math.floor(math.log10(magnitude))
        text = f"{value:.{decimals}f}".rstrip("0")
    return text


def format_p_value(p_value: float | None) -> str:
    """Format a p-value; anything below 0.001 is shown as '< 0.001'."""
    if not is_finite(p_value):
        return MISSING
    assert p_value is not None
    if p_value < 0.001:
        return "< 0.001"
    return f"{p_value:.3f}"


def format_count(count: int | None) -> str:
    """Format a row count with thousands separators."""
    return MISSING if count is None else f"{count:,}"


def format_level(level: float) -> str:
    """Format a confidence level as a percentage, e.g. 0.95 -> '95%', 0.975 -> '97.5%'."""
    return f"{level * 100:.4g}%"


def format_interval(estimate: EstimateResult) -> str:
    """Format an estimate's confidence interval with its level, e.g. '[1.850, 2.300] (95%)'."""
    if not (is_finite(estimate.ci_lower) and is_finite(estimate.ci_upper)):
        return MISSING
    lower, upper = format_number(estimate.ci_lower), format_number(estimate.ci_upper)
    return f"[{lower}, {upper}] ({format_level(estimate.ci_level)})"


def flagged_methods(gates: Iterable[GateResult]) -> dict[str, list[str]]:
    """Map each method named in a failed gate's `applies_to` to the names of those gates."""
    flags: dict[str, list[str]] = {}
    for gate in gates:
        if gate.passed:
            continue
        for method in gate.applies_to:
            names = flags.setdefault(method, [])
            if gate.name not in names:
                names.append(gate.name)
    return flags


def failed_gates(gates: Iterable[GateResult]) -> list[GateResult]:
    """Failed gates, errors first, then warnings, then info; input order kept within a severity."""
    rank = {"error": 0, "warning": 1, "info": 2}
    return sorted((g for g in gates if not g.passed), key=lambda g: rank.get(g.severity, 3))


def covers(estimate: EstimateResult, value: float) -> bool | None:
    """Whether the estimate's CI contains `value`; None when the estimate has no usable CI."""
    if not (is_finite(estimate.ci_lower) and is_finite(estimate.ci_upper)):
        return None
    assert estimate.ci_lower is not None and estimate.ci_upper is not None
    return estimate.ci_lower <= value <= estimate.ci_upper


@dataclass(frozen=True)
class Consensus:
    """Where the methods land together: median, range and how many CIs cover the median."""

    median: float
    low: float
    high: float
    n_methods: int
    n_with_ci: int
    n_agree: int
    estimands: tuple[str, ...]

    @property
    def estimand_label(self) -> str:
        """'ATE' when all methods share one estimand, else 'estimate (ATE, ATT)'."""
        if len(self.estimands) == 1:
            return self.estimands[0]
        return f"estimate ({', '.join(self.estimands)})"


def consensus(estimates: Sequence[EstimateResult], estimand: str | None = None) -> Consensus | None:
    """Median and range of the finite point estimates (of one `estimand` when given); None when
    there are none.

    A method agrees when its confidence interval contains the median; methods without a
    usable interval are left out of that count rather than counted as agreeing.
    """
    usable = [e for e in estimates if is_finite(e.estimate) and estimand in (None, e.estimand)]
    if not usable:
        return None
    points = [e.estimate for e in usable]
    median = statistics.median(points)
    verdicts = [covers(e, median) for e in usable]
    estimands = tuple(dict.fromkeys(e.estimand for e in usable))
    return Consensus(
        median=median,
        low=min(points),
        high=max(points),
        n_methods=len(usable),
        n_with_ci=sum(v is not None for v in verdicts),
        n_agree=sum(v is True for v in verdicts),
        estimands=estimands,
    )


def _name_list(names: Sequence[str]) -> str:
    shown = list(names[:_MAX_NAMES_IN_HEADLINE])
    if len(names) > _MAX_NAMES_IN_HEADLINE:
        shown.append(f"+{len(names) - _MAX_NAMES_IN_HEADLINE} more")
    return ", ".join(shown)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def agreement_sentence(summary: Consensus) -> str:
    """How many methods agree with the median, said plainly."""
    if summary.n_with_ci == 0:
        return "no method reports a confidence interval, so agreement is not assessed"
    if summary.n_with_ci == summary.n_methods:
        return f"{summary.n_agree} of {summary.n_methods} methods agree (their CI covers the median)"
    return f"{summary.n_agree} of {summary.n_with_ci} methods with a CI agree (their CI covers the median)"


def gates_sentence(gates: Sequence[GateResult]) -> str:
    """Gate outcome in a few words, naming the failed gates."""
    if not gates:
        return "no quality gates were run"
    failed = failed_gates(gates)
    if not failed:
        return "the one quality gate passed" if len(gates) == 1 else f"all {len(gates)} quality gates passed"
    names = _name_list([g.name for g in failed])
    return f"{len(failed)} of {_plural(len(gates), 'quality gate')} failed ({names})"


def lead_sentence(lead: Headline, gates: Sequence[GateResult]) -> str:
    """The quality gate's headline in words: one estimand, its median method, and why it leads."""
    level = f"{lead.ci_level:.0%}"
    interval = (
        f", {level} CI {format_number(lead.ci_lower)} to {format_number(lead.ci_upper)}"
        if is_finite(lead.ci_lower) and is_finite(lead.ci_upper)
        else ""
    )
    group = len(lead.methods)
    if group > 1:
        source = (
            f"median of {group} {lead.estimand} methods ({lead.method}{interval}); "
            f"{lead.n_agreeing} of {group} agree"
        )
    else:
        source = f"{lead.method}{interval}"
    flagged = (
        f"; {_plural(len(lead.flagged), 'method')} of this estimand flagged by gates" if lead.flagged else ""
    )
    return (
        f"{lead.estimand} = {format_number(lead.estimate)} ({source}){flagged}; "
        f"{gates_sentence(gates)}. {lead.reason}"
    )


def headline(
    estimates: Sequence[EstimateResult], gates: Sequence[GateResult], lead: Headline | None = None
) -> str:
    """One-line summary of the analysis for the report and the `report.generated` event.

    With the quality gate's `lead` (one estimand chosen from design and overlap) the sentence is
    about it; without (an older event), about the median of every method.
    """
    if lead is not None:
        return lead_sentence(lead, gates)
    summary = consensus(estimates)
    if summary is None:
        return f"No method produced an estimate; {gates_sentence(gates)}."
    if summary.n_methods == 1:
        only = next(e for e in estimates if is_finite(e.estimate))
        interval = format_interval(only)
        ci_text = f", CI {interval}" if interval != MISSING else ""
        effect = (
            f"{summary.estimand_label} = {format_number(summary.median)} "
            f"from a single method ({only.method}{ci_text})"
        )
        return f"{effect}; {gates_sentence(gates)}."
    effect = (
        f"Median {summary.estimand_label} across {summary.n_methods} methods: "
        f"{format_number(summary.median)} (range {format_number(summary.low)} to "
        f"{format_number(summary.high)})"
    )
    flagged = [e.method for e in estimates if e.method in flagged_methods(gates)]
    flag_text = f"; {_plural(len(flagged), 'method')} flagged by gates" if flagged else ""
    return f"{effect}; {agreement_sentence(summary)}{flag_text}; {gates_sentence(gates)}."
