"""Inverse-propensity weighting with a logistic propensity model."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, logit
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from cqox_estimator.estimators.base import CausalEstimator, Diagnostics, FitSummary
from cqox_estimator.estimators.design import EstimationError


class InversePropensityWeighting(CausalEstimator):
    """Hajek (normalised) IPW estimate of the ATE with an influence-function SE.

    The propensity comes from a logistic regression on standardised covariates. The SE
    treats the propensity model and the two weighted means as one stacked M-estimator
    (Lunceford & Davidian 2004), so it accounts for the propensity being estimated.

    Parameters
    ----------
    C : float, default 1e6
        Inverse regularisation strength of the logistic model (large = nearly unpenalised).
    max_iter : int, default 1000
        Iteration limit for the lbfgs solver.
    trim : float, default 0.01
        Propensities are clipped to [trim, 1 - trim]; 0 disables clipping.
    """

    method = "ipw"
    estimand = "ATE"

    def __init__(self, *, C: float = 1e6, max_iter: int = 1000, trim: float = 0.01) -> None:
        self.C = C
        self.max_iter = max_iter
        self.trim = trim

    def _check_params(self) -> None:
        if not isinstance(self.C, Real) or not self.C > 0:
            raise EstimationError(f"C must be a positive number, got {self.C!r}")
        if not isinstance(self.max_iter, Integral) or self.max_iter < 1:
            raise EstimationError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        if not isinstance(self.trim, Real) or not 0 <= self.trim < 0.5:
            raise EstimationError(f"trim must be in [0, 0.5), got {self.trim!r}")

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        n = y.shape[0]
        Z, coef, converged = self._propensity_model(t, X)
        raw = expit(Z @ coef)
        propensity = np.clip(raw, self.trim, 1 - self.trim)
        clipped = propensity != raw

        w_treated = t / propensity
        w_control = (1 - t) / (1 - propensity)
        mu_treated = float(w_treated @ y / w_treated.sum())
        mu_control = float(w_control @ y / w_control.sum())

        # Stacked estimating equations: logistic score, then the two Hajek means.
        # Influence of the logistic coefficients: H^-1 psi_beta, H = -d(score)/d(beta) / n.
        penalty = np.eye(Z.shape[1]) / float(self.C)
        penalty[0, 0] = 0.0  # the intercept is not penalised
        psi_beta = Z * (t - raw)[:, None] - (coef @ penalty) / n
        hessian = (Z * (raw * (1 - raw))[:, None]).T @ Z / n + penalty / n
        if_beta = np.linalg.solve(hessian, psi_beta.T).T
        # Clipped propensities do not move with beta.
        slope = np.where(clipped, 0.0, raw * (1 - raw))
        psi_treated = w_treated * (y - mu_treated)
        psi_control = w_control * (y - mu_control)
        d_treated = -(t * (y - mu_treated) * slope / propensity**2) @ Z / n
        d_control = ((1 - t) * (y - mu_control) * slope / (1 - propensity) ** 2) @ Z / n
        if_treated = (psi_treated + if_beta @ d_treated) / w_treated.mean()
        if_control = (psi_control + if_beta @ d_control) / w_control.mean()
        influence = if_treated - if_control
        stderr = float(np.sqrt(influence @ influence) / n)

        diagnostics: Diagnostics = {
            **_arm_summary(raw, t == 1, "treated"),
            **_arm_summary(raw, t == 0, "control"),
            "ess_treated": _kish(w_treated[t == 1]),
            "ess_control": _kish(w_control[t == 0]),
            "max_normalized_weight": max(
                float(w_treated.max() / w_treated.sum()), float(w_control.max() / w_control.sum())
            ),
            "trim": float(self.trim),
            "n_clipped": float(clipped.sum()),
            "share_clipped": float(clipped.mean()),
            "weighted_mean_treated": mu_treated,
            "weighted_mean_control": mu_control,
            "propensity_converged": "yes" if converged else "no",
        }
        return FitSummary(
            ate=mu_treated - mu_control,
            stderr=stderr,
            inference="influence function (stacked M-estimation, estimated propensity)",
            diagnostics=diagnostics,
        )

    def _propensity_model(
        self, t: NDArray[np.int64], X: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], bool]:
        """Design [1, standardised X] and fitted logistic coefficients on it."""
        n = t.shape[0]
        if X.shape[1] == 0:
            return np.ones((n, 1)), np.array([float(logit(t.mean()))]), True
        scale = X.std(axis=0)
        standardised = (X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
        model = LogisticRegression(C=float(self.C), solver="lbfgs", max_iter=int(self.max_iter), tol=1e-8)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(standardised, t)
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        Z = np.column_stack([np.ones(n), standardised])
        coef = np.concatenate([model.intercept_, model.coef_.ravel()])
        return Z, coef, converged


def _arm_summary(propensity: NDArray[np.float64], arm: NDArray[np.bool_], label: str) -> Diagnostics:
    values = propensity[arm]
    return {
        f"propensity_min_{label}": float(values.min()),
        f"propensity_max_{label}": float(values.max()),
        f"propensity_mean_{label}": float(values.mean()),
    }


def _kish(weights: NDArray[np.float64]) -> float:
    """Kish effective sample size (sum w)^2 / sum w^2."""
    return float(weights.sum() ** 2 / (weights @ weights))
