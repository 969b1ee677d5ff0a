"""Double machine learning through EconML, with fast first stages by default."""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
from numpy.typing import NDArray

from cqox_contracts.v1 import Adjustment
from cqox_estimator.estimators.base import CausalEstimator, Contrast, FitSummary
from cqox_estimator.estimators.errors import EstimationError
from cqox_estimator.estimators.nuisance import (
    check_first_stage,
    check_folds,
    outcome_learner,
    propensity_learner,
)

# Default cap on the rows each causal-forest tree is grown on (see CausalForest.max_samples).
MAX_ROWS_PER_TREE = 10_000


class _EconMLDML(CausalEstimator):
    """EconML's double machine learning: residual-on-residual, cross-fitted nuisances."""

    estimate_uses_seed = True

    adjustment_kind = Adjustment.DOUBLY_ROBUST

    def __init__(
        self,
        *,
        outcome_model: str = "linear",
        propensity_model: str = "linear",
        n_folds: int = 3,
        random_state: int = 0,
    ) -> None:
        self.outcome_model = outcome_model
        self.propensity_model = propensity_model
        self.n_folds = n_folds
        self.random_state = random_state

    def _check_params(self) -> None:
        check_first_stage("outcome_model", self.outcome_model)
        check_first_stage("propensity_model", self.propensity_model)
        check_folds(self.n_folds)

    def _nuisances(self) -> dict[str, object]:
        seed = int(self.random_state)
        return {
            "model_y": outcome_learner(self.outcome_model, seed),
            "model_t": propensity_learner(self.propensity_model, seed),
            "discrete_treatment": True,
            "cv": int(self.n_folds),
            "random_state": seed,
        }

    @staticmethod
    def _features(X: NDArray[np.float64]) -> NDArray[np.float64]:
        if X.shape[1] == 0:
            raise EstimationError("this method needs at least one covariate to model effect heterogeneity")
        return X


class LinearDML(_EconMLDML):
    """EconML `LinearDML`: residual-on-residual regression with an effect linear in X.

    Outcome and treatment are residualised on X by cross-fitted first stages; the final stage
    regresses outcome residuals on treatment residuals times (1, X). The ATE is the mean CATE,
    with its SE from the final stage's (heteroskedasticity-robust) covariance.

    Parameters
    ----------
    outcome_model, propensity_model : {"linear", "lightgbm"}, default "linear"
        First stages (fast; EconML's 'auto' model selection is far slower).
    n_folds : int, default 3
        Cross-fitting folds.
    random_state : int, default 0
        Seed of the folds and first stages.

    A multi-valued treatment (codes 0..k-1) uses EconML's discrete multi-category treatment
    (arm 0 the baseline, multinomial first stage): every arm's mean CATE against arm 0 with its
    final-stage SE (`ate_inference(T0=0, T1=j)`); the per-unit effects are the headline arm's.
    """

    method = "linear_dml"
    estimand = "ATE"
    multi_arm = True

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        from econml.dml import LinearDML as EconLinearDML

        k = int(t.max()) + 1
        if k > 2:
            if np.bincount(t).min() < 2 * int(self.n_folds):
                raise EstimationError(f"too few rows per arm for {self.n_folds}-fold cross-fitting")
        else:
            check_folds(self.n_folds, t)
        features = self._features(X)
        model = EconLinearDML(**self._nuisances()).fit(y, t, X=features)
        inference = model.ate_inference(X=features)
        contrasts: tuple[Contrast, ...] = ()
        if k > 2:
            per_arm = [model.ate_inference(X=features, T0=0, T1=j) for j in range(1, k)]
            contrasts = tuple(
                Contrast(float(np.ravel(arm.mean_point)[0]), float(np.ravel(arm.stderr_mean)[0]))
                for arm in per_arm
            )
        return FitSummary(
            ate=float(np.ravel(inference.mean_point)[0]),
            stderr=float(np.ravel(inference.stderr_mean)[0]),
            contrasts=contrasts,
            inference=f"EconML LinearDML final-stage HC covariance ({self.n_folds}-fold cross-fitting)",
            diagnostics={
                "outcome_model": self.outcome_model,
                "propensity_model": self.propensity_model,
                "n_folds": float(self.n_folds),
                "nuisance_score_y": _mean_score(model.nuisance_scores_y),
                "nuisance_score_t": _mean_score(model.nuisance_scores_t),
            },
            effects=np.asarray(model.effect(features, T0=0, T1=1), dtype=float).reshape(-1),
        )


