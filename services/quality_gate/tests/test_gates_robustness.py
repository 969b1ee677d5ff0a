"""Robustness gates (vif, overlap weights, sample ratio, pre-period fit, e_value) and the verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cqox_contracts.v1 import EstimateResult, EValue, GateResult, Headline, RoleMapping, SensitivityPanel
from cqox_quality_gate.domain import GateThresholds, assess_robustness, decide_verdict
from cqox_quality_gate.gates.robustness import (
    e_value_gate,
    pre_period_fit_gate,
    sample_ratio_gate,
    vif_gate,
)


def _estimate(method: str, adjustment: str, estimand: str = "ATE", **extra: object) -> EstimateResult:
    return EstimateResult(
        method=method, estimand=estimand, estimate=2.0, std_error=0.1, ci_lower=1.8, ci_upper=2.2,
        p_value=0.0, n=500, inference="x", adjustment=adjustment,
        relies_on_overlap=adjustment != "outcome", **extra,
    )  # fmt: skip


def test_thresholds_defaults_and_overrides() -> None:
    thresholds = GateThresholds()
    assert (thresholds.min_e_value, thresholds.max_vif, thresholds.min_srm_p) == (2.0, 10.0, 0.001)
    assert thresholds.overridden({"min_e_value": 1.5}).min_e_value == 1.5
    with pytest.raises(ValueError, match="not_a_threshold"):
        thresholds.overridden({"not_a_threshold": 1.0})
    assert GateThresholds.from_env({"CQOX_GATE_MIN_E_VALUE": "3"}).min_e_value == 3.0


def test_vif_flags_collinear_covariates_of_regression_methods() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=300)
    covariates = pd.DataFrame({"a": a, "b": a + rng.normal(scale=0.05, size=300), "c": rng.normal(size=300)})
    estimates = [_estimate("ols", "outcome"), _estimate("ipw", "propensity")]
    gate = vif_gate(covariates, estimates, GateThresholds())
    assert gate is not None and not gate.passed and gate.applies_to == ["ols"]
    # Only propensity methods: the VIF says nothing about them.
    assert vif_gate(covariates, estimates[1:], GateThresholds()) is None


def test_sample_ratio_mismatch_tests_the_planned_allocation() -> None:
    roles = RoleMapping(treatment="t", outcome="y")
    balanced = pd.DataFrame({"t": [0, 1] * 500, "y": 1.0})
    skewed = pd.DataFrame({"t": [1] * 560 + [0] * 440, "y": 1.0})
    estimates = [_estimate("diff_in_means", "none")]
    planned = GateThresholds(srm_expected_treated_share=0.5)  # as the analysis spec states it
    ok = sample_ratio_gate(balanced, roles, estimates, planned)
    bad = sample_ratio_gate(skewed, roles, estimates, planned)
    assert ok is not None and ok.passed
    # 560 vs 440 against 50/50: chi2 = 14.4, p = 0.00015 < 0.001.
    assert bad is not None and not bad.passed and bad.value == pytest.approx(0.000148, rel=0.01)
    assert bad.applies_to == ["diff_in_means"]
    matched = sample_ratio_gate(skewed, roles, estimates, GateThresholds(srm_expected_treated_share=0.56))
    assert matched is not None and matched.passed


def test_without_a_planned_allocation_nothing_is_flagged() -> None:
    """The NSW experiment treated 185 of 445 men by design: a 50/50 default flagged every estimate.
    A method's default share (diff_in_means reports 0.5) is no plan either."""
    roles = RoleMapping(treatment="t", outcome="y")
    nsw = pd.DataFrame({"t": [1] * 185 + [0] * 260, "y": 1.0})
    estimates = [_estimate("diff_in_means", "none", diagnostics={"srm_expected_treated_share": 0.5})]
    gate = sample_ratio_gate(nsw, roles, estimates, GateThresholds())
    assert gate is not None and gate.passed and gate.severity == "info" and gate.value is None
    assert gate.applies_to == [] and "41.6% of the experiment's units are treated" in gate.message
    assert "srm_expected_treated_share" in gate.message
    verdict = decide_verdict(
        "experiment",
        Headline(estimand="ATE", method="diff_in_means", estimate=1.0, reason="r", methods=["diff_in_means"]),
        [gate],
    )
    assert verdict.level == "GO" and not any("sample_ratio" in p for p in verdict.passed)


