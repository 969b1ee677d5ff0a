"""Refuters on simulated data with a known answer: placebo effects vanish, a random covariate does
not move the estimate, subsamples move it as much as the SE says, a hidden confounder is caught."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cqox_contracts.v1 import Refutation, RoleMapping
from cqox_estimator.estimators import REGISTRY
from cqox_estimator.refutation import applicable_refuters, not_run, refutable, refute
from cqox_estimator.simulation import (
    confounded,
    discontinuity,
    hidden_confounder,
    instrumented,
    repeated_cross_sections,
    staggered_panel,
    synthetic_panel,
)

ROLES = RoleMapping(treatment="treated", outcome="y", covariates=["x1", "x2", "segment"])
PRE_ROLES = ROLES.model_copy(update={"pre_outcome": "y_pre"})
PANEL_ROLES = RoleMapping(treatment="treated", outcome="y", unit="unit", time="period", covariates=["x1"])


def _by_name(refutations: list[Refutation]) -> dict[str, Refutation]:
    return {r.refuter: r for r in refutations}


def test_refutable_follows_what_the_registry_declares() -> None:
    chosen = {name for name in REGISTRY if refutable(name)}
    assert {"ols", "ipw", "aipw", "psm", "twfe", "cs_did"} <= chosen
    # design-based methods too, each with the refuters its design admits
    assert {"iv_2sls", "rd_robust", "did_regression", "drdid_rc"} <= chosen
    # heavy methods, bounds and policy gains are not refuted; a synthetic control is, by its donors
    assert not chosen & {"causal_forest", "lee_bounds"}
    assert "synthetic_control" in chosen
    assert "policy_tree" not in chosen
    assert all(REGISTRY[name].cost == "light" for name in chosen)


def test_which_refuters_apply() -> None:
    assert applicable_refuters("ols", ROLES)["placebo_outcome"] is not None  # no pre_outcome role
    assert applicable_refuters("ols", PRE_ROLES)["placebo_outcome"] is None
    assert applicable_refuters("diff_in_means", ROLES)["random_common_cause"] is not None
    assert applicable_refuters("ols", ROLES)["placebo_adoption"] is not None
    assert applicable_refuters("twfe", PANEL_ROLES)["placebo_adoption"] is None
    # matching re-matches after any change: subsets and a random covariate have no calibrated limit
    matching = applicable_refuters("psm", PRE_ROLES)
    assert "smooth" in str(matching["data_subset"]) and matching["random_common_cause"] is not None
    assert matching["placebo_treatment"] is None and matching["placebo_outcome"] is None


def test_ols_passes_every_refuter_on_a_correct_model() -> None:
    frame = hidden_confounder(2000, seed=3, hidden=0.0)
    found = _by_name(refute("ols", frame, PRE_ROLES, seed=11))
    assert set(found) == {"placebo_treatment", "random_common_cause", "data_subset", "placebo_outcome"}
    assert all(r.error is None and r.method == "ols" for r in found.values())
    placebo = found["placebo_treatment"]
    assert placebo.expectation == "zero" and abs(placebo.estimate - 1.5) < 0.15  # type: ignore[operator]
    assert abs(placebo.refuted_estimate) < 3 * placebo.refuted_std_error  # type: ignore[arg-type,operator]
    assert placebo.p_value is not None and placebo.p_value > 0.01
    assert found["random_common_cause"].shift_se < 0.2  # type: ignore[operator]
    subset = found["data_subset"]
    assert len(subset.draws) == 3 and subset.p_value is not None and subset.p_value > 0.01
    assert found["placebo_outcome"].p_value > 0.01  # type: ignore[operator]


def test_a_hidden_confounder_is_caught_by_the_placebo_outcome() -> None:
    frame = hidden_confounder(2000, seed=3, hidden=1.0)
    found = _by_name(refute("ols", frame, PRE_ROLES, seed=11, refuters=["placebo_outcome"]))
    assert set(found) == {"placebo_outcome"}
    outcome = found["placebo_outcome"]
    assert "y_pre" in outcome.change and outcome.refuted_estimate > 0.3  # type: ignore[operator]
    assert outcome.p_value is not None and outcome.p_value < 1e-6
    # permuting the treatment removes any confounding: the placebo treatment still passes
    placebo = _by_name(refute("ols", frame, PRE_ROLES, seed=11, refuters=["placebo_treatment"]))
    assert placebo["placebo_treatment"].p_value > 0.01  # type: ignore[operator]


def test_same_input_same_answer() -> None:
    frame = confounded(800, seed=5)
    first = refute("aipw", frame, ROLES, seed=21)
    again = refute("aipw", frame, ROLES, seed=21)
    other = refute("aipw", frame, ROLES, seed=22)
    assert [r.model_dump() for r in first] == [r.model_dump() for r in again]
    assert (
        _by_name(first)["placebo_treatment"].refuted_estimate
        != _by_name(other)["placebo_treatment"].refuted_estimate
    )


def test_the_baseline_is_the_estimate_of_the_analysis() -> None:
    from cqox_estimator.domain import estimate

    frame = confounded(800, seed=5)
    result = estimate("ipw", frame, ROLES, seed=9)
    (subset,) = refute("ipw", frame, ROLES, seed=9, refuters=["data_subset"])
    assert subset.estimate == pytest.approx(result.estimate) and subset.std_error == pytest.approx(
        result.std_error
    )


@pytest.mark.parametrize("method", ["twfe", "cs_did"])
def test_panel_refuters_on_parallel_trends(method: str) -> None:
    panel = staggered_panel(120, 12, seed=2)
    panel = panel[panel["period"] < 12]
    found = _by_name(refute(method, panel, PANEL_ROLES, seed=4))
    assert set(found) == {
        "placebo_treatment",
        "random_common_cause",
        "data_subset",
        "placebo_outcome",
        "placebo_adoption",
    }
    assert all(r.error is None for r in found.values()), [r.error for r in found.values()]
    for name in ("placebo_treatment", "placebo_outcome", "placebo_adoption"):
        assert found[name].p_value > 0.01, (name, found[name])  # type: ignore[operator]
    assert "adoption" in found["placebo_adoption"].change


def test_placebo_adoption_catches_diverging_trends() -> None:
    panel = staggered_panel(120, 12, seed=2)
    ever = panel.groupby("unit")["treated"].transform("max") == 1
    panel = panel.assign(y=panel["y"] + np.where(ever, 0.4 * panel["period"], 0.0))  # treated drift
    (adoption,) = refute("twfe", panel, PANEL_ROLES, seed=4, refuters=["placebo_adoption"])
    assert adoption.p_value is not None and adoption.p_value < 0.01  # the gate fails below 0.05


RD_ROLES = RoleMapping(
    treatment="treated", outcome="y", running_variable="score", cutoff=0.0, covariates=["x1", "x2"]
)


@pytest.mark.parametrize("seed", [1, 2])
def test_sharp_rd_gets_a_placebo_cutoff_where_nothing_jumps(seed: int) -> None:
    frame = discontinuity(3000, seed=seed, effect=1.5)
    found = _by_name(refute("rd_robust", frame, RD_ROLES, seed=seed))
    assert {"placebo_treatment", "random_common_cause", "data_subset"} <= set(found)
    placebo = found["placebo_treatment"]
    assert placebo.error is None and "placebo cutoff" in str(placebo.change)
    assert abs(placebo.estimate - 1.5) < 0.5  # type: ignore[operator]  # the real jump
    assert placebo.p_value is not None and placebo.p_value > 0.01  # no jump at the placebo cutoff
    assert found["random_common_cause"].shift_se < 0.5  # type: ignore[operator]


def test_a_placebo_cutoff_finds_a_jump_the_outcome_really_has() -> None:
    """The check can fail: a second, real jump at the placebo cutoff's place is found."""
    frame = discontinuity(3000, seed=3, effect=1.5)
    # A second jump of 2 at the median of each side, where the placebo cutoff goes.
    score = frame["score"]
    upper, lower = score[score >= 0].median(), score[score < 0].median()
    frame["y"] += 2.0 * ((score >= upper) | ((score >= lower) & (score < 0)))
    placebo = _by_name(refute("rd_robust", frame, RD_ROLES, seed=3))["placebo_treatment"]
    assert placebo.p_value is not None and placebo.p_value < 0.01


