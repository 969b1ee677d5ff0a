"""Difference in differences on repeated cross-sections: a group column and a post column, no unit id.

Two methods for the 2x2 design (treated group vs comparison group, before vs after):

- `did_regression`: y = a + b D + c post + tau D*post + X g + e with heteroskedasticity-robust
  SEs, the textbook regression DiD (Card and Krueger 1994 without the panel).
- `drdid_rc`: Sant'Anna and Zhao's (2020) locally efficient doubly robust DiD for repeated
  cross-sections, consistent if either the propensity of being in the treated group or the
  outcome model of the comparison group is right; SE from its influence function, which includes
  the estimation effect of every nuisance fit (as R's DRDID `drdid_rc`, which the tests compare
  against through the `drdid` port).

Both identify the ATT under parallel trends (conditional on the covariates) and no change in the
composition of the groups between periods.
"""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm
from numpy.typing import NDArray

from cqox_contracts.v1 import Adjustment, Estimand
from cqox_estimator.estimators.base import CausalEstimator, Diagnostics, FitSummary
from cqox_estimator.estimators.errors import EstimationError
from cqox_estimator.estimators.nuisance import mle_logit_propensity

# Comparison units with a propensity at or above this get no weight (as DRDID's default trimming).
PROPENSITY_TRIM = 0.995
ROBUST_COV_TYPES = ("HC0", "HC1", "HC2", "HC3")


def _post_indicator(post: NDArray[np.float64], method: str) -> NDArray[np.float64]:
    """The post-period indicator as 0/1: a 0/1 column as is, any other two values as low/high."""
    values = np.unique(post)
    if values.size != 2:
        raise EstimationError(
            f"{method} needs a post-period indicator with two values (before, after); got "
            f"{values.size} distinct value(s)"
        )
    return (post == values[1]).astype(float)


def _cell_counts(d: NDArray[np.float64], post: NDArray[np.float64]) -> Diagnostics:
    counts: Diagnostics = {}
    for group, name in ((1.0, "treated"), (0.0, "comparison")):
        for period, label in ((0.0, "pre"), (1.0, "post")):
            counts[f"n_{name}_{label}"] = float(((d == group) & (post == period)).sum())
    return counts


def _check_cells(counts: Diagnostics, k: int, method: str) -> None:
    thin = [key[2:] for key, value in counts.items() if (value or 0.0) < max(2, k + 1)]
    if thin:
        raise EstimationError(
            f"{method} needs rows in each of the four group x period cells (at least {max(2, k + 1)} "
            f"with {k - 1} covariate column(s)); too few in: {', '.join(thin)}"
        )


class RegressionDiD(CausalEstimator):
    """ATT as the interaction coefficient of y ~ 1 + D + post + D*post + X, robust SEs.

    Parameters
    ----------
    cov_type : {"HC0", "HC1", "HC2", "HC3"}, default "HC1"
        statsmodels robust covariance used for the standard error.
    """

    method = "did_regression"
    estimand = Estimand.ATT
    adjustment_kind = Adjustment.DESIGN
    relies_on_overlap = False
    design_roles = ("post",)

    def __init__(self, *, cov_type: str = "HC1") -> None:
        self.cov_type = cov_type

    def _check_params(self) -> None:
        if self.cov_type not in ROBUST_COV_TYPES:
            raise EstimationError(
                f"cov_type must be one of {', '.join(ROBUST_COV_TYPES)}, got {self.cov_type!r}"
            )

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        d = t.astype(float)
        post = _post_indicator(self.post_, self.method)
        counts = _cell_counts(d, post)
        _check_cells(counts, 1, self.method)
        regressors = np.column_stack([np.ones(y.shape[0]), d, post, d * post, X])
        fitted = sm.OLS(y, regressors).fit(cov_type=self.cov_type, use_t=True)
        means = {
            f"mean_{name}_{label}": float(y[(d == g) & (post == p)].mean())
            for g, name in ((1.0, "treated"), (0.0, "comparison"))
            for p, label in ((0.0, "pre"), (1.0, "post"))
        }
        return FitSummary(
            ate=float(fitted.params[3]),
            stderr=float(fitted.bse[3]),
            inference=f"{self.cov_type} robust",
            dof=float(fitted.df_resid),
            diagnostics={**counts, **means, "r_squared": float(fitted.rsquared)},
        )


class DoublyRobustDiDCrossSection(CausalEstimator):
    """Sant'Anna and Zhao's (2020) locally efficient doubly robust DiD for repeated cross-sections.

    Nuisances on [1, X]: a maximum-likelihood logit of being in the treated group, and least-squares
    outcome models in each of the four group x period cells. The ATT combines inverse-propensity
    weighted, outcome-model-adjusted changes with the efficiency correction of the treated cells'
    outcome models; its SE is sd(influence) / sqrt(n). Comparison rows with a propensity of 0.995 or
    more are trimmed (counted in the diagnostics); covariates that separate the groups are refused.
    """

    method = "drdid_rc"
    estimand = Estimand.ATT
    adjustment_kind = Adjustment.DESIGN
    relies_on_overlap = False
    design_roles = ("post",)

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        d = t.astype(float)
        post = _post_indicator(self.post_, self.method)
        n = y.shape[0]
        Z = np.column_stack([np.ones(n), X])
        k = Z.shape[1]
        counts = _cell_counts(d, post)
        _check_cells(counts, k, self.method)
        ps = mle_logit_propensity(
            d, Z, separates="the treated group from the comparison group", remedy="read did_regression"
        )
        keep = np.where(d == 1, 1.0, (ps < PROPENSITY_TRIM).astype(float))
        att, influence = _drdid_rc(y, d, post, Z, ps, keep)
        return FitSummary(
            ate=att,
            stderr=float(np.std(influence, ddof=1) / np.sqrt(n)),
            inference="influence function (Sant'Anna-Zhao locally efficient DR DiD)",
            diagnostics={
                **counts,
                "n_trimmed": float(((d == 0) & (keep == 0)).sum()),
                "propensity_trim": PROPENSITY_TRIM,
                "propensity_max_comparison": float(ps[d == 0].max()),
            },
        )


