"""Parallel-trends gate: judged from the event-study pre-trend test panel methods report."""

from __future__ import annotations

from cqox_contracts.v1 import EstimateResult, GateResult
from cqox_quality_gate.gates.thresholds import GateThresholds

PRETREND_KEY = "pretrend_p_value"


def parallel_trends_gate(estimates: list[EstimateResult], thresholds: GateThresholds) -> list[GateResult]:
    """One gate over every estimate that reports a pre-trend p-value; none when no estimate does."""
    tested = {
        e.method: float(p) for e in estimates if isinstance(p := e.diagnostics.get(PRETREND_KEY), int | float)
    }
    if not tested:
        return []
    limit = thresholds.min_pretrend_p
    failing = sorted(method for method, p in tested.items() if p < limit)
    smallest = min(tested.values())
    if failing:
        message = (
            f"Treated and comparison units already diverged before treatment (pre-trend p = "
            f"{smallest:.3g} < {limit:g}): parallel trends is doubtful, so the difference-in-differences "
            "estimates may reflect the earlier drift. Add unit-specific trends or covariates, or "
            "choose comparison units that moved together before treatment."
        )
    else:
        message = (
            f"No pre-trend detected: the event-study leads are jointly insignificant (p = {smallest:.3g} "
            f"≥ {limit:g}). This cannot prove parallel trends; it finds no evidence against them."
        )
    return [
        GateResult(
            name="parallel_trends",
            category="causal",
            threshold=limit,
            value=smallest,
            passed=not failing,
            severity="warning",
            message=message,
            applies_to=failing,
            details={f"{PRETREND_KEY}[{method}]": p for method, p in sorted(tested.items())},
        )
    ]
