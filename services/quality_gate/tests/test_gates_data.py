"""Data gates on frames with known defects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cqox_contracts.v1 import GateResult, RoleMapping
from cqox_quality_gate.domain import GateThresholds, data_gates, rejection_reason

ROLES = RoleMapping(treatment="treated", outcome="revenue", unit="user_id", covariates=["spend", "region"])


def clean_frame(n: int = 400, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    treated = rng.integers(0, 2, size=n)
    return pd.DataFrame(
        {
            "user_id": np.arange(n),
            "treated": treated,
            "revenue": 10 + 2 * treated + rng.normal(size=n),
            "spend": rng.gamma(2.0, 50.0, size=n),
            "region": rng.choice(["north", "south"], size=n),
        }
    )


def with_missing(df: pd.DataFrame, column: str, share: float) -> pd.DataFrame:
    out = df.copy()
    out[column] = out[column].astype(float)
    out.loc[out.index[: int(len(out) * share)], column] = np.nan
    return out


def by_name(gates: list[GateResult]) -> dict[str, GateResult]:
    return {gate.name: gate for gate in gates}


def test_clean_data_passes_every_gate_in_a_stable_order() -> None:
    gates = data_gates(clean_frame(), ROLES, GateThresholds())
    assert [gate.name for gate in gates] == [
        "required_roles",
        "columns_present",
        "completeness:treated",
        "completeness:revenue",
        "completeness:user_id",
        "completeness:spend",
        "completeness:region",
        "complete_cases",
        "attrition",
        "treatment_arms",
        "outcome_variance",
    ]
    assert all(gate.passed for gate in gates)
    assert all(gate.category == "data" and gate.message for gate in gates)
    assert rejection_reason(gates) is None


def test_missing_outcome_above_threshold_warns_and_runs_on_complete_cases() -> None:
    """Issue 12: 30 % missing outcomes is flagged, not rejected; the methods use the rest."""
    gates = by_name(data_gates(with_missing(clean_frame(), "revenue", 0.3), ROLES, GateThresholds()))
    gate = gates["completeness:revenue"]
    assert not gate.passed
    assert gate.severity == "warning"
    assert gate.value == pytest.approx(0.3)
    assert gate.threshold == 0.2
    assert "280 rows where it is present" in gate.message
    complete = gates["complete_cases"]
    assert complete.passed and complete.value == pytest.approx(0.7)
    assert rejection_reason(list(gates.values())) is None


def test_too_few_complete_cases_reject_and_the_minimum_is_configurable() -> None:
    frame = with_missing(clean_frame(), "revenue", 0.8)
    gates = by_name(data_gates(frame, ROLES, GateThresholds()))
    gate = gates["complete_cases"]
    assert (gate.passed, gate.severity, gate.threshold) == (False, "error", 0.25)
    assert gate.value == pytest.approx(0.2)
    assert "'revenue'" in gate.message
    reason = rejection_reason(list(gates.values()))
    assert reason is not None and "complete_cases" in reason
    relaxed = by_name(data_gates(frame, ROLES, GateThresholds(min_complete_share=0.1)))
    assert relaxed["complete_cases"].passed
    assert rejection_reason(list(relaxed.values())) is None


def test_complete_cases_need_treatment_and_outcome_and_count_covariates_apart() -> None:
    frame = with_missing(clean_frame(), "revenue", 0.3)
    frame.loc[frame.index[-40:], "spend"] = np.nan  # other rows than the outcome's holes
    gate = by_name(data_gates(frame, ROLES, GateThresholds()))["complete_cases"]
    assert gate.passed and gate.value == pytest.approx(0.7)
    assert gate.details["n_complete"] == 280 and gate.details["n_complete_with_covariates"] == 240
    assert gate.applies_to == ["treated", "revenue"]  # an id is not used by cross-section methods
    assert "240 (60.0%) also have every covariate" in gate.message and "'spend'" in gate.message


def test_a_sparse_covariate_does_not_reject_the_dataset() -> None:
    """A covariate missing in 90 % of rows warns (drop or impute it); the rows are not lost for good."""
    gates = by_name(data_gates(with_missing(clean_frame(), "spend", 0.9), ROLES, GateThresholds()))
    assert gates["complete_cases"].passed and gates["complete_cases"].value == 1.0
    assert not gates["completeness:spend"].passed
    assert rejection_reason(list(gates.values())) is None


def test_attrition_by_arm_of_a_multi_arm_experiment() -> None:
    frame = clean_frame(n=3000, seed=5).assign(treated=lambda d: np.arange(len(d)) % 3)
    rng = np.random.default_rng(1)
    lost = rng.random(len(frame)) < np.select([frame["treated"] == 2], [0.25], 0.05)
    frame.loc[lost, "revenue"] = np.nan
    gate = by_name(data_gates(frame, ROLES, GateThresholds(), "experiment"))["attrition"]
    assert not gate.passed
    assert {key for key in gate.details if key.startswith("attrition[")} == {
        "attrition[0]",
        "attrition[1]",
        "attrition[2]",
    }
    assert gate.details["most_attrition_arm"] == "2"
    assert gate.details["differential_attrition"] == pytest.approx(0.2, abs=0.04)


def test_a_continuous_iv_treatment_has_overall_attrition_only() -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {"schooling": rng.integers(8, 18, size=500).astype(float), "wage": rng.normal(size=500)}
    )
    frame.loc[frame.index[:50], "wage"] = np.nan
    roles = RoleMapping(treatment="schooling", outcome="wage")
    gate = by_name(data_gates(frame, roles, GateThresholds(), "iv"))["attrition"]
    assert gate.passed and gate.value == pytest.approx(0.1)
    assert "differential_attrition" not in gate.details


def test_attrition_equal_across_arms_passes_below_the_overall_limit() -> None:
    frame = clean_frame(n=2000, seed=3)
    rng = np.random.default_rng(0)
    frame.loc[rng.random(len(frame)) < 0.1, "revenue"] = np.nan
    gate = by_name(data_gates(frame, ROLES, GateThresholds()))["attrition"]
    assert gate.passed and gate.severity == "warning"
    assert gate.value == pytest.approx(0.1, abs=0.02)
    assert gate.details["differential_attrition"] < 0.05


def test_differential_attrition_is_flagged_with_a_message_to_act_on() -> None:
    frame = clean_frame(n=2000, seed=3)
    rng = np.random.default_rng(0)
    drop = rng.random(len(frame)) < np.where(frame["treated"] == 1, 0.05, 0.2)
    frame.loc[drop, "revenue"] = np.nan
    gates = by_name(data_gates(frame, ROLES, GateThresholds()))
    gate = gates["attrition"]
    assert not gate.passed and gate.severity == "warning"
    assert gate.details["attrition[1]"] == pytest.approx(0.05, abs=0.02)
    assert gate.details["attrition[0]"] == pytest.approx(0.2, abs=0.03)
    assert gate.details["most_attrition_arm"] == "0"
    assert "percentage points" in gate.message and "lee_bounds" in gate.message
    assert rejection_reason(list(gates.values())) is None  # flagged, not rejected
    looser = by_name(data_gates(frame, ROLES, GateThresholds(max_differential_attrition=0.3)))
    assert looser["attrition"].passed


def test_attrition_above_the_overall_limit_is_flagged() -> None:
    frame = with_missing(clean_frame(), "revenue", 0.3)
    gate = by_name(data_gates(frame, ROLES, GateThresholds()))["attrition"]
    assert not gate.passed and gate.value == pytest.approx(0.3)
    assert "above the 20% limit" in gate.message


def test_rows_without_a_treatment_are_not_attrition() -> None:
    """Rows outside the experiment (no assignment, no outcome) are not lost outcomes."""
    frame = clean_frame().astype({"treated": float})
    frame.loc[frame.index[:100], ["treated", "revenue"]] = np.nan
    gate = by_name(data_gates(frame, ROLES, GateThresholds()))["attrition"]
    assert gate.passed and gate.value == 0.0 and gate.details["n_assigned"] == 300


def test_thornton_hiv_with_forty_percent_missing_outcomes_is_not_rejected() -> None:
    """Issue 12 regression on the real file: Thornton (2008)'s HIV-results experiment
    (causaldata.thornton_hiv) has `got` missing in 40 % of rows. It used to be rejected by
    completeness; now it runs on the complete cases (2,829 with age and distance), and the attrition gate reports that among
    assigned people outcomes are missing for 8.2 % of the control arm and 0.5 % of the treated."""
    thornton_hiv = pytest.importorskip("causaldata.thornton_hiv")
    frame = thornton_hiv.load_pandas().data
    roles = RoleMapping(treatment="any", outcome="got", covariates=["age", "distvct"])
    gates = by_name(data_gates(frame, roles, GateThresholds(), "experiment"))
    assert rejection_reason(list(gates.values())) is None
    assert gates["completeness:got"].value == pytest.approx(0.4, abs=0.001)
    assert gates["completeness:got"].severity == "warning"
    assert gates["complete_cases"].passed
    assert gates["complete_cases"].details["n_complete"] == 2834
    assert gates["complete_cases"].details["n_complete_with_covariates"] == 2829
    attrition = gates["attrition"]
    assert not attrition.passed
    assert attrition.details["attrition[0]"] == pytest.approx(0.0825, abs=0.001)
    assert attrition.details["attrition[1]"] == pytest.approx(0.0050, abs=0.001)
    assert gates["treatment_arms"].passed


def test_missing_covariate_above_threshold_only_warns() -> None:
    gates = data_gates(with_missing(clean_frame(), "spend", 0.3), ROLES, GateThresholds())
    gate = by_name(gates)["completeness:spend"]
    assert (gate.passed, gate.severity) == (False, "warning")
    assert gate.details["role"] == "covariate"
    assert rejection_reason(gates) is None


def test_missing_share_threshold_is_configurable() -> None:
    gates = data_gates(
        with_missing(clean_frame(), "revenue", 0.3), ROLES, GateThresholds(max_missing_share=0.5)
    )
    assert by_name(gates)["completeness:revenue"].passed


def test_single_arm_fails_treatment_arms() -> None:
    df = clean_frame().assign(treated=0)
    gates = data_gates(df, ROLES, GateThresholds())
    gate = by_name(gates)["treatment_arms"]
    assert (gate.passed, gate.severity, gate.value) == (False, "error", 0.0)
    assert "single arm" in gate.message
    reason = rejection_reason(gates)
    assert reason is not None and "treatment_arms" in reason


def test_small_arm_fails_treatment_arms() -> None:
    df = clean_frame().assign(treated=0)
    df.loc[df.index[:10], "treated"] = 1
    gate = by_name(data_gates(df, ROLES, GateThresholds()))["treatment_arms"]
    assert not gate.passed
    assert gate.value == 10.0
    assert gate.details["n_treated"] == 10.0
    assert by_name(data_gates(df, ROLES, GateThresholds(min_arm_size=10)))["treatment_arms"].passed


def test_arms_count_only_rows_with_an_outcome() -> None:
    df = clean_frame().assign(treated=0)
    df.loc[df.index[:25], "treated"] = 1
    df["revenue"] = df["revenue"].astype(float)
    df.loc[df.index[:10], "revenue"] = np.nan
    gate = by_name(data_gates(df, ROLES, GateThresholds()))["treatment_arms"]
    assert (gate.passed, gate.value) == (False, 15.0)


def test_a_multi_arm_treatment_passes_when_every_arm_is_large_enough() -> None:
    df = clean_frame().assign(treated=lambda d: d["user_id"] % 3)
    gate = by_name(data_gates(df, ROLES, GateThresholds(min_arm_size=10)))["treatment_arms"]
    assert gate.passed and gate.severity == "error"
    assert gate.details["n_levels"] == 3.0
    assert [gate.details[f"n[{level}]"] for level in ("0", "1", "2")] == [134.0, 133.0, 133.0]
    assert gate.value == 133.0
    assert "3 arms" in gate.message


def test_a_thin_arm_or_too_many_levels_fail_treatment_arms() -> None:
    df = clean_frame().assign(treated=lambda d: np.where(d["user_id"] < 3, 2, d["user_id"] % 2))
    thin = by_name(data_gates(df, ROLES, GateThresholds(min_arm_size=10)))["treatment_arms"]
    assert (thin.passed, thin.value) == (False, 3.0)
    assert "smallest has 3 rows" in thin.message
    many = by_name(
        data_gates(clean_frame().assign(treated=lambda d: d["user_id"] % 12), ROLES, GateThresholds())
    )
    assert not many["treatment_arms"].passed and "12 levels" in many["treatment_arms"].message


def test_string_treatment_labels_are_understood() -> None:
    df = clean_frame().assign(treated=lambda d: np.where(d["treated"] == 1, "treated", "control"))
    gate = by_name(data_gates(df, ROLES, GateThresholds()))["treatment_arms"]
    assert gate.passed
    assert gate.details["treated_level"] == "treated"


def test_constant_outcome_fails_outcome_variance() -> None:
    gates = data_gates(clean_frame().assign(revenue=3.0), ROLES, GateThresholds())
    gate = by_name(gates)["outcome_variance"]
    assert (gate.passed, gate.severity, gate.value) == (False, "error", 0.0)
    assert rejection_reason(gates) is not None


def test_non_numeric_outcome_fails_outcome_variance() -> None:
    df = clean_frame().assign(revenue=lambda d: np.where(d["treated"] == 1, "high", "low"))
    gate = by_name(data_gates(df, ROLES, GateThresholds()))["outcome_variance"]
    assert not gate.passed
    assert "not numeric" in gate.message


def test_absent_mapped_column_fails_columns_present() -> None:
    roles = ROLES.model_copy(update={"covariates": ["spend", "age"]})
    gates = by_name(data_gates(clean_frame(), roles, GateThresholds()))
    gate = gates["columns_present"]
    assert (gate.passed, gate.severity, gate.value) == (False, "error", 1.0)
    assert gate.details == {"missing:age": "covariate"}
    assert "completeness:age" not in gates


def test_absent_treatment_column_makes_dependent_gates_fail() -> None:
    gates = by_name(data_gates(clean_frame().drop(columns="treated"), ROLES, GateThresholds()))
    assert not gates["columns_present"].passed
    assert not gates["treatment_arms"].passed
    assert gates["treatment_arms"].value is None


def test_unmapped_outcome_fails_required_roles() -> None:
    roles = ROLES.model_copy(update={"outcome": None})
    gates = data_gates(clean_frame(), roles, GateThresholds())
    gate = by_name(gates)["required_roles"]
    assert (gate.passed, gate.details["unmapped_roles"]) == (False, "outcome")
    reason = rejection_reason(gates)
    assert reason is not None and "required_roles" in reason


def test_empty_frame_is_rejected() -> None:
    gates = data_gates(clean_frame().iloc[:0], ROLES, GateThresholds())
    assert rejection_reason(gates) is not None
    assert by_name(gates)["completeness:revenue"].value == 1.0


def test_data_gates_round_trip_through_json() -> None:
    frame = with_missing(clean_frame(), "spend", 0.5)
    for gate in data_gates(frame, ROLES, GateThresholds()):
        assert GateResult.model_validate_json(gate.model_dump_json()) == gate


def test_a_synthetic_control_needs_only_a_few_treated_rows() -> None:
    """One treated unit observed for eight periods after adoption is the design, not a defect."""
    frame = pd.DataFrame({"t": [1] * 8 + [0] * 300, "y": range(308)})
    roles = RoleMapping(treatment="t", outcome="y")
    [default] = [g for g in data_gates(frame, roles, GateThresholds()) if g.name == "treatment_arms"]
    assert not default.passed and default.threshold == 20
    [synthetic] = [
        g
        for g in data_gates(frame, roles, GateThresholds(), "synthetic_control")
        if g.name == "treatment_arms"
    ]
    assert synthetic.passed and synthetic.value == 8


def test_an_iv_design_passes_a_continuous_numeric_treatment() -> None:
    roles = ROLES.model_copy(update={"treatment": "years", "instrument": "near"})
    df = clean_frame().assign(years=lambda d: 8 + d["user_id"] % 15, near=lambda d: d["user_id"] % 2)
    gate = by_name(data_gates(df, roles, GateThresholds(), "iv"))["treatment_arms"]
    assert gate.passed and gate.value == 400.0
    assert "continuous treatment (15 values, 8 to 22): only methods that accept one will run" in gate.message
    assert gate.details["n_levels"] == 15.0 and gate.details["treatment_scale"] == "continuous"
    # Other designs keep reading it as too many arms; a text treatment stays arms under iv too.
    for design in (None, "observational"):
        other = by_name(data_gates(df, roles, GateThresholds(), design))["treatment_arms"]
        assert not other.passed and "15 levels" in other.message
    text = df.assign(years=lambda d: "level" + d["years"].astype(str))
    assert not by_name(data_gates(text, roles, GateThresholds(), "iv"))["treatment_arms"].passed
    # A 0/1 treatment under iv is still judged as two arms.
    binary = by_name(data_gates(clean_frame(), ROLES, GateThresholds(), "iv"))["treatment_arms"]
    assert binary.passed and "two arms" in binary.message


def _grant_panel(n_treated: int, n_control: int) -> pd.DataFrame:
    """A 2x2 firm panel (1987, 1988): the treated firms get their grant in 1988 only."""
    rng = np.random.default_rng(3)
    firms = np.arange(n_treated + n_control)
    frame = pd.DataFrame({"fcode": np.repeat(firms, 2), "year": np.tile([1987, 1988], len(firms))})
    frame["grant"] = ((frame["fcode"] < n_treated) & (frame["year"] == 1988)).astype(int)
    frame["lscrap"] = rng.normal(size=len(frame)) - 0.3 * frame["grant"]
    return frame


def test_a_panel_counts_its_arms_as_groups_of_units() -> None:
    """jtrain (Wooldridge 7e): 19 of 54 firms get a grant in 1988. Counted as rows, 19 treated
    firm-years < 20 rejected the panel; its arms are the 19 treated firms (38 firm-years) and
    the 35 others (70), and the message says units are counted."""
    roles = RoleMapping(treatment="grant", outcome="lscrap", unit="fcode", time="year")
    frame = _grant_panel(19, 35)
    gate = by_name(data_gates(frame, roles, GateThresholds(), "panel"))["treatment_arms"]
    assert gate.passed, gate.message
    assert (gate.details["n_treated_units"], gate.details["n_control_units"]) == (19.0, 35.0)
    assert gate.value == 38.0
    assert "19 'fcode' units ever treated (38 unit-periods)" in gate.message
    assert "groups of units" in gate.message
    # the same file read as a cross-section still counts treated rows
    flat = by_name(data_gates(frame, roles, GateThresholds(), "observational"))["treatment_arms"]
    assert (flat.passed, flat.value) == (False, 19.0)
    # a panel whose treated group is too small still fails, saying why
    thin = by_name(data_gates(_grant_panel(5, 35), roles, GateThresholds(), "panel"))["treatment_arms"]
    assert not thin.passed and thin.value == 10.0 and "fewer than 20 unit-periods" in thin.message
