"""Causal gates on simulated data whose balance and overlap are known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cqox_contracts.v1 import ArmContrast, EstimateResult, GateResult, RoleMapping
from cqox_quality_gate.domain import GateThresholds, causal_gates

N = 2000
ROLES = RoleMapping(treatment="t", outcome="y", covariates=["age", "income", "region"])


# What each method declares about itself, as the estimator states it on every result.
DECLARED = {
    "diff_in_means": ("none", False),
    "ipw": ("propensity", True),
    "ols": ("outcome", True),
    "psm": ("propensity", True),
    "overlap_weights": ("propensity", False),
    "twfe": ("design", False),
}


def estimate(method: str, estimand: str = "ATE") -> EstimateResult:
    adjustment, relies_on_overlap = DECLARED[method]
    return EstimateResult(
        method=method,
        estimand=estimand,
        adjustment=adjustment,
        relies_on_overlap=relies_on_overlap,
        estimate=1.0,
        std_error=0.1,
        ci_lower=0.8,
        ci_upper=1.2,
        p_value=0.01,
        n=N,
        inference="HC1 robust",
    )


ESTIMATES = [estimate("diff_in_means"), estimate("ipw"), estimate("ols")]


def simulate(assignment: str, seed: int = 7) -> pd.DataFrame:
    """Covariates, a treatment assigned as named, and an outcome with a true effect of 1."""
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, size=N)
    income = rng.normal(0, 1, size=N)
    region = rng.choice(["north", "south", "east"], size=N)
    z_age = (age - 40) / 10
    if assignment == "randomised":
        propensity = np.full(N, 0.5)
    elif assignment == "confounded":
        propensity = 1 / (1 + np.exp(-(1.2 * z_age - 0.8 * income + 0.5 * (region == "north"))))
    elif assignment == "partial_overlap":
        propensity = 1 / (1 + np.exp(-2.5 * z_age))
    elif assignment == "threshold":
        propensity = (age > 40).astype(float)
    else:
        raise ValueError(assignment)
    t = rng.binomial(1, propensity)
    y = 1.0 * t + 0.5 * z_age + income + rng.normal(size=N)
    return pd.DataFrame({"t": t, "y": y, "age": age, "income": income, "region": region})


def by_name(gates: list[GateResult]) -> dict[str, GateResult]:
    return {gate.name: gate for gate in gates}


def number(gate: GateResult, key: str) -> float:
    value = gate.details[key]
    assert isinstance(value, float), f"{key} is {value!r}"
    return value


def test_randomised_data_passes_balance_and_overlap() -> None:
    gates = causal_gates(simulate("randomised"), ROLES, ESTIMATES, GateThresholds())
    names = ["raw_balance_smd", "balance_smd", "propensity_overlap", "treated_overlap"]
    assert [gate.name for gate in gates] == names
    raw, balance, overlap, _ = gates
    assert raw.passed and raw.applies_to == []
    assert balance.passed and balance.applies_to == []
    assert number(balance, "max_smd_before") <= 0.1
    assert overlap.passed and overlap.value == 1.0 and overlap.applies_to == []
    assert all(gate.category == "causal" and gate.severity == "warning" for gate in gates)
    assert "good" in balance.message


def test_confounded_data_fails_raw_but_weighting_restores_balance() -> None:
    gates = by_name(causal_gates(simulate("confounded"), ROLES, ESTIMATES, GateThresholds()))
    balance, raw = gates["balance_smd"], gates["raw_balance_smd"]
    before = number(balance, "max_smd_before")
    assert before > 0.5
    assert balance.value is not None and balance.value < before / 5
    assert balance.passed and balance.applies_to == []
    assert balance.threshold == 0.1
    # the confounded unadjusted estimate is flagged by a failed, named gate
    assert (raw.passed, raw.severity, raw.value) == (False, "warning", before)
    assert raw.applies_to == ["diff_in_means"]
    assert "diff_in_means" in raw.message


def test_balance_details_carry_love_plot_entries() -> None:
    balance = by_name(causal_gates(simulate("confounded"), ROLES, ESTIMATES, GateThresholds()))["balance_smd"]
    # The methods' own coding: one-hot with the first level ('east') as the reference.
    expanded = ["age", "income", "region=north", "region=south"]
    for name in expanded:
        assert abs(number(balance, f"smd_after:{name}")) < abs(number(balance, "max_smd_before"))
    smd_keys = {key for key in balance.details if key.startswith("smd_")}
    assert len(smd_keys) == 2 * len(expanded)
    # age drives treatment up, income drives it down: the signed raw SMDs show it.
    assert number(balance, "smd_before:age") > 0.5
    assert number(balance, "smd_before:income") < -0.3
    assert number(balance, "max_smd_before") == pytest.approx(
        max(abs(number(balance, f"smd_before:{name}")) for name in expanded)
    )


def test_threshold_assignment_fails_overlap_as_an_error() -> None:
    gates = by_name(causal_gates(simulate("threshold"), ROLES, ESTIMATES, GateThresholds()))
    overlap = gates["propensity_overlap"]
    assert not overlap.passed
    assert overlap.value is not None and overlap.value < 0.5
    assert overlap.severity == "error"
    # Every method that relies on overlap is flagged: weighting (ipw) and outcome models (ols) alike.
    assert overlap.applies_to == ["ipw", "ols"]
    assert overlap.details["n_outside"] == N * (1 - overlap.value)
    assert number(overlap, "propensity_max_control") < number(overlap, "propensity_max_treated")
    assert not gates["balance_smd"].passed
    assert gates["balance_smd"].applies_to == ["ipw"]
    assert gates["raw_balance_smd"].applies_to == ["diff_in_means"]


def test_partial_overlap_fails_as_a_warning() -> None:
    gates = causal_gates(simulate("partial_overlap"), ROLES, ESTIMATES, GateThresholds())
    overlap = by_name(gates)["propensity_overlap"]
    assert overlap.value is not None and 0.5 <= overlap.value < 0.9
    assert (overlap.passed, overlap.severity) == (False, "warning")
    assert "trim" in overlap.message


def test_flags_only_methods_that_were_estimated() -> None:
    gates = causal_gates(simulate("threshold"), ROLES, [estimate("twfe", "ATT")], GateThresholds())
    assert all(gate.applies_to == [] for gate in gates)


def test_overlap_flags_follow_what_each_result_declares() -> None:
    """Decided from adjustment, relies_on_overlap and estimand, never from the method's name."""
    estimates = [
        estimate("diff_in_means"),
        estimate("ols"),
        estimate("ipw"),
        estimate("psm", "ATT"),
        estimate("overlap_weights", "ATO"),
        estimate("ols").model_copy(update={"method": "a_method_nobody_listed"}),
    ]
    gates = by_name(causal_gates(simulate("threshold"), ROLES, estimates, GateThresholds()))
    assert gates["propensity_overlap"].applies_to == ["ols", "ipw", "a_method_nobody_listed"]
    assert gates["treated_overlap"].applies_to == ["psm"]
    assert gates["raw_balance_smd"].applies_to == ["diff_in_means"]
    # Each propensity-based method is judged by the weights of its own estimand: the ATO's overlap
    # weights balance a logistic propensity's covariates exactly, even under a threshold rule.
    balance = gates["balance_smd"]
    assert balance.applies_to == ["ipw", "psm"]
    assert number(balance, "max_smd[overlap_weights]") < 0.02  # not exactly 0: separation, C = 1e6
    assert balance.details["max_smd_weights[overlap_weights]"] == "ATO propensity weights"
    assert balance.details["max_smd_weights[psm]"] == "ATT propensity weights"


