"""Sensitivity measures reproduce their published and reference-package figures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cqox_contracts.v1 import EstimateResult
from cqox_quality_gate.gates.sensitivity import (
    SensitivityData,
    covariate_groups,
    critical_gamma,
    e_value_of_difference,
    e_value_of_risk_difference,
    e_value_rr,
    e_values,
    estimate_robustness,
    matched_pair_differences,
    ols,
    omitted_variable_bias,
    oster_bounds,
    robustness_value,
    rosenbaum_upper_p,
    rr_from_odds_ratio,
    sensitivity_panel,
)

# --- E-values -------------------------------------------------------------------------------------


def test_e_value_breastfeeding_example_of_vanderweele_ding() -> None:
    # VanderWeele & Ding (2017), Ann Intern Med 167:268, worked example (Victora et al. 1987):
    # RR 3.9 (95% CI 1.8 to 8.7) -> E-value 7.2 for the estimate and 3.0 for the lower limit.
    point, ci = e_values(3.9, 1.8, 8.7)
    assert point == pytest.approx(7.26, abs=0.01)
    assert ci == pytest.approx(3.0, abs=0.01)


def test_e_value_of_protective_ratio_inverts_it() -> None:
    # VanderWeele & Ding (2017), "for RR < 1, let RR* = 1/RR": the same strength either way.
    assert e_value_rr(1 / 3.9) == pytest.approx(e_value_rr(3.9))
    # The CI limit nearest the null of a protective RR is its upper limit.
    assert e_values(1 / 3.9, 1 / 8.7, 1 / 1.8)[1] == pytest.approx(e_value_rr(1.8))


def test_e_value_is_one_when_the_interval_holds_the_null() -> None:
    # VanderWeele & Ding (2017): "if the confidence interval includes 1, the E-value is 1".
    assert e_values(1.3, 0.9, 1.8)[1] == 1.0


def test_e_value_of_odds_ratios() -> None:
    # VanderWeele & Ding (2017), Table 2: a rare outcome's OR is its RR; a common outcome's RR is
    # about sqrt(OR). Hand-derived: OR 0.86 common -> RR 0.9274 -> 1/0.9274 = 1.0783 -> E-value
    # 1.0783 + sqrt(1.0783 x 0.0783) = 1.369.
    assert rr_from_odds_ratio(2.0, common_outcome=False) == 2.0
    assert e_value_rr(rr_from_odds_ratio(0.86, common_outcome=True)) == pytest.approx(1.369, abs=1e-3)


def test_e_value_of_a_standardised_difference() -> None:
    # VanderWeele & Ding (2017), Table 2: continuous outcome, RR ~ exp(0.91 d) and the CI limits
    # exp(0.91 d +- 1.78 se_d). Hand-derived for d = 0.5, se_d = 0.1: RR = exp(0.455) = 1.5762,
    # E = 1.5762 + sqrt(1.5762 x 0.5762) = 2.529; lower RR = exp(0.455 - 0.178) = 1.3192,
    # E = 1.3192 + sqrt(1.3192 x 0.3192) = 1.968.
    sd = 4.0  # the same d = 0.5 as an estimate of 2 on an outcome with SD 4
    value = e_value_of_difference(2.0, 2.0 - 1.96 * 0.4, 2.0 + 1.96 * 0.4, sd)
    assert value.risk_ratio == pytest.approx(1.5762, abs=1e-4)
    assert value.point == pytest.approx(2.529, abs=1e-3)
    assert value.ci == pytest.approx(1.968, abs=2e-3)


def test_e_value_of_a_risk_difference() -> None:
    # Hand-derived: control risk 0.2, risk difference 0.1 -> RR 1.5 -> E = 1.5 + sqrt(0.75) = 2.366.
    value = e_value_of_risk_difference(0.1, 0.05, 0.15, 0.2)
    assert value.risk_ratio == pytest.approx(1.5)
    assert value.point == pytest.approx(1.5 + math.sqrt(0.75))
    assert value.ci == pytest.approx(e_value_rr(1.25))


# --- Cinelli & Hazlett: the Darfur example shipped with sensemakr ---------------------------------


@pytest.fixture(scope="module")
def darfur() -> pd.DataFrame:
    sensemakr = pytest.importorskip("sensemakr")
    return sensemakr.load_darfur()


def test_darfur_reproduces_sensemakr(darfur: pd.DataFrame) -> None:
    covariates = ["age", "farmer_dar", "herder_dar", "pastvoted", "hhsize_darfur", "female"]
    villages = pd.get_dummies(darfur["village"], prefix="village", prefix_sep="=", drop_first=True)
    X = pd.concat([darfur[covariates].astype(float), villages.astype(float)], axis=1)
    ovb = omitted_variable_bias(
        darfur["peacefactor"].to_numpy(float),
        darfur["directlyharmed"].to_numpy(float),
        X,
        covariate_groups(list(X.columns), [*covariates, "village"]),
        benchmark="female",
    )
    # Cinelli & Hazlett (2020), JRSS-B 82:39, section 3 and Table 2 / sensemakr's quickstart
    # (`darfur_sense.summary()`): estimate 0.097, se 0.023, df 783, partial R2 2.19 %,
    # RV 13.88 %, RV at alpha 0.05 7.63 %.
    assert ovb.estimate == pytest.approx(0.09732, abs=1e-5)
    assert ovb.std_error == pytest.approx(0.02326, abs=1e-5)
    assert ovb.dof == 783
    assert ovb.partial_r2 == pytest.approx(0.021873, abs=1e-6)
    assert ovb.robustness_value == pytest.approx(0.138776, abs=1e-6)
    assert ovb.robustness_value_alpha == pytest.approx(0.076258, abs=1e-6)
    # sensemakr quickstart, "Bounds on omitted variable bias" (1x, 2x, 3x female):
    # r2dz_x, r2yz_dx, adjusted estimate, adjusted se, adjusted lower / upper CI.
    expected = [
        (0.009164, 0.124641, 0.075220, 0.021873, 0.032283, 0.118158),
        (0.018329, 0.249324, 0.052915, 0.020350, 0.012968, 0.092862),
        (0.027493, 0.374050, 0.030396, 0.018670, -0.006253, 0.067045),
    ]
    assert [b.k for b in ovb.bounds] == [1.0, 2.0, 3.0]
    for bound, row in zip(ovb.bounds, expected, strict=True):
        got = (
            bound.r2dz_x,
            bound.r2yz_dx,
            bound.adjusted_estimate,
            bound.adjusted_se,
            bound.adjusted_ci_lower,
            bound.adjusted_ci_upper,
        )
        assert got == pytest.approx(row, abs=1e-6)
    # sensemakr from an estimate, its SE and dof alone (sensemakr(estimate = 0.0973, se = 0.0233,
    # dof = 783), the form the panel uses for a headline regression): the same partial R2 and RVs.
    headline = EstimateResult(
        method="ols",
        estimand="ATE",
        estimate=ovb.estimate,
        std_error=ovb.std_error,
        ci_lower=None,
        ci_upper=None,
        p_value=None,
        n=792,
        inference="OLS classical",
        diagnostics={"df_resid": 783.0},
    )
    own = estimate_robustness(headline)
    assert own is not None and own.dof == 783
    assert own.partial_r2 == pytest.approx(0.021873, abs=1e-6)
    assert own.robustness_value == pytest.approx(0.138776, abs=1e-6)
    assert own.robustness_value_alpha == pytest.approx(0.076258, abs=1e-6)


def test_robustness_value_at_alpha_is_zero_when_not_significant() -> None:
    # Cinelli & Hazlett (2020), section 4.3: RV_q,alpha = 0 when |t| is below the critical value.
    assert robustness_value(1.5, 500, alpha=0.05) == 0.0


# --- Rosenbaum bounds, computed by hand -----------------------------------------------------------


def test_rosenbaum_bound_ten_positive_pairs_by_hand() -> None:
    # Rosenbaum (2002), Observational Studies, section 4.3.3, large-sample bound for the signed-rank
    # statistic. By hand for S = 10 pairs, all differences positive: T+ = 55, sum r^2 = 385.
    # Gamma = 1: E = 27.5, Var = 96.25, z = 27.5 / 9.8107 = 2.8031, p = 0.00253.
    # The bound reaches alpha = 0.05 when 55 (1 - p+) = 1.6449 sqrt(385 p+ (1 - p+)), i.e.
    # Gamma = p+ / (1 - p+) = 55^2 / (385 x 1.6449^2) = 2.9041.
    d = np.arange(1.0, 11.0)
    assert rosenbaum_upper_p(d, 1.0) == pytest.approx(0.00253, abs=1e-5)
    assert critical_gamma(d, alpha=0.05) == pytest.approx(3025 / (385 * 1.6448536**2), rel=1e-6)
    assert rosenbaum_upper_p(d, 2.9041) == pytest.approx(0.05, abs=1e-4)


def test_rosenbaum_at_gamma_one_is_wilcoxon_test() -> None:
    # At Gamma = 1 the bound is the ordinary one-sided signed-rank test (normal approximation,
    # average ranks for ties, no continuity correction), as scipy computes it.
    d = np.array([1.5, -0.5, 2.0, 2.0, 3.1, -1.0, 0.7, 4.2, 2.0, -0.2, 1.1, 0.9])
    reference = stats.wilcoxon(d, alternative="greater", method="approx", correction=False)
    assert rosenbaum_upper_p(d, 1.0) == pytest.approx(reference.pvalue, rel=1e-9)
    assert rosenbaum_upper_p(d, 2.0) > rosenbaum_upper_p(d, 1.0)


def test_rosenbaum_not_significant_has_no_gamma() -> None:
    assert critical_gamma(np.array([1.0, -1.0, 2.0, -2.0]), alpha=0.05) is None


def test_matched_pairs_pick_the_nearest_control() -> None:
    y = np.array([10.0, 20.0, 1.0, 2.0, 3.0])
    treated = np.array([1, 1, 0, 0, 0])
    propensity = np.array([0.3, 0.6, 0.29, 0.5, 0.61])
    assert matched_pair_differences(y, treated, propensity, caliper=10).tolist() == [9.0, 17.0]


# --- Oster (2019) ---------------------------------------------------------------------------------


def test_oster_hand_derived_exact() -> None:
    """psacalc's exact solution by hand (Oster 2019, JBES 37:187, Proposition 2; psacalc.ado).

    beta_short 0.6 (R2 0.1), beta_long 0.5 (R2 0.3), var(y) = var(x) = 1, tau_x = 0.5, so
    R_max = 1.3 x 0.3 = 0.39, A = 0.1, B = 0.2, C = 0.09, K = tau var(x) - tau^2 = 0.25.
    delta(beta = 0), nu = 0.5:
      numerator = 0.5*0.2*0.5 + 0.5*1*0.5*0.01 + 2*0.25*0.5*0.1 + 0.125*0.25 = 0.10875
      denominator = 0.09*0.1 + 0.5*0.09*0.5 + 0.25*0.5*0.1 + 0.125*0.25 = 0.07525
    beta* at delta = 1: tau A var(x) nu^2 - aa nu - C A var(x) = 0 with
      aa = C (var(x) - tau) - B tau - var(x) tau A^2 = 0.045 - 0.1 - 0.005 = -0.06,
      nu = (0.06 +- sqrt(0.0036 + 4*0.05*0.009)) / 0.1 = (0.06 +- sqrt(0.0054)) / 0.1;
    the root that moves beta the way the covariates did (down from 0.6 to 0.5) is
    beta* = 0.5 - (sqrt(0.0054) - 0.06) / 0.1 = 0.36515; the other, 0.5 + (0.06 + sqrt(0.0054)) / 0.1.
    Oster's eq. (3) approximation would give 0.5 - 0.1 * 0.09 / 0.2 = 0.455 instead.
    """
    bounds = oster_bounds(0.6, 0.1, 0.5, 0.3, var_outcome=1.0, var_treatment=1.0, var_treatment_residual=0.5)
    assert bounds.r_max == pytest.approx(0.39)
    assert bounds.delta == pytest.approx(0.10875 / 0.07525, rel=1e-12)  # 1.44518
    # The same delta in the R package bate's independent form (osterdelstar: C / (A (R_max - R~) + B)):
    # A = 0.5*1*0.5 + 1*1*0.1 = 0.35, B = 0.125*0.25 + 0.25*1*0.5*0.1 = 0.04375, C = 0.10875.
    assert bounds.delta == pytest.approx(0.10875 / (0.35 * (0.39 - 0.3) + 0.04375), rel=1e-12)
    assert bounds.beta_star == pytest.approx(0.5 - (math.sqrt(0.0054) - 0.06) / 0.1, rel=1e-12)
    assert bounds.alternative_roots == pytest.approx([0.5 + (0.06 + math.sqrt(0.0054)) / 0.1])


def test_oster_delta_fed_back_gives_beta_star_zero() -> None:
    # Oster (2019), section 3: delta is the proportionality at which beta* = 0, so solving the
    # cubic at that delta returns 0 among its roots, and psacalc's pick is 0 when the covariates
    # moved beta towards it.
    inputs = {"var_outcome": 2.0, "var_treatment": 0.25, "var_treatment_residual": 0.2}
    first = oster_bounds(1.0, 0.1, 0.6, 0.4, **inputs)
    assert first.delta is not None and first.delta > 1
    again = oster_bounds(1.0, 0.1, 0.6, 0.4, delta=first.delta, **inputs)
    assert again.beta_star == pytest.approx(0.0, abs=1e-9)


def test_oster_recovers_the_truth_when_selection_is_proportional() -> None:
    """Known answer: y = 0.7 x + w1 + w2 + e with x = 0.5 w1 + 0.8 w2 + u, var(w1) = 1,
    var(w2) = 2.25; only w1 is observed. Proportional selection holds with
    delta = (cov(w2, x) / var(w2)) / (cov(w1, x) / var(w1)) = 0.8 / 0.5 = 1.6 and R_max is the
    R2 of the regression with w2 too. The exact solution at delta = 1.6 recovers beta = 0.7 (the
    approximation of eq. 3 gives 0.96), and with beta = 0 the delta for beta = 0 is 1.6.
    (Oster's own data are not shipped here: this known answer and the hand-derived case stand in
    for her published figures.)"""
    rng = np.random.default_rng(0)
    n = 200_000
    w1, w2 = rng.normal(size=n), rng.normal(scale=1.5, size=n)
    x = 0.5 * w1 + 0.8 * w2 + rng.normal(size=n)
    one = np.ones(n)
    tau = ols(x, np.column_stack([one, w1])).rss / (n - 1)
    for beta in (0.7, 0.0):
        y = beta * x + w1 + w2 + rng.normal(size=n)
        short, long = ols(y, np.column_stack([one, x])), ols(y, np.column_stack([one, x, w1]))
        r_max = ols(y, np.column_stack([one, x, w1, w2])).r2
        inputs = {"var_outcome": y.var(ddof=1), "var_treatment": x.var(ddof=1), "var_treatment_residual": tau}
        args = (float(short.coef[1]), short.r2, float(long.coef[1]), long.r2)
        bounds = oster_bounds(*args, r_max=r_max, delta=1.6, **inputs)
        # sampling noise of beta* at this n is about 0.03 (seeds 0-3: 0.68 to 0.74); eq. (3) is off by 0.26
        assert bounds.beta_star == pytest.approx(beta, abs=0.08)
        if beta == 0.0:
            assert bounds.delta == pytest.approx(1.6, abs=0.03)


# --- The panel decides from what the estimate declares -------------------------------------------


def _estimate(**update: object) -> EstimateResult:
    base = EstimateResult(
        method="m",
        estimand="ATE",
        estimate=2.0,
        std_error=0.1,
        ci_lower=1.8,
        ci_upper=2.2,
        p_value=0.0,
        n=400,
        inference="x",
        adjustment="outcome",
        relies_on_overlap=False,
    )
    return base.model_copy(update=update)


@pytest.fixture(scope="module")
def confounded() -> SensitivityData:
    rng = np.random.default_rng(3)
    n = 600
    x = rng.normal(size=(n, 2))
    treated = (x[:, 0] + rng.normal(size=n) > 0).astype(np.int64)
    y = 2.0 * treated + x @ np.array([1.0, 0.5]) + rng.normal(size=n)
    covariates = pd.DataFrame(x, columns=["a", "b"])
    propensity = 1 / (1 + np.exp(-1.6 * x[:, 0]))
    return SensitivityData(
        y=y, treated=treated, covariates=covariates, groups={"a": ["a"], "b": ["b"]}, propensity=propensity
    )


def test_panel_for_regression_adjustment(confounded: SensitivityData) -> None:
    panel = sensitivity_panel(_estimate(), confounded, headline=True)
    assert panel.e_value is not None and panel.e_value.point > 2
    assert panel.omitted_variable_bias is not None and panel.oster is not None
    assert panel.omitted_variable_bias.strongest_covariate == "a"
    assert panel.rosenbaum is None
    assert "risk-ratio association" in panel.summary


def test_panel_for_matching(confounded: SensitivityData) -> None:
    panel = sensitivity_panel(
        _estimate(estimand="ATT", adjustment="propensity", relies_on_overlap=True), confounded
    )
    assert panel.rosenbaum is not None and panel.rosenbaum.critical_gamma is not None
    assert panel.omitted_variable_bias is None


def test_panel_for_a_design_has_notes_only(confounded: SensitivityData) -> None:
    panel = sensitivity_panel(_estimate(estimand="LATE", adjustment="design"), confounded)
    assert panel.e_value is None and panel.notes


def test_panel_says_which_regression_its_figures_come_from(confounded: SensitivityData) -> None:
    """The OVB and Oster figures are those of OLS with the covariates: the panel says whether that
    coefficient is the estimate itself, and gives the estimate's own RV when it has t and dof."""
    n = confounded.y.size
    design = np.column_stack([np.ones(n), confounded.treated, confounded.covariates.to_numpy(float)])
    coefficient = float(ols(confounded.y, design).coef[1])
    own = sensitivity_panel(
        _estimate(
            method="ols", estimate=coefficient, inference="OLS HC1 robust", diagnostics={"df_resid": n - 4.0}
        ),
        confounded,
        headline=True,
    )
    assert own.omitted_variable_bias is not None and own.oster is not None
    assert "is ols's estimate itself" in own.omitted_variable_bias.regression
    assert "2 covariate column(s), 600 complete rows" in own.omitted_variable_bias.regression
    assert "β̃ is ols's estimate itself" in own.oster.regression
    assert own.estimate_robustness is not None and own.estimate_robustness.dof == n - 4
    assert own.estimate_robustness.t_statistic == pytest.approx(coefficient / 0.1)
    assert "own estimate" in own.summary and "not of" not in own.summary

    other = sensitivity_panel(_estimate(method="aipw", estimate=2.5), confounded, headline=True)
    assert other.omitted_variable_bias is not None and other.oster is not None
    assert "It is not aipw's estimate (ATE 2.5)" in other.omitted_variable_bias.regression
    assert "no residual degrees of freedom" in other.omitted_variable_bias.regression
    assert "is not aipw's estimate" in other.oster.regression
    assert other.estimate_robustness is None
    assert "not of aipw's estimate" in other.summary