def test_fuzzy_rd_and_iv_say_why_there_is_no_placebo_treatment() -> None:
    fuzzy = discontinuity(2000, seed=1, fuzzy=True)
    found = _by_name(refute("rd_robust", fuzzy, RD_ROLES, seed=1))
    assert "fuzzy" in str(found["placebo_treatment"].error)
    iv_roles = RoleMapping(treatment="treated", outcome="y", instrument="z", covariates=["x1", "x2"])
    assert "first stage" in str(applicable_refuters("iv_2sls", iv_roles)["placebo_treatment"])
    found = _by_name(refute("iv_2sls", instrumented(2000, seed=1), iv_roles, seed=1))
    assert set(found) == {"random_common_cause", "data_subset"}
    assert all(r.error is None for r in found.values())
    assert found["data_subset"].p_value is not None and found["data_subset"].p_value > 0.01


def test_repeated_cross_sections_permute_the_treated_group() -> None:
    roles = RoleMapping(treatment="treated", outcome="y", post="post", covariates=["x1", "x2"])
    found = _by_name(refute("drdid_rc", repeated_cross_sections(3000, seed=2), roles, seed=2))
    placebo = found["placebo_treatment"]
    assert placebo.error is None and abs(placebo.estimate - 1.5) < 0.3  # type: ignore[operator]
    assert placebo.p_value is not None and placebo.p_value > 0.01


