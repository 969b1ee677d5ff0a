"""Two-stage least squares: linearmodels' numbers, Wald's ratio, and honest weak-IV sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from linearmodels.iv import IV2SLS
from scipy import stats

from cqox_contracts.v1 import RoleMapping
from cqox_estimator.domain import estimate
from cqox_estimator.estimators import (
    REGISTRY,
    EstimationError,
    PropensityScoreMatching,
    prepare,
    select_methods,
)
from cqox_estimator.estimators.instrumental import (
    ARSet,
    PartialRegressions,
    TwoStageLeastSquares,
    anderson_rubin_set,
    partial_regressions,
)
from cqox_estimator.simulation import instrumented

ROLES = RoleMapping(treatment="treated", outcome="y", instrument="z", covariates=["x1", "x2", "segment"])
C95 = float(stats.chi2.ppf(0.95, df=1))


def arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """y, t, X (x1, x2, segment dummies) and z as the service prepares them."""
    design = prepare(frame, ROLES, design_roles=("instrument",))
    assert design.instrument is not None
    return design.y, design.t, design.X, design.instrument


def ar_statistic(y: np.ndarray, t: np.ndarray, X: np.ndarray, z: np.ndarray, b: float) -> float:
    """Robust (HC0) Anderson-Rubin statistic of b by statsmodels: z's Wald stat in y - b t ~ 1 + X + z."""
    design = np.column_stack([np.ones(y.shape[0]), X, z])
    fitted = sm.OLS(y - b * t, design).fit(cov_type="HC0")
    return float((fitted.params[-1] / fitted.bse[-1]) ** 2)


def test_recovers_the_late_where_ols_is_biased() -> None:
    result = estimate("iv_2sls", instrumented(n=4000, seed=0), ROLES)
    assert result.method == "iv_2sls" and result.estimand == "LATE"
    assert result.ci_lower < 1.5 < result.ci_upper
    assert result.estimate == pytest.approx(1.5, abs=0.15)
    ols = result.diagnostics["ols_estimate"]
    assert isinstance(ols, float) and ols > 2.2  # confounded by u: far outside the IV interval
    assert ols > result.ci_upper + 0.5
    d = result.diagnostics
    assert d["weak_instrument"] == "no" and isinstance(d["first_stage_f"], float) and d["first_stage_f"] > 100
    assert d["complier_share"] == d["first_stage_coef"]
    assert isinstance(d["wu_hausman_p"], float) and d["wu_hausman_p"] < 0.001  # t is endogenous
    assert 0 < float(d["first_stage_partial_r2"] or 0) < 1
    assert result.inference.startswith("2SLS")


@pytest.mark.parametrize("cov_type", ["robust", "unadjusted"])
def test_equals_a_direct_linearmodels_fit(cov_type: str) -> None:
    y, t, X, z = arrays(instrumented(n=3000, seed=4))
    fitted = TwoStageLeastSquares(cov_type=cov_type).fit(y, t, X=X, instrument=z)
    exog = np.column_stack([np.ones(y.shape[0]), X])
    direct = IV2SLS(y, exog, t.astype(float), z).fit(cov_type=cov_type)
    assert fitted.ate_ == pytest.approx(float(direct.params.iloc[-1]), abs=1e-10)
    assert fitted.ate_stderr_ == pytest.approx(float(direct.std_errors.iloc[-1]), abs=1e-10)
    first = direct.first_stage
    d = fitted.diagnostics_
    assert d["first_stage_f"] == pytest.approx(float(first.diagnostics["f.stat"].iloc[0]), rel=1e-10)
    assert d["first_stage_partial_r2"] == pytest.approx(
        float(first.diagnostics["partial.rsquared"].iloc[0]), rel=1e-10
    )
    assert d["wu_hausman_p"] == pytest.approx(float(direct.wu_hausman().pval), rel=1e-8)
    # The first-stage coefficient is the effect of z on the probability of treatment.
    assert d["first_stage_coef"] == pytest.approx(float(first.individual["endog"].params.iloc[-1]), rel=1e-10)
    assert d["ols_estimate"] == pytest.approx(
        float(sm.OLS(y, np.column_stack([t, exog])).fit().params[0]), rel=1e-10
    )
    # Normal reference, as linearmodels: the CI is estimate +- 1.96 SE.
    lower, upper = fitted.ate_interval()
    assert lower == pytest.approx(float(direct.conf_int().iloc[-1, 0]), abs=1e-10)
    assert upper == pytest.approx(float(direct.conf_int().iloc[-1, 1]), abs=1e-10)


