"""First-stage (nuisance) models shared by the propensity, doubly robust and CATE methods.

Fast by default: regularised linear/logistic models or small LightGBM ensembles, never
EconML's `auto` model selection (minutes at 100k rows). The doubly robust methods default to
`auto`: both kinds are cross-fitted on the same folds and each nuisance takes the one with the
smaller out-of-fold loss (a discrete super learner over two candidates, van der Laan et al. 2007),
which keeps the linear models' precision on linear data and the boosted trees' consistency on
nonlinear data; the losses of both are reported, and so is how far the linear models miss.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import statsmodels.api as sm
from numpy.typing import NDArray
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from statsmodels.tools.sm_exceptions import PerfectSeparationError

from cqox_estimator.estimators.errors import EstimationError

FIRST_STAGES = ("linear", "lightgbm", "linear+lightgbm")
# What a cross-fitted nuisance may be: one of FIRST_STAGES, or "auto" (chosen by out-of-fold loss).
AUTO = "auto"
# The candidates `auto` chooses between: the linear model, and the same model with boosted trees
# fitted to what it leaves (which nests it: trees alone flatten strong linear trends at the edges
# of the data, where poor overlap puts the treated).
AUTO_CANDIDATES = ("linear", "linear+lightgbm")
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
# Propensities are smooth and log loss punishes overconfident leaves: slower, smaller trees with
# larger leaves (out-of-fold log loss below the outcome settings' on every design tried; as fast).
PROPENSITY_LIGHTGBM_PARAMS: dict[str, Any] = {
    **LIGHTGBM_PARAMS,
    "n_estimators": 100,
    "learning_rate": 0.05,
    "num_leaves": 7,
    "min_child_samples": 50,
}


def check_first_stage(name: str, value: object, *, auto: bool = False) -> None:
    """Raise a readable error for an unknown first-stage model name (`auto` where selectable)."""
    allowed = (AUTO, *FIRST_STAGES) if auto else FIRST_STAGES
    if value not in allowed:
        raise EstimationError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


class BoostedLinearRegressor(BaseEstimator, RegressorMixin):  # type: ignore[misc]
    """Linear regression plus small LightGBM trees boosted from its predictions."""

    def __init__(self, random_state: int = 0) -> None:
        self.random_state = random_state

    def fit(self, X: NDArray[np.float64], y: NDArray[np.float64]) -> BoostedLinearRegressor:
        """Fit the linear model, then the trees on its in-sample predictions as initial scores."""
        from lightgbm import LGBMRegressor

        self.linear_ = make_pipeline(StandardScaler(), LinearRegression()).fit(X, y)
        self.trees_ = LGBMRegressor(**LIGHTGBM_PARAMS, random_state=self.random_state)
        self.trees_.fit(X, y, init_score=self.linear_.predict(X))
        return self

    def predict(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Linear prediction plus the trees' correction."""
        return np.asarray(self.linear_.predict(X) + self.trees_.predict(X, raw_score=True), dtype=float)


class BoostedLogisticClassifier(BaseEstimator, ClassifierMixin):  # type: ignore[misc]
    """Logistic regression plus small LightGBM trees boosted from its log-odds."""

    def __init__(self, random_state: int = 0) -> None:
        self.random_state = random_state

    def fit(self, X: NDArray[np.float64], t: NDArray[np.int64]) -> BoostedLogisticClassifier:
        """Fit the logistic model, then the trees on its in-sample log-odds as initial scores."""
        from lightgbm import LGBMClassifier

        self.classes_ = np.unique(t)
        if self.classes_.size != 2:
            raise EstimationError("the linear+lightgbm propensity model is for a binary treatment")
        self.logistic_ = propensity_learner("linear", self.random_state).fit(X, t)
        self.trees_ = LGBMClassifier(**PROPENSITY_LIGHTGBM_PARAMS, random_state=self.random_state)
        self.trees_.fit(X, t, init_score=self.logistic_.decision_function(X))
        return self

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """P(t = 0), P(t = 1) from the summed log-odds."""
        p = expit(self.logistic_.decision_function(X) + self.trees_.predict(X, raw_score=True))
        return np.column_stack([1 - p, p])

    def predict(self, X: NDArray[np.float64]) -> NDArray[np.int64]:
        """The more likely class."""
        return np.asarray(self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)])


def outcome_learner(kind: str, seed: int) -> Any:
    """A regressor for E[y | X] (or E[y | X, t])."""
    if kind == "linear+lightgbm":
        return BoostedLinearRegressor(random_state=seed)
    if kind == "lightgbm":
        from lightgbm import LGBMRegressor

        return LGBMRegressor(**LIGHTGBM_PARAMS, random_state=seed)
    return make_pipeline(StandardScaler(), LinearRegression())


def propensity_learner(kind: str, seed: int) -> Any:
    """A classifier for P(t = 1 | X)."""
    if kind == "linear+lightgbm":
        return BoostedLogisticClassifier(random_state=seed)
    if kind == "lightgbm":
        from lightgbm import LGBMClassifier

        return LGBMClassifier(**PROPENSITY_LIGHTGBM_PARAMS, random_state=seed)
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


