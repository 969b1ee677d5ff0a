"""Regression adjustment: the treatment coefficient of a linear model with covariates."""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm
from numpy.typing import NDArray

from cqox_estimator.estimators.base import CausalEstimator, FitSummary
from cqox_estimator.estimators.design import EstimationError

ROBUST_COV_TYPES = ("HC0", "HC1", "HC2", "HC3")


class RegressionAdjustment(CausalEstimator):
    """ATE as the coefficient on t in y ~ 1 + t + X, with heteroskedasticity-robust SEs.

    The coefficient is the ATE under a constant treatment effect (no t-by-X interactions)
    and a linear outcome model given the covariates, plus no unmeasured confounding.
    If effects vary with X it is a variance-weighted average of them, not the ATE.

    Parameters
    ----------
    cov_type : {"HC0", "HC1", "HC2", "HC3"}, default "HC1"
        statsmodels robust covariance used for the standard error.
    """

    method = "ols"
    estimand = "ATE"

    def __init__(self, *, cov_type: str = "HC1") -> None:
        self.cov_type = cov_type

    def _check_params(self) -> None:
        if self.cov_type not in ROBUST_COV_TYPES:
            raise EstimationError(
                f"cov_type must be one of {', '.join(ROBUST_COV_TYPES)}, got {self.cov_type!r}"
            )

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        regressors = np.column_stack([np.ones(y.shape[0]), t.astype(float), X])
        if regressors.shape[0] <= regressors.shape[1]:
            raise EstimationError(
                f"ols needs more rows ({regressors.shape[0]}) than coefficients ({regressors.shape[1]})"
            )
        fitted = sm.OLS(y, regressors).fit(cov_type=self.cov_type, use_t=True)
        return FitSummary(
            ate=float(fitted.params[1]),
            stderr=float(fitted.bse[1]),
            inference=f"OLS {self.cov_type} robust",
            dof=float(fitted.df_resid),
            diagnostics={
                "r_squared": float(fitted.rsquared),
                "adj_r_squared": float(fitted.rsquared_adj),
                "df_resid": float(fitted.df_resid),
                "condition_number": float(fitted.condition_number),
                "assumption": "constant effect, linear in covariates",
            },
        )