def test_the_sample_ratio_gate_is_for_experiments_only() -> None:
    rng = np.random.default_rng(4)
    t = (rng.random(400) < 0.2).astype(int)
    frame = pd.DataFrame({"t": t, "x": rng.normal(size=400), "y": t + rng.normal(size=400)})
    roles = RoleMapping(treatment="t", outcome="y", covariates=["x"])
    planned = GateThresholds(srm_expected_treated_share=0.5)
    estimates = [_estimate("ols", "outcome")]
    observational = assess_robustness(frame, roles, estimates, None, planned, "observational")
    assert "sample_ratio_mismatch" not in {g.name for g in observational.gates}
    experiment = assess_robustness(frame, roles, estimates, None, planned, "experiment")
    assert "sample_ratio_mismatch" in {g.name for g in experiment.gates}


def test_pre_period_fit_relative_to_the_outcome_scale() -> None:
    roles = RoleMapping(treatment="t", outcome="y")
    frame = pd.DataFrame({"t": [0, 1] * 50, "y": np.linspace(0, 100, 100)})  # SD 29.3
    good = [_estimate("synthetic_control", "design", "ATT", diagnostics={"pre_rmspe": 1.0})]
    bad = [_estimate("synthetic_control", "design", "ATT", diagnostics={"pre_rmspe": 20.0})]
    passed = pre_period_fit_gate(frame, roles, good, GateThresholds())
    failed = pre_period_fit_gate(frame, roles, bad, GateThresholds())
    assert passed is not None and passed.passed and passed.value == pytest.approx(1 / 29.30, rel=1e-3)
    assert failed is not None and not failed.passed and failed.applies_to == ["synthetic_control"]


def test_effective_sample_size_judges_each_method_by_its_estimands_weights() -> None:
    """Poor overlap: ATE inverse-propensity weights explode, overlap weights (ATO) are bounded by
    construction, so only the ATE weighting is flagged (NSW-PSID flagged overlap weights for the
    ATE weights' collapse)."""
    rng = np.random.default_rng(3)
    n = 2000
    x = rng.normal(size=n)
    t = (rng.random(n) < 1 / (1 + np.exp(-(3.0 * x - 2.0)))).astype(int)
    frame = pd.DataFrame({"t": t, "x": x, "y": t + x + rng.normal(size=n)})
    roles = RoleMapping(treatment="t", outcome="y", covariates=["x"])
    estimates = [_estimate("ipw", "propensity"), _estimate("overlap_weights", "propensity", "ATO")]
    result = assess_robustness(frame, roles, estimates, None, GateThresholds(), "observational")
    gate = {g.name: g for g in result.gates}["effective_sample_size"]
    assert not gate.passed and gate.applies_to == ["ipw"]
    ato, ate = gate.details["ess_share[ATO]"], gate.details["ess_share[ATE]"]
    assert isinstance(ato, float) and isinstance(ate, float) and ate < 0.3 <= ato
    assert "ATO weights" in gate.message and "overlap_weights" in gate.message


def test_e_value_gate_warns_below_threshold() -> None:
    panel = SensitivityPanel(
        method="ols", estimand="ATE", estimate=0.1, headline=True,
        e_value=EValue(point=1.4, ci=1.0, risk_ratio=1.1),
    )  # fmt: skip
    gate = e_value_gate(panel, GateThresholds())
    assert gate is not None and not gate.passed and gate.severity == "warning"
    assert gate.applies_to == ["ols"]
    assert gate.details["estimand"] == "ATE"  # the report's translation needs it as a field


def test_assessment_on_observational_data() -> None:
    rng = np.random.default_rng(1)
    n = 800
    x = rng.normal(size=n)
    t = (x + rng.normal(size=n) > 0).astype(int)
    frame = pd.DataFrame({"t": t, "x": x, "z": rng.normal(size=n), "y": 2 * t + x + rng.normal(size=n)})
    roles = RoleMapping(treatment="t", outcome="y", covariates=["x", "z"])
    estimates = [_estimate("ols", "outcome"), _estimate("ipw", "propensity")]
    headline = Headline(estimand="ATE", method="ols", estimate=2.0, reason="r", methods=["ols", "ipw"])
    result = assess_robustness(frame, roles, estimates, headline, GateThresholds(), "observational")
    names = {g.name for g in result.gates}
    assert {"vif", "weak_overlap_share", "effective_sample_size", "e_value"} <= names
    assert [p.method for p in result.panels] == ["ols"]
    assert result.panels[0].omitted_variable_bias is not None
    assert result.panels[0].omitted_variable_bias.strongest_covariate == "x"