def test_a_multi_arm_placebo_is_judged_on_every_contrast() -> None:
    """Three arms: a permuted treatment moves no contrast; the p-value is the smallest Holm one."""
    rng = np.random.default_rng(1)
    n = 3000
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    arm = rng.integers(0, 3, size=n)
    y = 1 + 2 * x1 + x2 + np.array([0.0, 1.0, 2.0])[arm] + rng.normal(size=n)
    frame = pd.DataFrame({"arm": np.array(["A", "B", "C"])[arm], "y": y, "x1": x1, "x2": x2})
    roles = RoleMapping(treatment="arm", outcome="y", covariates=["x1", "x2"])
    found = _by_name(refute("ols", frame, roles, seed=1))
    assert {"placebo_treatment", "random_common_cause", "data_subset"} <= set(found)
    placebo = found["placebo_treatment"]
    assert placebo.error is None and placebo.p_value is not None and placebo.p_value > 0.01
    assert abs(placebo.estimate - 1.0) < 0.2  # type: ignore[operator]  # arm B against A


SC_ROLES = RoleMapping(treatment="treated", outcome="y", unit="unit", time="period")


def _one_state(seed: int, effect: float = 0.0) -> pd.DataFrame:
    """39 units over 31 periods, one adopting at period 19 (a Prop 99-like panel)."""
    return synthetic_panel(n_donors=38, n_periods=31, adoption=19, effect=effect, seed=seed)


def test_synthetic_control_placebos_pass_when_nothing_happened() -> None:
    found = _by_name(refute("synthetic_control", _one_state(seed=11), SC_ROLES, seed=3))
    assert set(found) == {"placebo_treatment", "data_subset", "placebo_adoption"}
    assert all(r.error is None for r in found.values()), [r.error for r in found.values()]
    for r in found.values():
        assert r.p_value is not None and r.p_value > 0.05, r
    in_space = found["placebo_treatment"]
    # the placebo-in-space p-value: a rank among 37 donor placebos, so a multiple of 1/38
    assert in_space.p_value * 38 == pytest.approx(round(in_space.p_value * 38))  # type: ignore[operator]
    assert "treated unit(s) left out" in in_space.change and "placebo-in-space p-value" in in_space.change
    assert "pre-period RMSPE" in found["placebo_adoption"].change
    assert "left out in turn" in found["data_subset"].change
    reasons = applicable_refuters("synthetic_control", SC_ROLES)
    assert "placebo_adoption" in str(reasons["placebo_outcome"])
    assert "ignores covariates" in str(reasons["random_common_cause"])


def test_synthetic_control_in_time_placebo_catches_a_break_before_adoption() -> None:
    panel = _one_state(seed=11, effect=-1.0)
    broken = panel.assign(
        y=panel["y"] + np.where((panel["unit"] == "treated1") & (panel["period"] >= 12), 3.0, 0)
    )
    (clean,) = refute("synthetic_control", panel, SC_ROLES, seed=3, refuters=["placebo_adoption"])
    (adoption,) = refute("synthetic_control", broken, SC_ROLES, seed=3, refuters=["placebo_adoption"])
    assert clean.p_value is not None and clean.p_value > 0.05
    assert adoption.p_value is not None and adoption.p_value < 0.01  # the gate fails below 0.05
    assert abs(adoption.refuted_estimate - 3.0 * 7 / 10) < 0.6  # type: ignore[operator]  # 7 of 10 periods


def test_synthetic_control_leaning_on_one_donor_fails_leave_one_out() -> None:
    """The treated unit is a twin of donor005, which alone has a shock after adoption: the
    synthetic control is that donor, its estimate carries the shock, and leaving it out shows it."""
    panel = _one_state(seed=5)
    twin = panel["unit"] == "donor005"
    noise = np.random.default_rng(0).normal(scale=0.1, size=31)
    panel.loc[panel["unit"] == "treated1", "y"] = panel.loc[twin, "y"].to_numpy() + noise
    panel.loc[twin & (panel["period"] >= 19), "y"] += 3.0
    (subset,) = refute("synthetic_control", panel, SC_ROLES, seed=1, refuters=["data_subset"])
    assert subset.estimate == pytest.approx(-3.0, abs=0.5)
    assert "donor005" in subset.change and subset.shift_se > 3  # type: ignore[operator]
    assert subset.p_value is not None and subset.p_value < 0.001


def test_checks_that_do_not_apply_are_reported_with_why() -> None:
    """What `refute` leaves out comes back from `not_run` with its reason, and nothing else."""
    frame = confounded(1500, seed=11)
    skipped = _by_name(not_run("ols", ROLES))
    assert set(skipped) == {"placebo_outcome", "placebo_adoption"}
    assert "pre_outcome" in str(skipped["placebo_outcome"].not_applicable)
    assert "panels" in str(skipped["placebo_adoption"].not_applicable)
    assert all(
        r.estimate is None and r.refuted_estimate is None and r.error is None for r in skipped.values()
    )
    ran = _by_name(refute("ols", frame, ROLES, seed=11))
    assert set(ran).isdisjoint(skipped) and len(ran) + len(skipped) == 5
    assert all(r.not_applicable is None for r in ran.values())
    assert "placebo_outcome" not in _by_name(not_run("ols", PRE_ROLES))
    assert not_run("ols", ROLES, ["placebo_treatment"]) == []  # only the checks asked for
    iv_roles = RoleMapping(treatment="treated", outcome="y", instrument="z", covariates=["x1", "x2"])
    assert "first stage" in str(_by_name(not_run("iv_2sls", iv_roles))["placebo_treatment"].not_applicable)