def test_is_the_wald_ratio_without_covariates() -> None:
    frame = instrumented(n=2500, seed=2)
    y, t, z = frame["y"].to_numpy(float), frame["treated"].to_numpy(), frame["z"].to_numpy(float)
    fitted = TwoStageLeastSquares().fit(y, t, instrument=z)
    on, off = z == 1, z == 0
    first_stage = t[on].mean() - t[off].mean()
    wald = (y[on].mean() - y[off].mean()) / first_stage
    assert fitted.ate_ == pytest.approx(wald, abs=1e-10)
    assert fitted.diagnostics_["first_stage_coef"] == pytest.approx(first_stage, abs=1e-10)
    assert fitted.diagnostics_["complier_share"] == pytest.approx(first_stage, abs=1e-10)


def test_a_continuous_instrument_gives_the_covariance_ratio() -> None:
    rng = np.random.default_rng(5)
    n = 3000
    z, u = rng.normal(size=n), rng.normal(size=n)
    t = (rng.random(n) < 1 / (1 + np.exp(-(0.8 * z + u)))).astype(int)
    y = 2.0 * t + u + rng.normal(size=n)
    fitted = TwoStageLeastSquares().fit(y, t, instrument=z)
    assert fitted.ate_ == pytest.approx(np.cov(z, y)[0, 1] / np.cov(z, t)[0, 1], abs=1e-10)
    assert "complier_share" not in fitted.diagnostics_
    assert fitted.ate_interval()[0] < 2.0 < fitted.ate_interval()[1]


def test_the_anderson_rubin_set_is_close_to_the_wald_interval_when_the_instrument_is_strong() -> None:
    frame = instrumented(n=2000, seed=1)
    y, t, X, z = arrays(frame)
    fitted = TwoStageLeastSquares().fit(y, t, X=X, instrument=z)
    d = fitted.diagnostics_
    lower, upper = d["ar_ci_lower"], d["ar_ci_upper"]
    assert isinstance(lower, float) and isinstance(upper, float)
    assert d["ar_confidence_set"] == f"[{lower:.6g}, {upper:.6g}]"
    wald_lower, wald_upper = fitted.ate_interval()
    assert lower == pytest.approx(wald_lower, abs=0.05) and upper == pytest.approx(wald_upper, abs=0.05)
    assert lower < fitted.ate_ < upper
    # The ends are where the robust AR statistic (statsmodels HC0) crosses the chi2(1) quantile...
    assert ar_statistic(y, t, X, z, lower) == pytest.approx(C95, rel=1e-8)
    assert ar_statistic(y, t, X, z, upper) == pytest.approx(C95, rel=1e-8)
    # ...and a brute-force grid inversion accepts exactly the grid points between them.
    grid = np.linspace(lower - 1.0, upper + 1.0, 201)
    accepted = np.array([ar_statistic(y, t, X, z, b) <= C95 for b in grid])
    assert np.array_equal(accepted, (grid >= lower) & (grid <= upper))


def test_the_anderson_rubin_set_is_unbounded_when_the_instrument_is_weak() -> None:
    frame = instrumented(n=4000, seed=0, strength=0.02)
    y, t, X, z = arrays(frame)
    fitted = TwoStageLeastSquares().fit(y, t, X=X, instrument=z)
    d = fitted.diagnostics_
    assert d["weak_instrument"] == "yes"
    assert "Weak instrument" in str(d["warning"])
    assert "ar_ci_lower" not in d and "ar_ci_upper" not in d
    assert d["ar_confidence_set"] in ("the whole line",) or "∪" in str(d["ar_confidence_set"])
    grid = np.linspace(-50.0, 50.0, 101)
    first = _first_stage(y, t, X, z)
    ar = anderson_rubin_set(first)
    assert not ar.bounded
    accepted = np.array([ar_statistic(y, t, X, z, b) <= C95 for b in grid])
    assert np.array_equal(accepted, np.array([ar.contains(float(b)) for b in grid]))
    assert accepted.all() == (ar.kind == "whole line")
    # Through the contract, the unbounded set is a string and no infinite floats appear.
    result = estimate("iv_2sls", frame, ROLES)
    assert result.diagnostics["ar_confidence_set"] == d["ar_confidence_set"]


def _first_stage(y: np.ndarray, t: np.ndarray, X: np.ndarray, z: np.ndarray) -> PartialRegressions:
    exog = np.column_stack([np.ones(y.shape[0]), X])
    return partial_regressions(y, t.astype(float), z, exog, "robust")