def _ols_cell(
    y: NDArray[np.float64], Z: NDArray[np.float64], cell: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Fitted values on every row of a least-squares fit on the cell's rows, and the fit's per-row
    influence (its asymptotic linear representation, zero outside the cell)."""
    n = y.shape[0]
    beta = np.linalg.lstsq(Z[cell], y[cell], rcond=None)[0]
    fitted = Z @ beta
    gram = Z[cell].T @ Z[cell] / n
    residual = np.where(cell, y - fitted, 0.0)
    return fitted, (residual[:, None] * Z) @ np.linalg.pinv(gram)


def _drdid_rc(
    y: NDArray[np.float64],
    d: NDArray[np.float64],
    post: NDArray[np.float64],
    Z: NDArray[np.float64],
    ps: NDArray[np.float64],
    keep: NDArray[np.float64],
) -> tuple[float, NDArray[np.float64]]:
    """The locally efficient DR DiD ATT and its influence function (Sant'Anna and Zhao 2020, eq. 3.4
    and Theorem 3; the estimation effects follow R's DRDID `drdid_rc`)."""
    pre = 1 - post
    fit_c0, lin_c0 = _ols_cell(y, Z, (d == 0) & (post == 0))
    fit_c1, lin_c1 = _ols_cell(y, Z, (d == 0) & (post == 1))
    fit_t0, lin_t0 = _ols_cell(y, Z, (d == 1) & (post == 0))
    fit_t1, lin_t1 = _ols_cell(y, Z, (d == 1) & (post == 1))
    fit_c = post * fit_c1 + pre * fit_c0
    odds = ps / (1 - ps)

    w_t0, w_t1 = keep * d * pre, keep * d * post
    w_c0, w_c1 = keep * odds * (1 - d) * pre, keep * odds * (1 - d) * post
    w_d, w_dt1, w_dt0 = keep * d, keep * d * post, keep * d * pre

    def normalised(weights: NDArray[np.float64], values: NDArray[np.float64]) -> NDArray[np.float64]:
        return weights * values / np.mean(weights)

    eta = {
        "t0": normalised(w_t0, y - fit_c),
        "t1": normalised(w_t1, y - fit_c),
        "c0": normalised(w_c0, y - fit_c),
        "c1": normalised(w_c1, y - fit_c),
        "d1": normalised(w_d, fit_t1 - fit_c1),
        "dt1": normalised(w_dt1, fit_t1 - fit_c1),
        "d0": normalised(w_d, fit_t0 - fit_c0),
        "dt0": normalised(w_dt0, fit_t0 - fit_c0),
    }
    mean = {key: float(np.mean(value)) for key, value in eta.items()}
    att = (
        (mean["t1"] - mean["t0"])
        - (mean["c1"] - mean["c0"])
        + (mean["d1"] - mean["dt1"])
        - (mean["d0"] - mean["dt0"])
    )

    def centred(key: str, weights: NDArray[np.float64]) -> NDArray[np.float64]:
        return eta[key] - weights * mean[key] / np.mean(weights)

    def moment(weights: NDArray[np.float64], values: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(np.mean((weights * values)[:, None] * Z, axis=0) / np.mean(weights))

    # Propensity: score times the inverse information of the logit.
    information = (Z * (ps * (1 - ps))[:, None]).T @ Z / Z.shape[0]
    lin_ps = ((d - ps)[:, None] * Z) @ np.linalg.pinv(information)

    treated = (
        centred("t1", w_t1)
        - centred("t0", w_t0)
        # pre-period terms enter the ATT with a minus sign, so their fits' effects flip
        - lin_c1 @ moment(w_t1, post)
        + lin_c0 @ moment(w_t0, pre)
    )
    control = (
        centred("c1", w_c1)
        - centred("c0", w_c0)
        + lin_ps @ (moment(w_c1, y - fit_c - mean["c1"]) - moment(w_c0, y - fit_c - mean["c0"]))
        - lin_c1 @ moment(w_c1, post)
        + lin_c0 @ moment(w_c0, pre)
    )
    efficiency = (centred("d1", w_d) - centred("dt1", w_dt1)) - (centred("d0", w_d) - centred("dt0", w_dt0))
    gap_post = np.mean((w_d / np.mean(w_d) - w_dt1 / np.mean(w_dt1))[:, None] * Z, axis=0)
    gap_pre = np.mean((w_d / np.mean(w_d) - w_dt0 / np.mean(w_dt0))[:, None] * Z, axis=0)
    outcome_models = (lin_t1 - lin_c1) @ gap_post - (lin_t0 - lin_c0) @ gap_pre
    return float(att), treated - control + efficiency + outcome_models
