"""Regression adjustment: the treatment coefficient of a linear model with covariates."""

from __future__ import annotations

import warnings

import numpy as np
import statsmodels.api as sm
from numpy.typing import NDArray
from scipy import stats
from statsmodels.tools.sm_exceptions import SingularMatrixWarning

from cqox_estimator.estimators.base import CausalEstimator, Contrast, FitSummary
from cqox_estimator.estimators.errors import EstimationError
from cqox_estimator.estimators.rank import arm_dummies

ROBUST_COV_TYPES = ("HC0", "HC1", "HC2", "HC3")


class RegressionAdjustment(CausalEstimator):
    """ATE as the coefficient on t in y ~ 1 + t + X, with heteroskedasticity-robust SEs.

    The coefficient is the ATE under a constant treatment effect (no t-by-X interactions)
    and a linear outcome model given the covariates, plus no unmeasured confounding.
    If effects vary with X it is a variance-weighted average of them, not the ATE.
    A multi-valued treatment enters as one indicator per non-reference arm
    (y ~ 1 + D_1 + ... + D_{k-1} + X); each coefficient is that arm's contrast with the reference.

    Parameters
    ----------
    cov_type : {"HC0", "HC1", "HC2", "HC3"}, default "HC1"
        statsmodels robust covariance used for the standard error.
    """

    method = "ols"
    model_form = "linear"
    estimand = "ATE"
    multi_arm = True

    def __init__(self, *, cov_type: str = "HC1") -> None:
        self.cov_type = cov_type

    def _check_params(self) -> None:
        if self.cov_type not in ROBUST_COV_TYPES:
            raise EstimationError(
                f"cov_type must be one of {', '.join(ROBUST_COV_TYPES)}, got {self.cov_type!r}"
            )

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        arms = t.astype(float)[:, None] if t.max() <= 1 else arm_dummies(t)
        regressors = np.column_stack([np.ones(y.shape[0]), arms, X])
        if regressors.shape[0] <= regressors.shape[1]:
            raise EstimationError(
                f"ols needs more rows ({regressors.shape[0]}) than coefficients ({regressors.shape[1]})"
            )
        fitted = sm.OLS(y, regressors).fit(cov_type=self.cov_type, use_t=True)
        dof = float(fitted.df_resid)
        contrasts = tuple(
            Contrast(float(fitted.params[j]), float(fitted.bse[j]), dof) for j in range(1, arms.shape[1] + 1)
        )
        return FitSummary(
            ate=float(fitted.params[1]),
            stderr=float(fitted.bse[1]),
            inference=f"OLS {self.cov_type} robust" + (", arm indicators" if len(contrasts) > 1 else ""),
            dof=dof,
            contrasts=contrasts if len(contrasts) > 1 else (),
            diagnostics={
                "r_squared": float(fitted.rsquared),
                "adj_r_squared": float(fitted.rsquared_adj),
                "df_resid": float(fitted.df_resid),
                "condition_number": float(fitted.condition_number),
                "assumption": "constant effect, linear in covariates",
            },
        )


class InteractedRegression(CausalEstimator):
    """Lin's (2013) interacted regression: y ~ 1 + t + (X - mean X) + t (X - mean X).

    With covariates centred at the sample means the coefficient on t is the ATE even when
    the effect varies linearly with X; per-unit effects are t's coefficient plus the
    interaction terms. The SE adds the sampling variance of the covariate means to the
    robust variance of the coefficient (superpopulation ATE).

    Parameters
    ----------
    cov_type : {"HC0", "HC1", "HC2", "HC3"}, default "HC2"
        statsmodels robust covariance (Lin recommends HC2 in randomised experiments).
    """

    method = "ols_interacted"
    unit_outputs = frozenset({"effects"})
    model_form = "linear"
    estimand = "ATE"

    def __init__(self, *, cov_type: str = "HC2") -> None:
        self.cov_type = cov_type

    def _check_params(self) -> None:
        if self.cov_type not in ROBUST_COV_TYPES:
            raise EstimationError(
                f"cov_type must be one of {', '.join(ROBUST_COV_TYPES)}, got {self.cov_type!r}"
            )

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        n, k = X.shape
        centred = X - X.mean(axis=0)
        regressors = np.column_stack([np.ones(n), t.astype(float), centred, t[:, None] * centred])
        if n <= regressors.shape[1]:
            raise EstimationError(
                f"ols_interacted needs more rows ({n}) than coefficients ({regressors.shape[1]})"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SingularMatrixWarning)  # the rank is checked next
            fitted = sm.OLS(y, regressors).fit(cov_type=self.cov_type, use_t=True)
        if fitted.model.rank < regressors.shape[1]:
            _check_interactions(t, X)  # names a covariate constant within an arm, if one is
        gamma = np.asarray(fitted.params[2 + k :])
        variance = float(fitted.bse[1]) ** 2
        if k:
            variance += float(gamma @ np.atleast_2d(np.cov(X, rowvar=False)) @ gamma) / n
        return FitSummary(
            ate=float(fitted.params[1]),
            stderr=float(np.sqrt(variance)),
            inference=f"OLS {self.cov_type} robust + variance of covariate means",
            dof=float(fitted.df_resid),
            diagnostics={
                "r_squared": float(fitted.rsquared),
                "df_resid": float(fitted.df_resid),
                "condition_number": float(fitted.condition_number),
                "assumption": "effect linear in covariates",
            },
            effects=float(fitted.params[1]) + centred @ gamma,
        )


