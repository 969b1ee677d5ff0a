"""Callaway-Sant'Anna: clean comparisons under staggered adoption, where TWFE is biased."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cqox_contracts.v1 import RoleMapping
from cqox_estimator.domain import estimate
from cqox_estimator.estimators import EstimationError
from cqox_estimator.estimators.staggered import CallawaySantAnna, _uniform_band

ROLES = RoleMapping(treatment="treated", outcome="y", unit="unit", time="period")


def staggered(
    n_units: int = 200,
    n_periods: int = 10,
    seed: int = 0,
    *,
    cohorts: tuple[int, ...] = (3, 6),
    never: float = 0.5,
) -> pd.DataFrame:
    """Units adopt at one of `cohorts` (a share `never` never do); the effect grows by 0.5 a period."""
    rng = np.random.default_rng(seed)
    adopt = np.where(rng.random(n_units) < never, n_periods + 1, rng.choice(cohorts, size=n_units))
    unit = np.repeat(np.arange(n_units), n_periods)
    period = np.tile(np.arange(n_periods), n_units)
    exposure = period - adopt[unit]
    treated = (exposure >= 0).astype(int)
    effect = (1.0 + 0.5 * exposure) * treated
    y = rng.normal(size=n_units)[unit] + 0.3 * period + effect + rng.normal(size=unit.size)
    return pd.DataFrame({"unit": unit, "period": period, "treated": treated, "y": y})


def simple_truth(frame: pd.DataFrame) -> float:
    """The average effect over treated unit-periods (what the simple aggregation targets)."""
    first = frame[frame["treated"] == 1].groupby("unit")["period"].min()
    treated = frame[frame["treated"] == 1]
    return float((1.0 + 0.5 * (treated["period"] - treated["unit"].map(first))).mean())


def test_unbiased_under_growing_effects_where_twfe_is_not() -> None:
    cs_errors, twfe_errors, covered = [], [], 0
    for seed in range(20):
        frame = staggered(seed=seed)
        truth = simple_truth(frame)
        cs = estimate("cs_did", frame, ROLES)
        cs_errors.append(cs.estimate - truth)
        twfe_errors.append(estimate("twfe", frame, ROLES).estimate - truth)
        covered += cs.ci_lower < truth < cs.ci_upper
    assert abs(np.mean(cs_errors)) < 0.08
    assert np.mean(twfe_errors) < -0.25  # TWFE compares late adopters with already-treated units
    assert covered >= 17


def test_a_two_by_two_is_the_difference_in_mean_changes_with_the_welch_se() -> None:
    frame = staggered(n_periods=2, seed=3, cohorts=(1,))
    wide = frame.pivot(index="unit", columns="period", values="y")
    change = wide[1] - wide[0]
    group = frame.groupby("unit")["treated"].max()
    treated, control = change[group == 1], change[group == 0]
    result = estimate("cs_did", frame, ROLES)
    assert result.estimate == pytest.approx(treated.mean() - control.mean())
    se = np.sqrt(treated.var(ddof=1) / len(treated) + control.var(ddof=1) / len(control))
    assert result.std_error == pytest.approx(se)
    assert result.diagnostics["control_group"] == "never treated"


def test_without_never_treated_units_the_not_yet_treated_are_the_controls() -> None:
    frame = staggered(seed=4, cohorts=(3, 7), never=0.0)
    result = estimate("cs_did", frame, ROLES)
    assert result.diagnostics["control_group"] == "not yet treated"
    # Cohort 3 is compared with cohort 7 in periods 3..6 (effects 1, 1.5, 2, 2.5); cohort 7 has
    # no untreated units left to compare with, so it contributes nothing.
    assert result.diagnostics["n_adoption_cohorts"] == 1.0
    assert result.ci_lower < 1.75 < result.ci_upper


def test_units_treated_from_the_start_are_left_out_and_counted() -> None:
    frame = staggered(seed=5)
    frame.loc[frame["unit"] < 10, "treated"] = 1
    result = estimate("cs_did", frame, ROLES)
    assert result.diagnostics["n_always_treated_units_left_out"] == 10.0


def test_treatment_that_switches_off_is_refused() -> None:
    frame = staggered(seed=6)
    switched = frame.index[(frame["treated"] == 1) & (frame["period"] == 9)]
    frame.loc[switched[:3], "treated"] = 0
    with pytest.raises(EstimationError, match="stays on once started; 3 unit"):
        estimate("cs_did", frame, ROLES)


def test_event_time_effects_are_reported() -> None:
    result = estimate("cs_did", staggered(seed=7), ROLES)
    for e in range(3):
        assert (
            abs(result.diagnostics[f"att_event_{e}"] - (1.0 + 0.5 * e))
            < 4 * result.diagnostics[f"se_event_{e}"]
        )  # type: ignore[operator]


def test_covariates_make_parallel_trends_conditional() -> None:
    # Units with larger x trend upwards and adopt more often: only the adjusted estimate is right.
    errors: dict[bool, list[float]] = {True: [], False: []}
    for seed in range(15):
        rng = np.random.default_rng(seed)
        n_units, n_periods = 300, 8
        x = rng.normal(size=n_units)
        adopt = np.where(rng.random(n_units) < 1 / (1 + np.exp(-1.5 * x)), rng.choice([3, 5], n_units), 99)
        unit = np.repeat(np.arange(n_units), n_periods)
        period = np.tile(np.arange(n_periods), n_units)
        treated = (period >= adopt[unit]).astype(int)
        y = x[unit] * 0.4 * period + 2.0 * treated + rng.normal(size=unit.size)
        frame = pd.DataFrame(
            {
                "unit": unit,
                "period": period,
                "treated": treated,
                "y": y,
                "x": x[unit],
                "z": rng.normal(size=unit.size),
            }
        )
        for adjust in (False, True):
            roles = ROLES.model_copy(update={"covariates": ["x", "z"]})
            result = estimate("cs_did", frame, roles, options={"adjust_for_covariates": adjust})
            errors[adjust].append(result.estimate - 2.0)
    # z changes within units: its base-period value is not conditioned on (last: adjusted).
    assert result.diagnostics["time_varying_covariates_not_used"] == 1.0
    assert "conditional on 1 unit-level covariate" in str(result.diagnostics["parallel_trends"])
    assert abs(np.mean(errors[True])) < 0.05
    assert np.mean(errors[False]) > 0.5  # treated units were trending up anyway


def test_placebo_effects_before_adoption_test_parallel_trends() -> None:
    parallel = estimate("cs_did", staggered(seed=9), ROLES)
    assert "pre-adoption effects" in str(parallel.diagnostics["pretrend_test"])
    assert (parallel.diagnostics["pretrend_p_value"] or 0) > 0.01  # type: ignore[operator]
    assert abs(parallel.diagnostics["att_event_-2"]) < 4 * parallel.diagnostics["se_event_-2"]  # type: ignore[arg-type,operator]
    # Units about to adopt were already rising by 0.5 a period: the placebos catch it.
    frame = staggered(seed=9)
    first = frame[frame["treated"] == 1].groupby("unit")["period"].min()
    adopts = frame["unit"].map(first).notna()
    drifting = frame.assign(y=frame["y"] + 0.5 * frame["period"] * adopts)
    result = estimate("cs_did", drifting, ROLES)
    assert (result.diagnostics["pretrend_p_value"] or 1) < 0.001  # type: ignore[operator]


BAND_KEYS = ("event_band_critical_value", "event_band_level", "event_band_draws")


def event_times(diagnostics: dict[str, float | str | None]) -> list[int]:
    suffixes = (key[len("att_event_") :] for key in diagnostics if key.startswith("att_event_"))
    return sorted(int(s) for s in suffixes if s.lstrip("-").isdigit())


def test_the_event_study_band_is_simultaneous_between_pointwise_and_bonferroni() -> None:
    result = estimate("cs_did", staggered(seed=7), ROLES)
    d = result.diagnostics
    times = event_times(d)
    assert len(times) == 10  # e = -5..4, placebos included in the band
    critical = float(d["event_band_critical_value"])  # type: ignore[arg-type]
    dof = staggered(seed=7)["unit"].nunique() - 1  # read on the t scale, like the ATT's interval
    assert stats.t.ppf(0.975, dof) < critical < stats.t.ppf(1 - 0.025 / len(times), dof)
    assert (d["event_band_level"], d["event_band_draws"]) == (0.95, 999.0)
    for e in times:
        att, se = float(d[f"att_event_{e}"]), float(d[f"se_event_{e}"])  # type: ignore[arg-type]
        lower, upper = float(d[f"att_event_{e}_band_lower"]), float(d[f"att_event_{e}_band_upper"])  # type: ignore[arg-type]
        assert (lower, upper) == (pytest.approx(att - critical * se), pytest.approx(att + critical * se))
        assert lower < att - 1.96 * se and upper > att + 1.96 * se  # contains the pointwise interval
    # The overall ATT's interval stays analytic: the band leaves it untouched.
    plain = estimate("cs_did", staggered(seed=7), ROLES, options={"n_bootstrap": 0})
    assert (plain.estimate, plain.std_error, plain.ci_lower) == (
        result.estimate,
        result.std_error,
        result.ci_lower,
    )


def test_the_band_critical_value_matches_the_gaussian_max_quantile() -> None:
    # Influence functions with known correlation: independent event times give Sidak's quantile,
    # identical ones the pointwise 1.96; the multiplier bootstrap must reproduce both (3,000 units:
    # the t scale the critical value is read on is the normal one to 0.002).
    rng = np.random.default_rng(1)
    n, k = 3000, 6
    independent = rng.normal(size=(n, k))
    se = np.sqrt((independent**2).sum(axis=0)) / n
    sidak = stats.norm.ppf(1 - (1 - 0.95 ** (1 / k)) / 2)
    assert _uniform_band(independent, se, 4999, 0) == pytest.approx(sidak, abs=0.08)
    identical = np.repeat(independent[:, :1], k, axis=1)
    assert _uniform_band(identical, np.repeat(se[:1], k), 4999, 0) == pytest.approx(1.96, abs=0.08)
    # Scaling an event time's influence (and so its SE) leaves its t statistics, and the band, alone.
    scaled = independent * np.arange(1, k + 1)
    assert _uniform_band(scaled, se * np.arange(1, k + 1), 999, 3) == pytest.approx(
        _uniform_band(independent, se, 999, 3), rel=1e-5
    )


def test_the_band_is_reproducible_for_a_seed_and_moves_slightly_with_it() -> None:
    frame = staggered(seed=8)
    critical = [
        float(estimate("cs_did", frame, ROLES, seed=s).diagnostics["event_band_critical_value"])  # type: ignore[arg-type]
        for s in (0, 0, 1, 2)
    ]
    assert critical[0] == critical[1]
    assert critical[2] != critical[0] and critical[3] != critical[0]
    assert (
        max(critical) - min(critical) < 0.3
    )  # Monte Carlo noise of 999 draws (SD ~0.06), not a different band


def test_no_bootstrap_means_no_band_and_the_same_event_study() -> None:
    frame = staggered(seed=10)
    banded = estimate("cs_did", frame, ROLES).diagnostics
    plain = estimate("cs_did", frame, ROLES, options={"n_bootstrap": 0}).diagnostics
    assert not any(key in plain for key in BAND_KEYS)
    assert not any(key.endswith(("_band_lower", "_band_upper")) for key in plain)
    assert {key: value for key, value in banded.items() if "band" not in key} == plain


@pytest.mark.parametrize("draws", [50, 98, -1, 1.5, True, "999", 1_000_000])
def test_bad_bootstrap_counts_are_refused(draws: object) -> None:
    with pytest.raises(
        EstimationError, match=r"n_bootstrap must be 0 \(no simultaneous band\) or an integer from 99"
    ):
        estimate("cs_did", staggered(seed=0), ROLES, options={"n_bootstrap": draws})


@pytest.mark.parametrize("seed", [-1, 1.5, "0", None])
def test_bad_random_states_are_refused(seed: object) -> None:
    frame = staggered(seed=0)
    estimator = CallawaySantAnna(random_state=seed)  # type: ignore[arg-type]
    with pytest.raises(EstimationError, match="random_state must be a non-negative integer"):
        estimator.fit(frame["y"], frame["treated"], unit=frame["unit"], time=frame["period"])


def group_time_cells(diagnostics: dict[str, float | str | None]) -> dict[tuple[int, int], float]:
    """The reported ATT(g, t) by (cohort, period)."""
    cells = {}
    for key, value in diagnostics.items():
        if key.startswith("att_gt_") and isinstance(value, float):
            g, period = key.removeprefix("att_gt_").split("_")
            cells[int(g), int(period)] = value
    return cells


def test_the_group_time_table_holds_each_cells_two_by_two_and_averages_to_the_headline() -> None:
    frame = staggered(seed=5)
    result = estimate("cs_did", frame, ROLES)
    d = result.diagnostics
    cells = group_time_cells(d)
    assert {g for g, _ in cells} == {3, 6}
    assert len(cells) == d["n_group_time_cells_reported"]
    # Without covariates each post cell is the 2x2 DiD of cohort g against the never-treated.
    wide = frame.pivot(index="unit", columns="period", values="y")
    first = frame[frame["treated"] == 1].groupby("unit")["period"].min().reindex(wide.index)
    change = wide[5] - wide[2]
    expected = change[first == 3].mean() - change[first.isna()].mean()
    assert cells[3, 5] == pytest.approx(expected)
    # The headline is the cohort-size weighted mean of the post cells.
    post = {k: v for k, v in cells.items() if k[1] >= k[0]}
    size = {g: d[f"cohort_units_{g}"] for g, _ in post}
    weighted = sum(size[g] * v for (g, _), v in post.items()) / sum(size[g] for g, _ in post)
    assert result.estimate == pytest.approx(weighted)
    # Known answer: the effect is 1 + 0.5 (t - g) after adoption, 0 in the placebo cells.
    for (g, period), value in cells.items():
        truth = 1.0 + 0.5 * (period - g) if period >= g else 0.0
        assert abs(value - truth) < 4 * d[f"se_gt_{g}_{period}"], (g, period)