def test_balance_judges_a_method_by_the_imbalance_its_own_weights_leave() -> None:
    """A method reporting `max_abs_smd_after` (its own matches or weights) is judged by it; the
    others by their estimand's propensity weights, never all by the ATE's."""
    data = simulate("confounded")
    own = estimate("overlap_weights", "ATO").model_copy(update={"diagnostics": {"max_abs_smd_after": 0.3}})
    matched = estimate("psm", "ATT").model_copy(update={"diagnostics": {"max_abs_smd_after": 0.02}})
    gates = by_name(causal_gates(data, ROLES, [estimate("ipw"), own, matched], GateThresholds()))
    balance = gates["balance_smd"]
    assert balance.applies_to == ["overlap_weights"] and not balance.passed
    assert balance.value == 0.3
    assert "overlap_weights 0.30 (its own weights)" in balance.message
    assert number(balance, "max_smd[psm]") == 0.02
    # without reported balance, the ATO is judged by overlap weights: balanced by construction
    plain = by_name(causal_gates(data, ROLES, [estimate("overlap_weights", "ATO")], GateThresholds()))
    assert plain["balance_smd"].passed and plain["balance_smd"].applies_to == []


def test_thresholds_are_honoured() -> None:
    # With a threshold rule no treated unit has a comparable control: only a zero floor passes it.
    loose = GateThresholds(max_abs_smd=5.0, min_overlap_share=0.0, overlap_error_share=0.0)
    gates = causal_gates(simulate("threshold"), ROLES, ESTIMATES, loose)
    assert all(gate.passed for gate in gates)