def test_the_anderson_rubin_quadratic_has_three_shapes() -> None:
    # Strong first stage: an interval around pi_y / pi_t.
    strong = anderson_rubin_set(PartialRegressions(2.0, 1.0, 0.01, 0.0, 0.01, 1.0, 0.5))
    assert strong.kind == "interval" and strong.contains(2.0) and not strong.contains(3.0)
    # Insignificant first stage and clear reduced form: two rays excluding b near 0.
    rays = anderson_rubin_set(PartialRegressions(1.0, 0.05, 0.01, 0.0, 0.01, 1.0, 0.5))
    assert rays.kind == "two rays" and not rays.contains(0.0) and rays.contains(20.0) and rays.contains(-1e6)
    assert "∪" in rays.describe()
    # Neither is significant: every b is accepted.
    whole = anderson_rubin_set(PartialRegressions(0.05, 0.05, 0.01, 0.0, 0.01, 1.0, 0.5))
    assert whole == ARSet("whole line") and whole.describe() == "the whole line"


def test_runs_through_the_domain_and_the_registry() -> None:
    frame = instrumented(n=2000, seed=3)
    result = estimate("iv_2sls", frame, ROLES)
    assert result.n == 2000 and result.n_treated + result.n_control == 2000
    assert result.diagnostics["covariate_columns"] == "x1, x2, segment=b, segment=c"
    assert result.p_value < 0.05
    chosen, _ = select_methods(ROLES, "iv", "auto")
    assert chosen == ["iv_2sls"]
    assert "iv_2sls" not in select_methods(ROLES, "observational", "auto")[0]
    # Unadjusted SEs are an option; an unknown covariance type is refused.
    unadjusted = estimate("iv_2sls", frame, ROLES, options={"cov_type": "unadjusted"})
    assert unadjusted.estimate == pytest.approx(result.estimate, abs=1e-12)
    assert unadjusted.diagnostics["ar_covariance"] == "homoskedastic"
    with pytest.raises(EstimationError, match="cov_type must be one of"):
        estimate("iv_2sls", frame, ROLES, options={"cov_type": "kernel"})
    with pytest.raises(EstimationError, match="weak_f_threshold"):
        estimate("iv_2sls", frame, ROLES, options={"weak_f_threshold": 0})


def test_does_not_depend_on_the_row_order() -> None:
    frame = instrumented(n=1500, seed=6)
    shuffled = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    a, b = estimate("iv_2sls", frame, ROLES), estimate("iv_2sls", shuffled, ROLES)
    assert a.estimate == pytest.approx(b.estimate, abs=1e-10)
    assert a.std_error == pytest.approx(b.std_error, abs=1e-10)
    assert a.diagnostics["ar_ci_lower"] == pytest.approx(b.diagnostics["ar_ci_lower"], abs=1e-9)


def test_refuses_a_constant_instrument() -> None:
    frame = instrumented(n=500).assign(z=1)
    with pytest.raises(EstimationError, match="the instrument takes one value"):
        estimate("iv_2sls", frame, ROLES)


def test_refuses_a_missing_instrument_role() -> None:
    roles = ROLES.model_copy(update={"instrument": None})
    with pytest.raises(EstimationError, match="iv_2sls needs the instrument role"):
        estimate("iv_2sls", instrumented(n=500), roles)
    with pytest.raises(EstimationError, match="needs the instrument of every row"):
        TwoStageLeastSquares().fit([1.0, 2.0, 3.0, 4.0], [0, 1, 0, 1])


def test_refuses_a_non_numeric_instrument() -> None:
    frame = instrumented(n=500)
    frame["z"] = np.where(frame["z"] == 1, "encouraged", "not encouraged")
    with pytest.raises(EstimationError, match=r"instrument 'z' must be numeric; 500 values are not"):
        estimate("iv_2sls", frame, ROLES)


def test_refuses_an_instrument_that_is_a_covariate() -> None:
    frame = instrumented(n=500)
    roles = ROLES.model_copy(update={"covariates": ["x1", "x2", "segment", "z"]})
    with pytest.raises(EstimationError, match="instrument column 'z' cannot also be"):
        estimate("iv_2sls", frame, roles)
    # The same values under another name: collinear with the covariates, nothing left to use.
    copied = frame.assign(z_copy=frame["z"])
    roles = ROLES.model_copy(update={"covariates": ["x1", "x2", "segment", "z_copy"]})
    with pytest.raises(EstimationError, match="linear combination of the covariates"):
        estimate("iv_2sls", copied, roles)


