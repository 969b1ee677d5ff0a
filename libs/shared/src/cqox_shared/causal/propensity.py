"""The propensity model the estimator's weighting and matching methods fit and the gates judge.

One fitting function, so the overlap and balance a gate reports are those of the propensity the
methods weight and match on: a lightly penalised (C = 1e6) logistic regression on standardised
covariates.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, logit
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

# Inverse regularisation strength: practically unpenalised, but finite under separation.
DEFAULT_C = 1e6


def logistic_propensity(
    t: NDArray[np.int64], X: NDArray[np.float64], *, C: float = DEFAULT_C, max_iter: int = 1000
) -> tuple[NDArray[np.float64], NDArray[np.float64], bool]:
    """Design [1, standardised X], logistic coefficients on it, and whether the solver converged."""
    n = t.shape[0]
    if X.shape[1] == 0:
        return np.ones((n, 1)), np.array([float(logit(t.mean()))]), True
    Z, model, converged = fit_logistic(t, X, C=C, max_iter=max_iter)
    coef = np.concatenate([model.intercept_, model.coef_.ravel()])
    return Z, coef, converged


def fit_logistic(
    t: NDArray[np.int64], X: NDArray[np.float64], *, C: float, max_iter: int
) -> tuple[NDArray[np.float64], LogisticRegression, bool]:
    """(Multinomial) logistic regression of t on standardised X: the design [1, standardised X],
    the fitted model and whether the solver converged."""
    scale = X.std(axis=0)
    standardised = (X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    model = LogisticRegression(C=float(C), solver="lbfgs", max_iter=int(max_iter), tol=1e-8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(standardised, t)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return np.column_stack([np.ones(t.shape[0]), standardised]), model, converged


def propensity_scores(
    t: NDArray[np.int64], X: NDArray[np.float64], *, C: float = DEFAULT_C, max_iter: int = 1000
) -> NDArray[np.float64]:
    """P(t = 1 | X) of every row from the shared logistic propensity model."""
    Z, coef, _ = logistic_propensity(t, X, C=C, max_iter=max_iter)
    return np.asarray(expit(Z @ coef), dtype=float)