def _gate(
    name: str, passed: bool, severity: str = "warning", applies_to: list[str] | None = None
) -> GateResult:
    return GateResult(
        name=name, category="causal", passed=passed, severity=severity,  # type: ignore[arg-type]
        message=f"{name} message", applies_to=applies_to or [],
    )  # fmt: skip


HEADLINE = Headline(estimand="ATE", method="aipw", estimate=2.0, reason="r", methods=["aipw", "ols"])


def test_verdict_go_caution_hold() -> None:
    go = decide_verdict("observational", HEADLINE, [_gate("balance_smd", True)])
    assert go.level == "GO" and go.passed == ["weighting balances the covariates (balance_smd)"]
    assert any("unmeasured confounding" in u for u in go.untestable)
    # A failed warning about another method does not touch the headline.
    elsewhere = decide_verdict(
        "observational", HEADLINE, [_gate("raw_balance_smd", False, applies_to=["diff_in_means"])]
    )
    assert elsewhere.level == "GO" and "diff_in_means" in elsewhere.failed[0]
    caution = decide_verdict("observational", HEADLINE, [_gate("e_value", False, applies_to=["aipw"])])
    assert caution.level == "CAUTION" and "e_value" in caution.summary
    hold = decide_verdict("observational", HEADLINE, [_gate("propensity_overlap", False, "error")])
    assert hold.level == "HOLD"
    assert decide_verdict("observational", None, []).level == "HOLD"
    # A failed data warning (it names a column, not a method) concerns every estimate.
    attrition = _gate("attrition", False, applies_to=["y"]).model_copy(update={"category": "data"})
    assert decide_verdict("experiment", HEADLINE, [attrition]).level == "CAUTION"


def test_experiments_keep_the_e_value_in_the_panel_but_not_as_a_gate() -> None:
    rng = np.random.default_rng(2)
    t = rng.integers(0, 2, size=600)
    frame = pd.DataFrame({"t": t, "x": rng.normal(size=600), "y": 0.05 * t + rng.normal(size=600)})
    roles = RoleMapping(treatment="t", outcome="y", covariates=["x"])
    estimates = [_estimate("diff_in_means", "none")]
    lead = Headline(
        estimand="ATE", method="diff_in_means", estimate=2.0, reason="r", methods=["diff_in_means"]
    )
    result = assess_robustness(frame, roles, estimates, lead, GateThresholds(), "experiment")
    names = {g.name for g in result.gates}
    assert "sample_ratio_mismatch" in names and "e_value" not in names
    assert result.panels[0].e_value is not None and "randomised" in result.panels[0].notes[-1]


def _refuter(name: str, method: str, p_value: float) -> GateResult:
    return _gate(f"{name}[{method}]", p_value >= 0.05, applies_to=[method]).model_copy(
        update={"value": p_value, "threshold": 0.05}
    )


def test_one_chance_refuter_failure_among_many_does_not_turn_the_verdict() -> None:
    """Eight placebo checks on the headline's methods: p = 0.03 is expected by chance (Holm keeps
    it from the verdict, the gate still shows it); p = 0.001 survives Holm and turns it to CAUTION."""
    checks = [
        _refuter(refuter, method, 0.4)
        for refuter in ("placebo_treatment", "placebo_outcome", "data_subset")
        for method in ("aipw", "ols")
    ]
    chance = decide_verdict(
        "observational", HEADLINE, [*checks[1:], _refuter("placebo_outcome", "aipw", 0.03)]
    )
    assert chance.level == "GO"
    assert any("expected by chance (Holm)" in line for line in chance.failed)
    real = decide_verdict(
        "observational", HEADLINE, [*checks[1:], _refuter("placebo_outcome", "aipw", 0.001)]
    )
    assert real.level == "CAUTION" and "placebo_outcome[aipw]" in real.summary