def test_refuses_a_first_stage_of_exactly_zero() -> None:
    # Half the rows in each instrument arm are treated: z moves nobody into treatment.
    rng = np.random.default_rng(0)
    z = np.repeat([0.0, 1.0], 200)
    t = np.tile([0, 1], 200)
    y = t + rng.normal(size=400)
    with pytest.raises(EstimationError, match="no compliers"):
        TwoStageLeastSquares().fit(y, t, instrument=z)


def test_wraps_linearmodels_failures() -> None:
    frame = instrumented(n=300)
    X = np.column_stack([frame["x1"], frame["x1"]])  # duplicated covariate, only seen by linearmodels
    with pytest.raises(EstimationError, match="linearmodels could not fit"):
        TwoStageLeastSquares().fit(frame["y"], frame["treated"], X=X, instrument=frame["z"])


# Card (1995) returns to schooling, Wooldridge (Introductory Econometrics) Example 15.4: log wage
# on years of education (18 values), instrumented by growing up near a four-year college.
CARD_CONTROLS = ["exper", "expersq", "black", "smsa", "south", "smsa66", *(f"reg66{j}" for j in range(2, 10))]
CARD_ROLES = RoleMapping(treatment="educ", outcome="lwage", instrument="nearc4", covariates=CARD_CONTROLS)


@pytest.fixture(scope="module")
def card_frame() -> pd.DataFrame:
    from linearmodels.datasets import card

    frame: pd.DataFrame = card.load()
    return frame


def card_linearmodels(frame: pd.DataFrame, cov_type: str, *, debiased: bool = False) -> tuple[float, float]:
    exog = sm.add_constant(frame[CARD_CONTROLS])
    fitted = IV2SLS(frame["lwage"], exog, frame["educ"], frame["nearc4"]).fit(
        cov_type=cov_type, debiased=debiased
    )
    return float(fitted.params["educ"]), float(fitted.std_errors["educ"])


def test_card_returns_to_schooling_reproduce_wooldridge_example_15_4(card_frame: pd.DataFrame) -> None:
    result = estimate("iv_2sls", card_frame, CARD_ROLES, options={"cov_type": "unadjusted"})
    assert result.estimate == pytest.approx(0.1315, abs=5e-4)
    assert result.std_error == pytest.approx(0.0550, abs=5e-4)
    # The published 0.0550 divides the residual variance by n - k (linearmodels' debiased=True:
    # 0.05496); linearmodels' default and ours divide by n (0.05482). Both are checked exactly.
    estimate_lm, se_lm = card_linearmodels(card_frame, "unadjusted")
    assert result.estimate == pytest.approx(estimate_lm, rel=1e-10)
    assert result.std_error == pytest.approx(se_lm, rel=1e-10)
    assert card_linearmodels(card_frame, "unadjusted", debiased=True)[1] == pytest.approx(0.0550, abs=5e-5)
    d = result.diagnostics
    assert d["ols_estimate"] == pytest.approx(0.0747, abs=5e-5)
    assert d["treatment_scale"] == "continuous" and "Angrist and Imbens" in str(d["interpretation"])
    assert "complier_share" not in d  # the first stage of years of schooling is no complier share
    assert d["n_treatment_values"] == 18.0 and d["treatment_coding"] == "numeric values as given (continuous)"
    assert result.estimand == "LATE" and result.contrasts == []
    # No one has zero years of schooling: every row counts as t != 0.
    assert (result.n, result.n_treated, result.n_control) == (3010, 3010, 0)


def test_card_through_the_class_with_robust_se_matches_linearmodels(card_frame: pd.DataFrame) -> None:
    design = prepare(card_frame, CARD_ROLES, design_roles=("instrument",), continuous_treatment=True)
    assert design.t.dtype == np.float64 and design.continuous
    fitted = TwoStageLeastSquares().fit(design.y, design.t, X=design.X, instrument=design.instrument)
    estimate_lm, se_lm = card_linearmodels(card_frame, "robust")
    assert fitted.ate_ == pytest.approx(estimate_lm, rel=1e-10)
    assert fitted.ate_stderr_ == pytest.approx(se_lm, rel=1e-10)
    assert fitted.contrasts_ == [] and fitted.arm_counts_.size == 0
    # Years beyond 12: the same slope; n_treated counts t != 0 and n_control t == 0.
    shifted = TwoStageLeastSquares().fit(design.y, design.t - 12, X=design.X, instrument=design.instrument)
    assert shifted.ate_ == pytest.approx(estimate_lm, rel=1e-8)
    at_twelve = int((card_frame["educ"] == 12).sum())
    assert (shifted.n_control_, shifted.n_treated_) == (at_twelve, 3010 - at_twelve)