@dataclass(frozen=True)
class CrossFit:
    """Out-of-fold nuisances of a binary treatment and how they were chosen."""

    mu0: NDArray[np.float64]  # E[y | X, t=0]
    mu1: NDArray[np.float64]  # E[y | X, t=1]
    propensity: NDArray[np.float64]  # P(t=1 | X), unclipped
    outcome_model: str  # the kind used ("linear" or "lightgbm")
    propensity_model: str
    # Per candidate kind: the out-of-fold predictions (mu0, mu1, propensity) and losses.
    candidates: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]] = field(default_factory=dict)
    propensities: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    diagnostics: dict[str, float | str | None] = field(default_factory=dict)


def log_loss(t: NDArray[np.int64], propensity: NDArray[np.float64]) -> float:
    """Mean binary log loss of propensities (clipped away from 0 and 1 by 1e-12)."""
    p = np.clip(propensity, 1e-12, 1 - 1e-12)
    return float(-np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)))


def crossfit(
    y: NDArray[np.float64],
    t: NDArray[np.int64],
    X: NDArray[np.float64],
    *,
    outcome_model: str,
    propensity_model: str,
    n_folds: int,
    seed: int,
) -> CrossFit:
    """Out-of-fold E[y | X, t=0], E[y | X, t=1] and P(t=1 | X) (cross-fitting, seeded folds).

    A model given as `auto` is cross-fitted as both linear and LightGBM on the same folds and the
    one with the smaller out-of-fold loss is used (squared error of the observed arm's outcome,
    log loss of the propensity). Diagnostics: both candidates' losses, the kinds used and, when
    both kinds were fitted, the misfit of the linear ones (`linear_misfit_outcome_r2`: share of
    the outcome's variance the flexible model explains beyond the linear one;
    `linear_misfit_propensity`: the log loss it saves, as a share of the no-covariate log loss).
    """
    n = y.shape[0]
    features = X if X.shape[1] else np.zeros((n, 1))
    outcome_kinds = AUTO_CANDIDATES if outcome_model == AUTO and X.shape[1] else (_fixed(outcome_model),)
    propensity_kinds = (
        AUTO_CANDIDATES if propensity_model == AUTO and X.shape[1] else (_fixed(propensity_model),)
    )
    outcomes = {kind: (np.empty(n), np.empty(n)) for kind in outcome_kinds}
    propensities = {kind: np.empty(n) for kind in propensity_kinds}
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for train, test in folds.split(features, t):
        for arm in (0, 1):
            rows = train[t[train] == arm]
            if rows.size < 2:
                raise EstimationError(f"a cross-fitting fold has fewer than 2 rows with t={arm}")
            for kind, predictions in outcomes.items():
                learner = outcome_learner(kind, seed).fit(features[rows], y[rows])
                predictions[arm][test] = learner.predict(features[test])
        for kind, propensity in propensities.items():
            if X.shape[1]:
                learner = propensity_learner(kind, seed).fit(features[train], t[train])
                propensity[test] = learner.predict_proba(features[test])[:, 1]
            else:
                propensity[test] = t[train].mean()
    variance = float(y.var())
    r2 = {
        kind: 1 - float(np.mean((y - np.where(t == 1, mu1, mu0)) ** 2)) / variance if variance > 0 else None
        for kind, (mu0, mu1) in outcomes.items()
    }
    losses = {kind: log_loss(t, propensity) for kind, propensity in propensities.items()}
    chosen_outcome = max(outcome_kinds, key=lambda kind: r2[kind] or 0.0)
    chosen_propensity = min(propensity_kinds, key=losses.__getitem__)
    diagnostics: dict[str, float | str | None] = {
        "outcome_model": chosen_outcome,
        "propensity_model": chosen_propensity,
        "outcome_r2_oof": r2[chosen_outcome],
        "propensity_log_loss_oof": losses[chosen_propensity],
    }
    if len(outcome_kinds) > 1:
        diagnostics["outcome_model_selection"] = "auto: smaller out-of-fold squared error"
        diagnostics.update({f"outcome_r2_oof_{kind}": value for kind, value in r2.items()})
        flexible = r2[AUTO_CANDIDATES[1]]
        if r2["linear"] is not None and flexible is not None:
            diagnostics["linear_misfit_outcome_r2"] = float(flexible - r2["linear"])
    if len(propensity_kinds) > 1:
        diagnostics["propensity_model_selection"] = "auto: smaller out-of-fold log loss"
        diagnostics.update({f"propensity_log_loss_oof_{kind}": value for kind, value in losses.items()})
        share = float(t.mean())
        null = -(share * np.log(share) + (1 - share) * np.log(1 - share))
        diagnostics["linear_misfit_propensity"] = float(
            (losses["linear"] - losses[AUTO_CANDIDATES[1]]) / null
        )
    mu0, mu1 = outcomes[chosen_outcome]
    return CrossFit(
        mu0=mu0,
        mu1=mu1,
        propensity=propensities[chosen_propensity],
        outcome_model=chosen_outcome,
        propensity_model=chosen_propensity,
        candidates=outcomes,
        propensities=propensities,
        diagnostics=diagnostics,
    )


def _fixed(kind: str) -> str:
    """The kind to fit when no selection is made (`auto` without covariates: linear)."""
    return "linear" if kind == AUTO else kind


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
