"""The headline leads with one estimand chosen from design and overlap; methods agree within it."""

from __future__ import annotations

from cqox_contracts.v1 import EstimateResult, GateResult
from cqox_quality_gate.domain import GateThresholds, choose_headline, disagreement_gates


def result(method: str, estimand: str, estimate: float, se: float = 1.0) -> EstimateResult:
    return EstimateResult(
        method=method,
        estimand=estimand,
        estimate=estimate,
        std_error=se,
        ci_lower=estimate - 1.96 * se,
        ci_upper=estimate + 1.96 * se,
        p_value=0.01,
        n=1000,
        inference="test",
    )


def overlap(name: str, passed: bool, value: float, applies_to: list[str]) -> GateResult:
    return GateResult(
        name=name,
        category="causal",
        threshold=0.9,
        value=value,
        passed=passed,
        severity="error" if not passed else "warning",
        applies_to=applies_to,
    )


# A LaLonde-like picture: the treated occupy a corner of the propensity range. The ATE methods
# extrapolate wildly; the ATT methods agree with each other.
LALONDE = [
    result("ols", "ATE", -3101.0, 600.0),
    result("t_learner", "ATE", -4500.0, 700.0),
    result("causal_forest", "ATE", -137259.0, 900.0),
    result("psm", "ATT", 1271.0, 800.0),
    result("entropy_balancing", "ATT", 2188.0, 700.0),
    result("overlap_weights", "ATO", 1500.0, 650.0),
]
POOR_OVERLAP = [
    overlap("propensity_overlap", False, 0.04, ["ols", "t_learner", "causal_forest"]),
    overlap("treated_overlap", True, 0.97, []),
]


def test_poor_overlap_leads_with_the_att_never_a_median_across_estimands() -> None:
    headline = choose_headline("observational", LALONDE, POOR_OVERLAP)
    assert headline is not None
    assert headline.estimand == "ATT"
    assert headline.method == "psm"  # the lower middle of the two ATT methods
    assert headline.methods == ["psm", "entropy_balancing"]
    assert "treated have comparable controls" in headline.reason
    assert headline.n_agreeing == 2


def test_when_the_treated_lack_controls_too_the_overlap_population_leads() -> None:
    gates = [POOR_OVERLAP[0], overlap("treated_overlap", False, 0.3, ["psm", "entropy_balancing"])]
    headline = choose_headline("observational", LALONDE, gates)
    assert headline is not None and headline.estimand == "ATO" and headline.method == "overlap_weights"


def test_good_overlap_leads_with_the_ate_median_of_unflagged_methods() -> None:
    estimates = [result("ols", "ATE", 1.0), result("aipw", "ATE", 1.2), result("ipw", "ATE", 9.0)]
    gates = [
        overlap("propensity_overlap", True, 0.99, []),
        GateResult(
            name="balance_smd", category="causal", passed=False, severity="warning", applies_to=["ipw"]
        ),
    ]
    headline = choose_headline("observational", estimates, gates)
    assert headline is not None
    assert (headline.estimand, headline.method, headline.flagged) == ("ATE", "ols", ["ipw"])


def test_design_based_estimands() -> None:
    estimates = [result("iv_2sls", "LATE", 0.13), result("ols", "ATE", 0.07)]
    headline = choose_headline("iv", estimates, [])
    assert headline is not None and headline.estimand == "LATE" and headline.method == "iv_2sls"
    panel = choose_headline("panel", [result("twfe", "ATT", 1.0), result("cs_did", "ATT", 1.1)], [])
    assert panel is not None and panel.estimand == "ATT"


def test_no_estimate_no_headline() -> None:
    assert choose_headline("observational", [], []) is None


def test_an_outlier_is_flagged_naming_the_methods_it_disagrees_with() -> None:
    estimates = [
        result("aipw", "ATE", 2.0, 0.3),
        result("dr_learner", "ATE", 2.2, 0.3),
        result("causal_forest", "ATE", 2.1, 0.4),
        result("linear_dml", "ATE", -578.0, 0.25),
        result("psm", "ATT", 40.0, 1.0),  # another estimand: never compared with the ATEs
    ]
    gates = disagreement_gates(estimates, GateThresholds())
    assert [g.name for g in gates] == ["method_disagreement[ATE]"]
    (gate,) = gates
    assert not gate.passed and gate.applies_to == ["linear_dml"]
    assert "linear_dml disagrees with aipw, dr_learner, causal_forest" in gate.message
    headline = choose_headline("experiment", estimates, gates)
    assert headline is not None and headline.method == "causal_forest"
    assert headline.flagged == ["linear_dml"]


def test_agreeing_methods_pass() -> None:
    estimates = [result("ols", "ATE", 1.0, 0.2), result("aipw", "ATE", 1.3, 0.2)]
    (gate,) = disagreement_gates(estimates, GateThresholds())
    assert gate.passed and gate.applies_to == []


def test_a_method_that_moves_with_its_seed_is_flagged_unstable() -> None:
    from cqox_quality_gate.gates.reported import reported_gates

    steady = result("aipw", "ATE", 1.0).model_copy(update={"diagnostics": {"seed_spread_se": 0.2}})
    shaky = result("linear_dml", "ATE", 1.0).model_copy(update={"diagnostics": {"seed_spread_se": 3.4}})
    (gate,) = [
        g for g in reported_gates([steady, shaky], GateThresholds()) if g.name == "unstable_across_seeds"
    ]
    assert not gate.passed and gate.applies_to == ["linear_dml"] and gate.value == 3.4
    assert "3.4 standard errors" in gate.message
    (calm,) = [g for g in reported_gates([steady], GateThresholds()) if g.name == "unstable_across_seeds"]
    assert calm.passed and calm.applies_to == []


def test_a_fully_flagged_estimand_gives_way_to_one_the_gates_do_not_doubt() -> None:
    """NSW-PSID: overlap fails for everyone, the ATO method is flagged, the ATT methods are not."""
    gates = [
        POOR_OVERLAP[0],
        overlap("treated_overlap", False, 0.3, []),
        GateResult(
            name="balance_smd",
            category="causal",
            passed=False,
            severity="warning",
            applies_to=["overlap_weights"],
        ),
    ]
    headline = choose_headline("observational", LALONDE, gates)
    assert headline is not None and headline.estimand == "ATT" and headline.method == "psm"
    assert "every ATO method is flagged" in headline.reason


def test_when_overlap_holds_a_flagged_ate_still_leads_over_an_unflagged_att() -> None:
    """An unflagged ATT answers another question: with overlap the ATE leads, flagged and said so."""
    estimates = [result("ols", "ATE", 1.0), result("aipw", "ATE", 1.2), result("psm", "ATT", 1.4)]
    gates = [
        overlap("propensity_overlap", True, 0.99, []),
        GateResult(
            name="e_value", category="causal", passed=False, severity="warning", applies_to=["ols", "aipw"]
        ),
    ]
    headline = choose_headline("observational", estimates, gates)
    assert headline is not None and headline.estimand == "ATE"
    assert "read it with care" in headline.reason
