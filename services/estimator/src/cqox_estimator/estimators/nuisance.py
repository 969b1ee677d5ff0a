"""First-stage (nuisance) models shared by the propensity, doubly robust and CATE methods.

Fast by default: regularised linear/logistic models or small LightGBM ensembles, never
EconML's `auto` model selection (minutes at 100k rows).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import statsmodels.api as sm
from numpy.typing import NDArray
from scipy.special import expit
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from statsmodels.tools.sm_exceptions import PerfectSeparationError

from cqox_estimator.estimators.errors import EstimationError

FIRST_STAGES = ("linear", "lightgbm")
# A fitted logit beyond this (odds of e**25, p within 1e-11 of 0 or 1) means separation.
SEPARATION_LOGIT = 25.0
# Small, fast boosted trees (about 0.03 s per fit at 4k rows x 7 columns on 2 cores).
LIGHTGBM_PARAMS: dict[str, Any] = {
    "n_estimators": 50,
    "learning_rate": 0.15,
    "num_leaves": 15,
    "min_child_samples": 20,
    "max_bin": 63,
    "n_jobs": 1,
    "verbose": -1,
}


def check_first_stage(name: str, value: object) -> None:
    """Raise a readable error for an unknown first-stage model name."""
    if value not in FIRST_STAGES:
        raise EstimationError(f"{name} must be one of {', '.join(FIRST_STAGES)}, got {value!r}")


def outcome_learner(kind: str, seed: int) -> Any:
    """A regressor for E[y | X] (or E[y | X, t])."""
    if kind == "lightgbm":
        from lightgbm import LGBMRegressor

        return LGBMRegressor(**LIGHTGBM_PARAMS, random_state=seed)
    return make_pipeline(StandardScaler(), LinearRegression())


def propensity_learner(kind: str, seed: int) -> Any:
    """A classifier for P(t = 1 | X)."""
    if kind == "lightgbm":
        from lightgbm import LGBMClassifier

        return LGBMClassifier(**LIGHTGBM_PARAMS, random_state=seed)
    return make_pipeline(StandardScaler(), LogisticRegression(C=1e6, max_iter=1000, tol=1e-6))


def logistic_influence(
    Z: NDArray[np.float64], t: NDArray[np.int64], coef: NDArray[np.float64], C: float
) -> NDArray[np.float64]:
    """Per-row influence of the (lightly penalised) logistic coefficients, n x k."""
    n = Z.shape[0]
    raw = expit(Z @ coef)
    penalty = np.eye(Z.shape[1]) / float(C)
    penalty[0, 0] = 0.0  # the intercept is not penalised
    score = Z * (t - raw)[:, None] - (coef @ penalty) / n
    hessian = (Z * (raw * (1 - raw))[:, None]).T @ Z / n + penalty / n
    return np.asarray(np.linalg.solve(hessian, score.T).T)


def crossfit(
    y: NDArray[np.float64],
    t: NDArray[np.int64],
    X: NDArray[np.float64],
    *,
    outcome_model: str,
    propensity_model: str,
    n_folds: int,
    seed: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Out-of-fold E[y | X, t=0], E[y | X, t=1] and P(t=1 | X) (cross-fitting, seeded folds)."""
    n = y.shape[0]
    mu0, mu1, propensity = np.empty(n), np.empty(n), np.empty(n)
    features = X if X.shape[1] else np.zeros((n, 1))
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    outcome = outcome_learner(outcome_model, seed)
    treatment = propensity_learner(propensity_model, seed)
    for train, test in folds.split(features, t):
        for arm, target in ((0, mu0), (1, mu1)):
            rows = train[t[train] == arm]
            if rows.size < 2:
                raise EstimationError(f"a cross-fitting fold has fewer than 2 rows with t={arm}")
            target[test] = clone(outcome).fit(features[rows], y[rows]).predict(features[test])
        if X.shape[1]:
            propensity[test] = (
                clone(treatment).fit(features[train], t[train]).predict_proba(features[test])[:, 1]
            )
        else:
            propensity[test] = t[train].mean()
    return mu0, mu1, propensity


def check_folds(n_folds: object, t: NDArray[np.int64] | None = None) -> None:
    """Raise for an unusable number of cross-fitting folds."""
    if not isinstance(n_folds, int | np.integer) or isinstance(n_folds, bool) or n_folds < 2:
        raise EstimationError(f"n_folds must be an integer >= 2, got {n_folds!r}")
    if t is not None and min(int(t.sum()), int((1 - t).sum())) < 2 * n_folds:
        raise EstimationError(f"too few rows per arm for {n_folds}-fold cross-fitting")


def propensity_summary(
    propensity: NDArray[np.float64], t: NDArray[np.int64]
) -> dict[str, float | str | None]:
    """Min, mean and max propensity per arm."""
    out: dict[str, float | str | None] = {}
    for label, arm in (("treated", t == 1), ("control", t == 0)):
        values = propensity[arm]
        out[f"propensity_min_{label}"] = float(values.min())
        out[f"propensity_max_{label}"] = float(values.max())
        out[f"propensity_mean_{label}"] = float(values.mean())
    return out


def kish(weights: NDArray[np.float64]) -> float:
    """Kish effective sample size (sum w)^2 / sum w^2."""
    return float(weights.sum() ** 2 / (weights @ weights))


def mle_logit_propensity(
    d: NDArray[np.float64], x: NDArray[np.float64], *, separates: str, remedy: str
) -> NDArray[np.float64]:
    """Fitted P(d = 1 | x) of an unpenalised logit on x (which holds a constant), capped at 1 - 1e-6.

    The doubly robust DiD estimators use maximum likelihood, as R's DRDID does. Raises
    EstimationError when the covariates separate the groups (no finite maximum): `separates` names
    them, `remedy` says what to try instead.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # separation warnings: detected below
        try:
            fitted = sm.Logit(d, x).fit(disp=0, maxiter=100)
            converged = bool(fitted.mle_retvals.get("converged", False))
            eta = x @ fitted.params
        except (np.linalg.LinAlgError, PerfectSeparationError):
            converged, eta = False, np.zeros(d.shape[0])
    # Under (quasi-)separation the likelihood keeps rising as the coefficients run off: Newton
    # stops without converging, or with linear predictors far beyond any finite odds.
    if not converged or not np.isfinite(eta).all() or np.abs(eta).max() > SEPARATION_LOGIT:
        raise EstimationError(
            f"no overlap: the covariates separate {separates} (the propensity logit has no finite "
            f"maximum), so the doubly robust DiD cannot weight them ({remedy}, or fewer covariates)"
        )
    return np.asarray(np.minimum(expit(eta), 1 - 1e-6))