def test_a_binary_treatment_is_unchanged_by_the_continuous_flag() -> None:
    frame = instrumented(n=1000, seed=2)
    plain = prepare(frame, ROLES, design_roles=("instrument",))
    flagged = prepare(frame, ROLES, design_roles=("instrument",), continuous_treatment=True)
    assert flagged.t.dtype == np.int64 and not flagged.continuous
    np.testing.assert_array_equal(plain.t, flagged.t)
    assert flagged.describe() == plain.describe()
    result = estimate("iv_2sls", frame, ROLES)
    assert result.diagnostics["treatment_scale"] == "binary" and "complier_share" in result.diagnostics


def test_a_continuous_treatment_needs_the_flag_and_binary_methods_refuse_it(card_frame: pd.DataFrame) -> None:
    with pytest.raises(EstimationError, match="must be binary but has 18 distinct values"):
        prepare(card_frame, CARD_ROLES, design_roles=("instrument",))
    roles = CARD_ROLES.model_copy(update={"instrument": None})
    with pytest.raises(EstimationError) as caught:
        estimate("psm", card_frame, roles)
    assert caught.value.reason.startswith(
        "psm needs a binary treatment: treatment 'educ' must be binary but has 18 distinct values"
    )
    assert "methods that accept a multi-valued treatment:" in caught.value.reason
    with pytest.raises(EstimationError, match="t must be coded 0/1"):
        PropensityScoreMatching().fit(card_frame["lwage"], card_frame["educ"], X=card_frame[CARD_CONTROLS])


def test_the_planner_keeps_iv_2sls_for_a_many_valued_treatment() -> None:
    assert select_methods(CARD_ROLES, "iv", "auto", treatment_levels=15) == (["iv_2sls"], {})
    observational, _ = select_methods(CARD_ROLES, "observational", "auto", treatment_levels=15)
    assert observational and all(REGISTRY[name].estimator.multi_arm for name in observational)
    _, skipped = select_methods(CARD_ROLES, "observational", ["psm"], treatment_levels=15)
    assert skipped == {"psm": "psm needs a binary treatment; the treatment has 15 levels"}


def ar_curve(d: dict[str, float | str | None]) -> list[tuple[float, float]]:
    """The reported (candidate effect, AR p-value) grid, in order."""
    k, out = 0, []
    while f"ar_grid_{k}_effect" in d:
        out.append((float(d[f"ar_grid_{k}_effect"]), float(d[f"ar_grid_{k}_p_value"])))  # type: ignore[arg-type]
        k += 1
    return out


def test_the_anderson_rubin_curve_is_the_tests_p_value_and_crosses_five_percent_at_the_set() -> None:
    frame = instrumented(n=2000, seed=1)
    y, t, X, z = arrays(frame)
    fitted = TwoStageLeastSquares().fit(y, t, X=X, instrument=z)
    d = fitted.diagnostics_
    curve = ar_curve(d)
    assert len(curve) >= 50 and [b for b, _ in curve] == sorted(b for b, _ in curve)
    points = dict(curve)
    assert points[d["ar_ci_lower"]] == pytest.approx(0.05) and points[d["ar_ci_upper"]] == pytest.approx(0.05)
    # Each point is the robust AR test (statsmodels HC0) of that candidate; the set is where p >= 5 %.
    for b, p in curve[::10]:
        assert p == pytest.approx(stats.chi2.sf(ar_statistic(y, t, X, z, b), df=1), rel=1e-6)
        assert (p >= 0.05 - 1e-9) == (d["ar_ci_lower"] - 1e-9 <= b <= d["ar_ci_upper"] + 1e-9)
    assert max(p for _, p in curve) > 0.5  # near the just-identified Wald ratio the test accepts


def test_a_weak_instruments_anderson_rubin_curve_never_drops_below_five_percent_inside_the_set() -> None:
    frame = instrumented(n=4000, seed=0, strength=0.02)
    y, t, X, z = arrays(frame)
    d = TwoStageLeastSquares().fit(y, t, X=X, instrument=z).diagnostics_
    first = partial_regressions(y, t.astype(float), z, np.column_stack([np.ones(y.shape[0]), X]), "robust")
    ar = anderson_rubin_set(first)
    for b, p in ar_curve(d):
        assert (p >= 0.05 - 1e-9) == ar.contains(b) or abs(p - 0.05) < 1e-6