def _check_interactions(t: NDArray[np.int64], X: NDArray[np.float64]) -> None:
    """Refuse a covariate that takes one value within an arm: its interaction is collinear."""
    for arm in (0, 1):
        constant = np.flatnonzero(np.ptp(X[t == arm], axis=0) == 0).tolist() if X.shape[1] else []
        if constant:
            raise EstimationError(
                f"ols_interacted cannot interact covariate column(s) {constant} that are constant "
                f"among rows with t={arm}; use ols or drop them"
            )


class Cuped(CausalEstimator):
    """CUPED / ANCOVA for randomised experiments, with a sample-ratio-mismatch (SRM) check.

    The outcome is adjusted by its pooled linear prediction from pre-treatment covariates,
    y - (X - mean X) theta, and the arms are compared with a Welch test on the adjusted
    outcome. Randomisation makes the adjustment unbiased and shrinks the variance. The SRM
    check is a chi-square test of the arm sizes against the planned treated share.

    Parameters
    ----------
    expected_treated_share : float, default 0.5
        Planned share of units assigned to treatment.
    srm_alpha : float, default 0.001
        p-value below which the sample-ratio mismatch is flagged.
    """

    method = "cuped"
    estimand = "ATE"

    def __init__(self, *, expected_treated_share: float = 0.5, srm_alpha: float = 0.001) -> None:
        self.expected_treated_share = expected_treated_share
        self.srm_alpha = srm_alpha

    def _check_params(self) -> None:
        if (
            not isinstance(self.expected_treated_share, int | float)
            or not 0 < self.expected_treated_share < 1
        ):
            raise EstimationError(
                f"expected_treated_share must be in (0, 1), got {self.expected_treated_share!r}"
            )
        if not isinstance(self.srm_alpha, int | float) or not 0 < self.srm_alpha < 1:
            raise EstimationError(f"srm_alpha must be in (0, 1), got {self.srm_alpha!r}")

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        n = y.shape[0]
        centred = X - X.mean(axis=0)
        theta = np.linalg.lstsq(np.column_stack([np.ones(n), centred]), y, rcond=None)[0][1:]
        adjusted = y - centred @ theta
        treated, control = adjusted[t == 1], adjusted[t == 0]
        var_treated = treated.var(ddof=1) / treated.size
        var_control = control.var(ddof=1) / control.size
        welch_df = (var_treated + var_control) ** 2 / (
            var_treated**2 / (treated.size - 1) + var_control**2 / (control.size - 1)
        )
        n_treated = int(t.sum())
        expected = np.array([self.expected_treated_share, 1 - self.expected_treated_share]) * n
        srm = stats.chisquare([n_treated, n - n_treated], f_exp=expected)
        return FitSummary(
            ate=float(treated.mean() - control.mean()),
            stderr=float(np.sqrt(var_treated + var_control)),
            inference="CUPED (pooled regression adjustment), Welch SE",
            dof=float(welch_df),
            diagnostics={
                "variance_reduction": float(1 - adjusted.var() / y.var()) if y.var() > 0 else 0.0,
                "srm_expected_treated_share": float(self.expected_treated_share),
                "srm_observed_treated_share": n_treated / n,
                "srm_chi2": float(srm.statistic),
                "srm_p_value": float(srm.pvalue),
                "srm_flag": "mismatch" if srm.pvalue < self.srm_alpha else "ok",
                "assumption": "randomised treatment; covariates measured before treatment",
            },
        )
