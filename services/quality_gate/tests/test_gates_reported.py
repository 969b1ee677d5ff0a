"""Gates read the tests methods report: pre-trends (panel), first-stage F (IV), RD manipulation
and covariate continuity."""

from __future__ import annotations

import pandas as pd
import pytest

from cqox_contracts.v1 import EstimateResult, RoleMapping
from cqox_quality_gate.domain import GateThresholds, causal_gates


def panel_estimate(method: str, pretrend_p: float | None) -> EstimateResult:
    """An estimate whose diagnostics carry a pre-trend p-value (or none)."""
    return reporting(method, {} if pretrend_p is None else {"pretrend_p_value": pretrend_p})


def reporting(method: str, diagnostics: dict[str, float | str | None]) -> EstimateResult:
    """An estimate whose diagnostics carry the given tests."""
    return EstimateResult(
        method=method,
        estimand="ATT",
        estimate=1.0,
        std_error=0.1,
        ci_lower=0.8,
        ci_upper=1.2,
        p_value=0.01,
        n=400,
        inference="cluster",
        diagnostics=diagnostics,
    )


FRAME = pd.DataFrame({"t": [0, 1] * 50, "y": range(100)})
ROLES = RoleMapping(treatment="t", outcome="y")


def gate(estimates: list[EstimateResult], **thresholds: float) -> list[dict[str, object]]:
    """The parallel_trends gates among all causal gates, as dicts."""
    results = causal_gates(FRAME, ROLES, estimates, GateThresholds(**thresholds))
    return [g.model_dump() for g in results if g.name == "parallel_trends"]


def test_no_gate_without_a_pretrend_test() -> None:
    assert gate([panel_estimate("ols", None)]) == []


def test_passes_when_the_leads_are_insignificant() -> None:
    [result] = gate([panel_estimate("twfe", 0.4), panel_estimate("ols", None)])
    assert result["passed"] and result["applies_to"] == [] and result["value"] == 0.4
    assert "no evidence against them" in str(result["message"])


@pytest.mark.parametrize(("threshold", "flagged"), [(0.05, ["twfe"]), (0.001, [])])
def test_fails_and_flags_the_method_below_the_threshold(threshold: float, flagged: list[str]) -> None:
    [result] = gate([panel_estimate("twfe", 0.01)], min_pretrend_p=threshold)
    assert result["passed"] is (not flagged)
    assert result["applies_to"] == flagged
    assert result["severity"] == "warning" and result["threshold"] == threshold
    assert result["details"] == {"pretrend_p_value[twfe]": 0.01}


def test_a_panel_design_is_judged_on_pre_trends_not_on_cross_sectional_balance() -> None:
    results = causal_gates(FRAME, ROLES, [panel_estimate("twfe", 0.4)], GateThresholds(), "panel")
    assert [g.name for g in results] == ["parallel_trends"]
    observational = causal_gates(
        FRAME, ROLES, [panel_estimate("ols", None)], GateThresholds(), "observational"
    )
    assert "balance_smd" in {g.name for g in observational}


@pytest.mark.parametrize(
    ("name", "key", "threshold_field", "good", "bad", "advice"),
    [
        ("weak_instrument", "first_stage_f", "min_first_stage_f", 45.0, 4.2, "Anderson-Rubin"),
        ("rd_manipulation", "density_test_p", "min_density_p", 0.6, 0.004, "donut RD"),
        ("rd_covariate_continuity", "covariate_jump_min_p", "min_covariate_jump_p", 0.3, 0.01, "RD plot"),
    ],
)
def test_design_tests_gate_the_methods_that_report_them(
    name: str, key: str, threshold_field: str, good: float, bad: float, advice: str
) -> None:
    passing = [
        g
        for g in causal_gates(FRAME, ROLES, [reporting("m1", {key: good})], GateThresholds())
        if g.name == name
    ]
    assert len(passing) == 1 and passing[0].passed and passing[0].value == good
    estimates = [reporting("m1", {key: good}), reporting("m2", {key: bad}), reporting("ols", {})]
    [failing] = [g for g in causal_gates(FRAME, ROLES, estimates, GateThresholds()) if g.name == name]
    assert not failing.passed and failing.applies_to == ["m2"] and failing.value == bad
    assert failing.threshold == getattr(GateThresholds(), threshold_field)
    assert advice in failing.message
    assert failing.details == {f"{key}[m1]": good, f"{key}[m2]": bad}


@pytest.mark.parametrize(
    ("design", "diagnostics", "expected"),
    [
        ("iv", {"first_stage_f": 30.0}, ["weak_instrument"]),
        (
            "rd",
            {"density_test_p": 0.5, "covariate_jump_min_p": 0.4},
            ["rd_manipulation", "rd_covariate_continuity"],
        ),
    ],
)
def test_iv_and_rd_designs_are_judged_by_their_own_tests_not_by_balance(
    design: str, diagnostics: dict[str, float | str | None], expected: list[str]
) -> None:
    """Treated and untreated rows differ by design there: balance and overlap would flag every
    estimate for the wrong reason."""
    results = causal_gates(FRAME, ROLES, [reporting("m", diagnostics)], GateThresholds(), design)
    assert [g.name for g in results] == expected
