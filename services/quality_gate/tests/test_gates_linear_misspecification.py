"""linear_misspecification: flexible nuisances that move the doubly robust answer flag linear methods."""

from __future__ import annotations

from cqox_contracts.v1 import EstimateResult
from cqox_quality_gate.domain import GateThresholds
from cqox_quality_gate.gates.reported import linear_misspecification_gate, reported_gates, uses_linear_models


def result(method: str, diagnostics: dict[str, float | str | None], estimate: float = 1.5) -> EstimateResult:
    return EstimateResult(
        method=method,
        estimand="ATE",
        estimate=estimate,
        std_error=0.06,
        ci_lower=estimate - 0.12,
        ci_upper=estimate + 0.12,
        p_value=0.01,
        n=2000,
        inference="test",
        diagnostics=diagnostics,
    )


def analysis(shift: float) -> list[EstimateResult]:
    """An aipw that chose boosted nuisances and reports the linear ones' shift, beside others."""
    return [
        result(
            "aipw",
            {
                "outcome_model": "linear+lightgbm",
                "propensity_model": "linear",
                "linear_nuisance_shift_se": shift,
                "linear_misfit_outcome_r2": 0.07,
            },
        ),
        result("ols", {"model_form": "linear"}, 1.68),
        result("ipw", {"model_form": "linear"}, 1.66),
        result("linear_dml", {"outcome_model": "linear", "propensity_model": "linear"}, 1.67),
        result("causal_forest", {"outcome_model": "lightgbm", "propensity_model": "lightgbm"}),
        result("t_learner", {"base_model": "lightgbm"}),
    ]


def test_a_large_shift_flags_every_method_resting_on_linear_models_only() -> None:
    gate = linear_misspecification_gate(analysis(2.4), GateThresholds())
    assert gate is not None and not gate.passed
    assert gate.applies_to == ["ipw", "linear_dml", "ols"]
    assert gate.value == 2.4 and gate.threshold == 1.5
    assert "2.4 standard errors" in gate.message and "7.0% more" in gate.message
    assert "linear_misspecification" in [g.name for g in reported_gates(analysis(2.4), GateThresholds())]


def test_a_small_shift_passes_and_names_nobody() -> None:
    gate = linear_misspecification_gate(analysis(0.4), GateThresholds())
    assert gate is not None and gate.passed and gate.applies_to == []


def test_no_gate_when_no_method_compared_linear_and_flexible_nuisances() -> None:
    estimates = [e for e in analysis(2.4) if e.method != "aipw"]
    assert linear_misspecification_gate(estimates, GateThresholds()) is None


def test_what_counts_as_linear() -> None:
    assert uses_linear_models(result("s_learner", {"base_model": "linear"}))
    assert not uses_linear_models(result("aipw", {"outcome_model": "linear", "propensity_model": "lightgbm"}))
