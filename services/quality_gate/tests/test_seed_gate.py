"""unstable_across_seeds names the unstable methods and says which spreads are bounds or missing."""

from __future__ import annotations

from cqox_contracts.v1 import EstimateResult
from cqox_quality_gate.domain import GateThresholds
from cqox_quality_gate.gates.reported import reported_gates


def _estimate(method: str, **diagnostics: float | str) -> EstimateResult:
    return EstimateResult(
        method=method,
        estimand="ATE",
        estimate=1.0,
        std_error=0.5,
        ci_lower=0.02,
        ci_upper=1.98,
        p_value=0.04,
        n=500,
        inference="test",
        diagnostics=diagnostics,
    )


def _seed_gate(estimates: list[EstimateResult]):  # type: ignore[no-untyped-def]
    return [g for g in reported_gates(estimates, GateThresholds()) if g.name == "unstable_across_seeds"]


def test_a_forest_bounded_by_its_partial_refit_is_named_and_the_unmeasured_method_listed() -> None:
    forest = _estimate(
        "causal_forest",
        seed_spread_se=2.3,
        seed_stability="the forest regrown with a second seed (...), so a lower bound; over the budget",
    )
    steady = _estimate("aipw", seed_spread_se=0.2, seed_stability="fitted again with 1 more seed(s)")
    slow = _estimate("linear_dml", seed_stability="not measured: the first fit overran the budget")
    (gate,) = _seed_gate([forest, steady, slow])
    assert not gate.passed and gate.applies_to == ["causal_forest"] and gate.value == 2.3
    assert "For causal_forest the spread is a lower bound" in gate.message
    assert "Not measured for linear_dml" in gate.message
    assert "seed_spread_se[linear_dml]" not in gate.details


def test_stable_methods_pass_and_nothing_is_said_about_bounds_when_all_were_refitted() -> None:
    (gate,) = _seed_gate([_estimate("aipw", seed_spread_se=0.2, seed_stability="fitted again")])
    assert gate.passed and gate.applies_to == [] and "the spread is a lower bound" not in gate.message
    assert "Not measured" not in gate.message
    # No method reports a spread: no gate (a deterministic method has nothing to measure).
    assert _seed_gate([_estimate("ols")]) == []


def test_when_no_spread_was_measured_the_unmeasured_methods_get_an_unjudged_gate() -> None:
    slow = _estimate("causal_forest", seed_stability="not measured: the first fit overran the budget")
    (gate,) = _seed_gate([slow, _estimate("ols")])
    assert (gate.passed, gate.severity, gate.value) == (False, "info", None)
    assert gate.applies_to == ["causal_forest"] and "Not measured for causal_forest" in gate.message
