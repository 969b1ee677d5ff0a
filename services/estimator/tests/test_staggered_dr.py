"""cs_did's doubly robust group-time ATTs (Sant'Anna & Zhao 2020), checked against R DRDID's
Python port (`drdid`, a test-only dependency) and against known simulated truths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from drdid.drdid import drdid_panel
from scipy import stats

from cqox_contracts.v1 import RoleMapping
from cqox_estimator.domain import estimate
from cqox_estimator.estimators import EstimationError
from cqox_estimator.estimators.panel import NEVER, adoption
from cqox_estimator.estimators.staggered import CallawaySantAnna, _group_time_effects, dr_small_sample
from cqox_estimator.simulation import staggered_panel

ROLES = RoleMapping(treatment="treated", outcome="y", unit="unit", time="period", covariates=["x"])
EFFECT = 2.0


def two_by_two(seed: int, n: int = 600, *, nonlinear: bool = False, slope: float = 1.0) -> pd.DataFrame:
    """Two periods; units with larger x adopt more often (logit-linear in x) and trend differently:
    linearly in x, or as x**2 (`nonlinear`: a linear outcome model is then wrong). Effect 2."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    adopts = rng.random(n) < 1 / (1 + np.exp(0.5 - slope * x))
    trend = x**2 if nonlinear else 0.8 * x
    y0 = x + rng.normal(size=n)
    y1 = y0 + trend + EFFECT * adopts + rng.normal(size=n)
    return pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n), 2),
            "period": np.tile([0, 1], n),
            "treated": np.column_stack([np.zeros(n), adopts]).ravel().astype(int),
            "y": np.column_stack([y0, y1]).ravel(),
            "x": np.repeat(x, 2),
            "w": np.repeat(rng.uniform(size=n), 2),
        }
    )


def drdid_reference(frame: pd.DataFrame, covariates: list[str]) -> tuple[float, float]:
    """ATT and SE from the drdid package's influence function, with our per-group small-sample
    factors (R's DRDID reports sd(influence) / sqrt(n) without them)."""
    wide = frame.pivot(index="unit", columns="period", values="y")
    units = frame.groupby("unit")
    adopts = units["treated"].max().to_numpy().astype(float)
    att, influence = drdid_panel(
        wide[1].to_numpy(), wide[0].to_numpy(), adopts, units[covariates].first().to_numpy()
    )
    return float(att), _se(influence, adopts, 1 + len(covariates))


def _se(influence: np.ndarray, adopts: np.ndarray, k: int) -> float:
    """SE of a cell from its (unscaled) influence function and our small-sample factors."""
    return float(np.sqrt(np.sum((influence * dr_small_sample(adopts, k)) ** 2)) / len(adopts))


@pytest.mark.parametrize("seed", range(4))
def test_a_two_by_two_equals_the_drdid_package(seed: int) -> None:
    frame = two_by_two(seed, nonlinear=seed % 2 == 1)
    roles = ROLES.model_copy(update={"covariates": ["x", "w"]})
    result = estimate("cs_did", frame, roles, options={"adjustment": "dr"})
    att, se = drdid_reference(frame, ["x", "w"])
    assert result.estimate == pytest.approx(att, rel=1e-6)
    assert result.std_error == pytest.approx(se, rel=1e-6)
    assert result.diagnostics["adjustment"] == "doubly robust (Sant'Anna & Zhao 2020)"


