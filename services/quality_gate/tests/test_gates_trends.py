"""The parallel-trends gate reads the pre-trend test panel methods report."""

from __future__ import annotations

import pandas as pd
import pytest

from cqox_contracts.v1 import EstimateResult, RoleMapping
from cqox_quality_gate.domain import GateThresholds, causal_gates


def panel_estimate(method: str, pretrend_p: float | None) -> EstimateResult:
    """An estimate whose diagnostics carry a pre-trend p-value (or none)."""
    diagnostics = {} if pretrend_p is None else {"pretrend_p_value": pretrend_p}
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