class CausalForest(_EconMLDML):
    """EconML `CausalForestDML` (generalised random forest on DML residuals).

    Per-unit effects from an honest causal forest; the ATE and its SE are EconML's doubly
    robust average over the sample (`ate_`, `ate_stderr_`). Heavy: runs in its own pool.

    Parameters
    ----------
    n_estimators : int, default 100
        Trees (a multiple of 4, EconML's sub-forest size).
    min_samples_leaf : int, default 10
        Minimum rows per leaf.
    max_samples : float, int or None, default None
        Rows drawn (without replacement) for each tree: a fraction in (0, 0.5] or a count below
        half the rows. None: 45 % of the rows (EconML's default) but at most 10,000, which keeps
        a fit at 100k rows to seconds instead of minutes; the forest's variance estimate (bootstrap
        of little bags) stays valid for any subsample size.
    outcome_model, propensity_model : {"linear", "lightgbm"}, default "lightgbm"
        First stages.
    n_folds : int, default 3
        Cross-fitting folds.
    random_state : int, default 0
        Seed of the folds, first stages and forest.
    """

    method = "causal_forest"
    estimand = "ATE"

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        min_samples_leaf: int = 10,
        max_samples: float | int | None = None,
        outcome_model: str = "lightgbm",
        propensity_model: str = "lightgbm",
        n_folds: int = 3,
        random_state: int = 0,
    ) -> None:
        super().__init__(
            outcome_model=outcome_model,
            propensity_model=propensity_model,
            n_folds=n_folds,
            random_state=random_state,
        )
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.max_samples = max_samples

    def _check_params(self) -> None:
        super()._check_params()
        if not isinstance(self.n_estimators, Integral) or self.n_estimators < 4 or self.n_estimators % 4:
            raise EstimationError(f"n_estimators must be a positive multiple of 4, got {self.n_estimators!r}")
        if not isinstance(self.min_samples_leaf, Integral) or self.min_samples_leaf < 1:
            raise EstimationError(
                f"min_samples_leaf must be a positive integer, got {self.min_samples_leaf!r}"
            )
        value = self.max_samples
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, Integral | float)
            or (isinstance(value, float) and not 0 < value <= 0.5)
            or (isinstance(value, Integral) and value < 2 * int(self.min_samples_leaf))
        ):
            raise EstimationError(
                "max_samples must be null, a fraction in (0, 0.5] or a row count of at least "
                f"2 x min_samples_leaf, got {value!r}"
            )

    def _subsample(self, n: int) -> float | int:
        """Rows per tree: the option, or 45 % of the rows capped at MAX_ROWS_PER_TREE."""
        if self.max_samples is None:
            return min(0.45, MAX_ROWS_PER_TREE / n)
        if isinstance(self.max_samples, Integral):
            if self.max_samples >= n / 2:
                raise EstimationError(
                    f"max_samples={self.max_samples} rows must be below half of the {n} rows"
                )
            return int(self.max_samples)
        return float(self.max_samples)

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        from econml.dml import CausalForestDML

        check_folds(self.n_folds, t)
        features = self._features(X)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            model = CausalForestDML(
                **self._nuisances(),
                n_estimators=int(self.n_estimators),
                min_samples_leaf=int(self.min_samples_leaf),
                max_samples=self._subsample(y.shape[0]),
                n_jobs=1,
            ).fit(y, t, X=features)
        # EconML warns e.g. when too few trees leave rows without out-of-bag predictions.
        notes = "; ".join(dict.fromkeys(str(w.message) for w in caught))
        importances = np.asarray(model.feature_importances_, dtype=float)
        return FitSummary(
            ate=float(np.ravel(model.ate_)[0]),
            stderr=float(np.ravel(model.ate_stderr_)[0]),
            inference=f"EconML doubly robust ATE on the forest ({self.n_folds}-fold cross-fitting)",
            diagnostics={
                "outcome_model": self.outcome_model,
                "propensity_model": self.propensity_model,
                "n_estimators": float(self.n_estimators),
                "rows_per_tree": float(_rows_per_tree(self._subsample(y.shape[0]), y.shape[0])),
                "nuisance_score_y": _mean_score(model.nuisance_scores_y),
                "nuisance_score_t": _mean_score(model.nuisance_scores_t),
                "max_feature_importance": float(importances.max()) if importances.size else None,
                "econml_warnings": notes[:500],
            },
            effects=np.asarray(model.effect(features), dtype=float).reshape(-1),
        )


def _rows_per_tree(subsample: float | int, n: int) -> int:
    return int(subsample) if isinstance(subsample, Integral) else int(subsample * n)


def _mean_score(scores: object) -> float | None:
    values = np.asarray(scores, dtype=float).ravel()
    return float(values.mean()) if values.size else None