def test_every_staggered_cell_equals_the_drdid_package() -> None:
    # Two cohorts and never-treated units; x drives both adoption and the trend.
    rng = np.random.default_rng(11)
    n_units, n_periods = 400, 6
    x = rng.normal(size=n_units)
    adopt = np.where(rng.random(n_units) < 1 / (1 + np.exp(-x)), rng.choice([2, 4], n_units), NEVER)
    unit = np.repeat(np.arange(n_units), n_periods)
    period = np.tile(np.arange(n_periods), n_units)
    treated = (period >= adopt[unit]).astype(int)
    y = x[unit] * 0.4 * period + EFFECT * treated + rng.normal(size=unit.size)
    frame = pd.DataFrame({"unit": unit, "period": period, "y": y, "t": treated})
    wide = frame.pivot(index="unit", columns="period", values="y")
    cohort, _ = adoption(unit, period, treated)
    cohort = cohort.loc[wide.index]
    covariates = np.repeat(x[wide.index.to_numpy()][:, None, None], n_periods, axis=1)
    cells = _group_time_effects(wide, cohort, covariates, adjustment="dr")
    cells += _group_time_effects(wide, cohort, covariates, placebo=True, adjustment="dr")
    assert len(cells) == 10  # cohort 2: 4 post + 1 placebo; cohort 4: 2 post + 3 placebos
    for g, t, att, psi in cells:
        base = t - 1 if t < g else g - 1
        rows = (cohort == g) | (cohort == NEVER)
        ref_att, ref_if = drdid_panel(
            wide.loc[rows, t].to_numpy(),
            wide.loc[rows, base].to_numpy(),
            (cohort[rows] == g).to_numpy().astype(float),
            x[wide.index[rows].to_numpy()],
        )
        n = len(cohort)
        assert att == pytest.approx(ref_att, rel=1e-6)
        treated = (cohort[rows] == g).to_numpy().astype(float)
        assert np.sqrt((psi**2).sum()) / n == pytest.approx(_se(ref_if, treated, 2), rel=1e-6)


def test_doubly_robust_survives_a_wrong_outcome_model_where_regression_does_not() -> None:
    errors: dict[tuple[bool, str], list[float]] = {}
    for nonlinear in (False, True):
        for seed in range(40):
            frame = two_by_two(100 + seed, nonlinear=nonlinear)
            for adjustment in ("dr", "or"):
                result = estimate("cs_did", frame, ROLES, options={"adjustment": adjustment})
                errors.setdefault((nonlinear, adjustment), []).append(result.estimate - EFFECT)
    bias = {key: float(np.mean(values)) for key, values in errors.items()}
    # Linear trends: both models right, both unbiased (Monte Carlo SE of the mean about 0.015).
    assert abs(bias[False, "dr"]) < 0.06
    assert abs(bias[False, "or"]) < 0.06
    # Trend x**2 but logit-linear adoption: only the propensity model is right.
    assert abs(bias[True, "dr"]) < 0.12  # Monte Carlo SE about 0.035
    assert bias[True, "or"] > 0.4


def test_without_covariates_dr_is_the_unconditional_did_exactly() -> None:
    frame = two_by_two(7)
    frame["z"] = np.random.default_rng(7).normal(size=len(frame))  # time-varying: not used
    plain = estimate("cs_did", frame, ROLES.model_copy(update={"covariates": []}))
    for options in (
        {"adjustment": "dr", "adjust_for_covariates": False},
        {"adjustment": "or", "adjust_for_covariates": False},
    ):
        result = estimate("cs_did", frame, ROLES, options=options)
        assert result.estimate == plain.estimate
        assert result.std_error == plain.std_error
    for adjustment in ("dr", "or"):
        result = estimate(
            "cs_did",
            frame,
            ROLES.model_copy(update={"covariates": ["z"]}),
            options={"adjustment": adjustment},
        )
        assert (result.estimate, result.std_error) == (plain.estimate, plain.std_error)
        assert result.diagnostics["adjustment"] == "none (2x2 DiD per cell)"