def test_no_covariates_is_trivially_balanced() -> None:
    roles = ROLES.model_copy(update={"covariates": []})
    balance, overlap, treated = causal_gates(simulate("confounded"), roles, ESTIMATES, GateThresholds())
    assert treated.passed
    assert (balance.passed, balance.severity, balance.value) == (True, "info", None)
    assert "trivially" in balance.message
    # Without covariates the propensity is the constant treated share, well inside the bounds.
    assert overlap.passed and overlap.value == 1.0
    assert overlap.details["propensity_min_treated"] == overlap.details["propensity_max_control"]


def test_string_treatment_gives_the_same_gates_as_zero_one() -> None:
    df = simulate("confounded")
    labelled = df.assign(t=np.where(df["t"] == 1, "treated", "control"))
    assert causal_gates(labelled, ROLES, ESTIMATES, GateThresholds()) == causal_gates(
        df, ROLES, ESTIMATES, GateThresholds()
    )


def test_rows_missing_used_columns_are_dropped() -> None:
    df = simulate("randomised")
    df["income"] = df["income"].astype(float)
    df.loc[df.index[:100], "income"] = np.nan
    df.loc[df.index[100:150], "age"] = np.inf
    df["unused"] = np.nan  # not mapped: must not drop anything
    gates = by_name(causal_gates(df, ROLES, ESTIMATES, GateThresholds()))
    balance, overlap = gates["balance_smd"], gates["propensity_overlap"]
    assert balance.details["n_dropped"] == 150.0
    assert overlap.details["n_used"] == N - 150.0
    assert balance.passed and overlap.passed


def test_results_are_deterministic() -> None:
    df = simulate("confounded")
    assert causal_gates(df, ROLES, ESTIMATES, GateThresholds()) == causal_gates(
        df, ROLES, ESTIMATES, GateThresholds()
    )


@pytest.mark.parametrize(
    "frame",
    [
        simulate("randomised").assign(t=1),
        simulate("randomised").assign(t=lambda d: d.index % 3),
        simulate("randomised").drop(columns="t"),
    ],
    ids=["single-arm", "three-levels", "no-treatment-column"],
)
def test_unassessable_treatment_fails_both_gates(frame: pd.DataFrame) -> None:
    gates = causal_gates(frame, ROLES, ESTIMATES, GateThresholds())
    assert [gate.name for gate in gates] == ["balance_smd", "propensity_overlap"]
    assert all(not gate.passed and gate.severity == "error" for gate in gates)
    assert all("cannot be assessed" in gate.message for gate in gates)


@pytest.mark.parametrize("assignment", ["randomised", "confounded", "threshold"])
def test_causal_gates_round_trip_through_json(assignment: str) -> None:
    for gate in causal_gates(simulate(assignment), ROLES, ESTIMATES, GateThresholds()):
        assert GateResult.model_validate_json(gate.model_dump_json()) == gate


def test_a_multi_arm_analysis_is_judged_arm_by_arm_against_the_reference() -> None:
    rng = np.random.default_rng(3)
    n = 1800
    age = rng.normal(40, 10, n)
    arm = np.where(rng.random(n) < 0.34, "A", np.where(age > 45, "C", "B"))  # C: older customers
    frame = pd.DataFrame({"arm": arm, "y": rng.normal(size=n), "age": age})
    roles = RoleMapping(treatment="arm", outcome="y", covariates=["age"])
    contrasts = [
        ArmContrast(
            arm=a, reference="A", estimate=1.0, std_error=0.1, ci_lower=0.8, ci_upper=1.2, p_value=0.01
        )
        for a in ("B", "C")
    ]
    multi = estimate("ols").model_copy(update={"contrasts": contrasts})
    gates = {g.name: g for g in causal_gates(frame, roles, [multi], GateThresholds())}
    assert {"balance_smd[B vs A]", "balance_smd[C vs A]", "propensity_overlap[C vs A]"} <= gates.keys()
    raw = {name: g for name, g in gates.items() if name.startswith("raw_balance_smd")}
    assert raw["raw_balance_smd[B vs A]"].value > 0.5 and raw["raw_balance_smd[C vs A]"].value > 0.5
    assert all(g.details["n_used"] < n for g in gates.values() if g.details.get("n_used"))