def test_the_common_staggered_simulation_still_covers_the_truth() -> None:
    # staggered_panel: adoption confounded by the unit effect, constant effect 1.5; add a
    # unit-level covariate (the baseline x1, which predicts adoption but not the trend) so the
    # doubly robust cells run. (The unit mean of x1 would separate the cohorts perfectly in some
    # seeds: cs_did then refuses with "no overlap".)
    roles = RoleMapping(
        treatment="treated", outcome="y", unit="unit", time="period", covariates=["x1", "x2", "size"]
    )
    covered, errors = 0, []
    for seed in range(20):
        frame = staggered_panel(300, 20, seed)
        frame["size"] = frame.groupby("unit")["x1"].transform("first")
        result = estimate("cs_did", frame, roles, options={"adjustment": "dr"})
        assert result.diagnostics["adjustment"] == "doubly robust (Sant'Anna & Zhao 2020)"
        errors.append(result.estimate - 1.5)
        covered += result.ci_lower < 1.5 < result.ci_upper
    assert abs(np.mean(errors)) < 0.15
    assert covered >= 17


def test_separated_cohorts_are_refused_as_no_overlap() -> None:
    frame = two_by_two(3)
    frame["treated"] = ((frame["x"] > 0) & (frame["period"] == 1)).astype(int)
    with pytest.raises(EstimationError, match="no overlap"):
        estimate("cs_did", frame, ROLES, options={"adjustment": "dr"})
    # Outcome regression does not weight by the propensity and still runs.
    assert np.isfinite(estimate("cs_did", frame, ROLES).estimate)


def test_comparison_units_with_extreme_propensities_are_trimmed_and_counted() -> None:
    frame = two_by_two(5, slope=3.0)
    # Three comparison units far out where nearly every unit adopts (propensity above 0.995).
    controls = frame.groupby("unit")["treated"].max().pipe(lambda t: t.index[t == 0][:3])
    far = frame["unit"].isin(controls)
    frame.loc[far, "x"] = 3.5
    result = estimate("cs_did", frame, ROLES, options={"adjustment": "dr"})
    assert result.diagnostics["propensity_trim"] == 0.995
    assert result.diagnostics["max_comparison_units_trimmed"] == 3.0
    att, se = drdid_reference(frame, ["x"])  # trimmed the same way
    assert (result.estimate, result.std_error) == (pytest.approx(att, rel=1e-6), pytest.approx(se, rel=1e-6))


def test_unknown_adjustment_is_refused() -> None:
    with pytest.raises(EstimationError, match="adjustment must be one of"):
        estimate("cs_did", two_by_two(0), ROLES, options={"adjustment": "ipw"})


def test_outcome_regression_is_the_default() -> None:
    # Outcome regression stays the default (tighter when its linear model is right, and it
    # never refuses for separation); DR is asked for with adjustment: dr.
    assert CallawaySantAnna().get_params()["adjustment"] == "or"


def test_the_event_study_band_uses_the_doubly_robust_influence_functions() -> None:
    roles = RoleMapping(treatment="treated", outcome="y", unit="unit", time="period", covariates=["size"])
    frame = staggered_panel(300, 20, 3)
    frame["size"] = frame.groupby("unit")["x1"].transform("first")
    result = estimate("cs_did", frame, roles, options={"adjustment": "dr"}, seed=5)
    d = result.diagnostics
    assert d["adjustment"] == "doubly robust (Sant'Anna & Zhao 2020)"
    critical = float(d["event_band_critical_value"])  # type: ignore[arg-type]
    times = [int(k[len("att_event_") : -len("_band_lower")]) for k in d if k.endswith("_band_lower")]
    assert sorted(times) == list(range(-5, 5))
    assert 1.96 < critical < stats.norm.ppf(1 - 0.025 / len(times))
    for e in times:
        half = float(d[f"att_event_{e}_band_upper"]) - float(d[f"att_event_{e}"])  # type: ignore[arg-type]
        assert half == pytest.approx(critical * float(d[f"se_event_{e}"]))  # type: ignore[arg-type]
    # Same data and seed, same band.
    again = estimate("cs_did", frame, roles, options={"adjustment": "dr"}, seed=5)
    assert again.diagnostics["event_band_critical_value"] == critical
