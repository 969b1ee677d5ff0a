"""Double machine learning through EconML, with fast first stages by default."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import StratifiedKFold

from cqox_contracts.v1 import Adjustment
from cqox_estimator.estimators.base import CausalEstimator, Contrast, FitSummary
from cqox_estimator.estimators.errors import EstimationError
from cqox_estimator.estimators.nuisance import (
    check_first_stage,
    check_folds,
    outcome_learner,
    propensity_learner,
)
from cqox_estimator.estimators.targeting import TARGETING_FOLDS, targeting_diagnostics

# Default cap on the rows each causal-forest tree is grown on (see CausalForest.max_samples).
MAX_ROWS_PER_TREE = 10_000
# Each causal-forest leaf keeps at least this share of the sample's treatment variance (EconML's
# `min_var_fraction_leaf`, checked on the honest half too).
MIN_TREATMENT_VARIANCE_SHARE = 0.1


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
        n_repeats: int = 3,
        random_state: int = 0,
    ) -> None:
        self.outcome_model = outcome_model
        self.propensity_model = propensity_model
        self.n_folds = n_folds
        self.n_repeats = n_repeats
        self.random_state = random_state

    def _check_params(self) -> None:
        check_first_stage("outcome_model", self.outcome_model)
        check_first_stage("propensity_model", self.propensity_model)
        check_folds(self.n_folds)
        if not isinstance(self.n_repeats, Integral) or isinstance(self.n_repeats, bool) or self.n_repeats < 1:
            raise EstimationError(f"n_repeats must be a positive integer, got {self.n_repeats!r}")

    def _nuisances(self, propensity_model: str | None = None) -> dict[str, object]:
        seed = int(self.random_state)
        return {
            "model_y": outcome_learner(self.outcome_model, seed),
            "model_t": propensity_learner(propensity_model or self.propensity_model, seed),
            "discrete_treatment": True,
            "cv": int(self.n_folds),
            # Cross-fitting repeated on fresh fold splits, nuisances averaged (EconML's mc_iters):
            # one split's luck moved the estimate by about an SE between seeds on poor overlap.
            "mc_iters": int(self.n_repeats),
            "mc_agg": "mean",
            "random_state": seed,
        }

    @staticmethod
    def _features(X: NDArray[np.float64]) -> NDArray[np.float64]:
        if X.shape[1] == 0:
            raise EstimationError("this method needs at least one covariate to model effect heterogeneity")
        return X


class LinearDML(_EconMLDML):
    """EconML `LinearDML`: residual-on-residual regression with an effect linear in X.

    Outcome and treatment are residualised on X (standardised, for the final stage's numerics)
    by cross-fitted first stages; the final stage regresses outcome residuals on treatment
    residuals times (1, X). The per-unit effects are that linear CATE. The ATE is its doubly
    robust average: the mean of theta(x) + (y_res - theta(x) t_res) t_res / (e (1 - e)) with the
    cross-fitted propensity e clipped to [trim, 1 - trim], and its SE from those scores. The plain
    mean of the linear CATE (EconML's `ate`) is right only when the effect is linear in X, and
    where the treatment residuals are small (poor overlap, many covariates) its coefficients
    extrapolate wildly; it is reported as `ate_mean_cate` with its SE.

    Parameters
    ----------
    outcome_model, propensity_model : {"linear", "lightgbm", "linear+lightgbm"}, default
        "linear+lightgbm"
        First stages: linear ones are biased when confounding is nonlinear, trees alone flatten
        strong linear trends (biased at 1,000 rows of the linear design); the linear model plus
        LightGBM trees boosted from it does both (EconML's 'auto' selection is far slower).
    n_folds : int, default 3
        Cross-fitting folds.
    n_repeats : int, default 3
        Cross-fitting repeated on this many fold splits, nuisances averaged (seed stability).
    trim : float, default 0.01
        Propensities are clipped to [trim, 1 - trim] in the doubly robust average.
    random_state : int, default 0
        Seed of the folds and first stages.

    A multi-valued treatment (codes 0..k-1) uses EconML's discrete multi-category treatment
    (arm 0 the baseline, multinomial first stage): every arm's mean CATE against arm 0 with its
    final-stage SE (`ate_inference(T0=0, T1=j)`); the per-unit effects are the headline arm's.
    """

    method = "linear_dml"
    needs_covariates = True
    unit_outputs = frozenset({"effects"})
    estimand = "ATE"
    multi_arm = True

    def __init__(
        self,
        *,
        outcome_model: str = "linear+lightgbm",
        propensity_model: str = "linear+lightgbm",
        n_folds: int = 3,
        n_repeats: int = 3,
        trim: float = 0.01,
        random_state: int = 0,
    ) -> None:
        super().__init__(
            outcome_model=outcome_model,
            propensity_model=propensity_model,
            n_folds=n_folds,
            n_repeats=n_repeats,
            random_state=random_state,
        )
        self.trim = trim

    def _check_params(self) -> None:
        super()._check_params()
        if not isinstance(self.trim, Real) or not 0 <= self.trim < 0.5:
            raise EstimationError(f"trim must be in [0, 0.5), got {self.trim!r}")

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        from econml.dml import LinearDML as EconLinearDML

        k = int(t.max()) + 1
        if k > 2:
            if np.bincount(t).min() < 2 * int(self.n_folds):
                raise EstimationError(f"too few rows per arm for {self.n_folds}-fold cross-fitting")
        else:
            check_folds(self.n_folds, t)
        features = _standardise(self._features(X))
        # The boosted logistic propensity is binary; several arms get the multinomial logistic.
        propensity_model = (
            "linear" if k > 2 and self.propensity_model == "linear+lightgbm" else self.propensity_model
        )
        model = EconLinearDML(**self._nuisances(propensity_model)).fit(y, t, X=features, cache_values=True)
        inference = model.ate_inference(X=features)
        effects = np.asarray(model.effect(features, T0=0, T1=1), dtype=float).reshape(-1)
        mean_cate = float(np.ravel(inference.mean_point)[0])
        mean_cate_se = float(np.ravel(inference.stderr_mean)[0])
        ate, stderr, method_note = (
            mean_cate,
            mean_cate_se,
            "mean of the linear CATE, final-stage HC covariance",
        )
        robust: dict[str, float | str | None] = {}
        contrasts: tuple[Contrast, ...] = ()
        if k == 2:
            # Qini, TOC/RATE and calibration of the CATE ranking on held-out folds (the report's
            # views): the linear final stage refitted without each fold on the cached residuals.
            held_out = _final_stage_held_out(model, features, t, int(self.random_state))
            if held_out is not None:
                robust.update(
                    targeting_diagnostics(
                        y, t, features, base_model=self.outcome_model, seed=int(self.random_state),
                        held_out=held_out, ranking=f"{TARGETING_FOLDS}-fold final stage on cross-fitted residuals",
                    )
                )  # fmt: skip
            scores, n_clipped = _dr_scores(model, features, effects, float(self.trim))
            if scores is not None:
                ate, stderr = float(scores.mean()), float(scores.std(ddof=1) / np.sqrt(scores.size))
                method_note = "doubly robust average of the linear CATE, influence-function SE"
                robust |= {
                    "ate_mean_cate": mean_cate,
                    "se_mean_cate": mean_cate_se,
                    "n_clipped": float(n_clipped),
                    "trim": float(self.trim),
                }
        if k > 2:
            per_arm = [model.ate_inference(X=features, T0=0, T1=j) for j in range(1, k)]
            contrasts = tuple(
                Contrast(float(np.ravel(arm.mean_point)[0]), float(np.ravel(arm.stderr_mean)[0]))
                for arm in per_arm
            )
        return FitSummary(
            ate=ate,
            stderr=stderr,
            contrasts=contrasts,
            inference=f"EconML LinearDML: {method_note} ({self.n_folds}-fold cross-fitting)",
            diagnostics={
                "outcome_model": self.outcome_model,
                "propensity_model": propensity_model,
                "n_folds": float(self.n_folds),
                "nuisance_score_y": _mean_score(model.nuisance_scores_y),
                "nuisance_score_t": _mean_score(model.nuisance_scores_t),
                **robust,
            },
            effects=effects,
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
    outcome_model, propensity_model : {"linear", "lightgbm", "linear+lightgbm"}, default "lightgbm"
        First stages.
    n_folds : int, default 3
        Cross-fitting folds.
    n_repeats : int, default 3
        Cross-fitting repeated on this many fold splits, nuisances averaged (seed stability).
    random_state : int, default 0
        Seed of the folds, first stages and forest.
    """

    method = "causal_forest"
    needs_covariates = True
    unit_outputs = frozenset({"effects"})
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
        n_repeats: int = 3,
        random_state: int = 0,
    ) -> None:
        super().__init__(
            outcome_model=outcome_model,
            propensity_model=propensity_model,
            n_folds=n_folds,
            n_repeats=n_repeats,
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
                # No leaf without treatment variation: where one arm is (nearly) absent a leaf's
                # effect is a ratio of tiny residual covariances and explodes (poor overlap).
                min_var_fraction_leaf=MIN_TREATMENT_VARIANCE_SHARE,
                min_var_leaf_on_val=True,
                n_jobs=1,
            ).fit(y, t, X=features, cache_values=True)  # the residuals, for internal_seed_refit
        self.econml_model_ = model
        # EconML warns e.g. when too few trees leave rows without out-of-bag predictions.
        notes = "; ".join(dict.fromkeys(str(w.message) for w in caught))
        importances = np.asarray(model.feature_importances_, dtype=float)
        # Qini, TOC/RATE and calibration of the forest's ranking, each row predicted by the trees
        # that never saw it (out of bag; EconML computes them for its own doubly robust ATE).
        forest = model._ortho_learner_model_final._model_final._model  # private in econml 0.17 (locked)
        out_of_bag = np.asarray(forest.oob_predict(features), dtype=float).reshape(-1)
        targeting = targeting_diagnostics(
            y, t, features, base_model=self.outcome_model, seed=int(self.random_state), held_out=out_of_bag
        )
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
                **targeting,
            },
            effects=np.asarray(model.effect(features), dtype=float).reshape(-1),
        )

    def internal_seed_refit(self, seed: int) -> tuple[float, str] | None:
        """The doubly robust ATE of a forest grown with `seed` on the same cross-fitted residuals.

        About half a full fit (no first stages). It measures the forest's own seed noise (its
        subsamples and splits), not the folds': a lower bound on the seed-to-seed spread. The
        fitted model's forest is the second seed's afterwards (`effects_` and `ate_` stay the first).
        """
        model = self.econml_model_
        model.random_state = seed
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.refit_final()
        return (
            float(np.ravel(model.ate_)[0]),
            "the forest regrown with a second seed on the same cross-fitted residuals (its "
            "subsamples and splits; the folds' share is left out, so a lower bound)",
        )


def _standardise(X: NDArray[np.float64]) -> NDArray[np.float64]:
    """Columns centred and scaled to unit SD (constant columns only centred): the CATE's
    coefficients are then comparable and the final stage well conditioned with dummies of rare
    categories beside large-valued numbers; effects are unchanged (an affine map of X)."""
    scale = X.std(axis=0)
    return np.asarray((X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0), dtype=float)


def _dr_scores(
    model: object, features: NDArray[np.float64], effects: NDArray[np.float64], trim: float
) -> tuple[NDArray[np.float64] | None, int]:
    """Doubly robust scores of a binary-treatment DML fit from its cached cross-fitted residuals.

    With mu_t(x) = q(x) + theta(x) (t - e(x)), AIPW's score is theta(x) + (y_res - theta(x) t_res)
    t_res / (e (1 - e)). None when the cached residuals are not in the input's row order.
    """
    y_res, t_res, cached_x, _ = model.residuals_  # type: ignore[attr-defined]
    if cached_x is None or not np.array_equal(np.asarray(cached_x), features):
        return None, 0
    y_res = np.asarray(y_res, dtype=float).reshape(-1)
    t_res = np.asarray(t_res, dtype=float).reshape(y_res.shape[0], -1)[:, 0]
    cached = model._cached_values  # type: ignore[attr-defined]
    treated = np.asarray(cached.T, dtype=np.float64).reshape(-1)
    raw = treated - t_res
    propensity = np.clip(raw, trim, 1 - trim)
    residual_t = treated - propensity
    scores = effects + (y_res - effects * residual_t) * residual_t / (propensity * (1 - propensity))
    return np.asarray(scores, dtype=float), int((propensity != raw).sum())


def _final_stage_held_out(
    model: object, features: NDArray[np.float64], t: NDArray[np.int64], seed: int
) -> NDArray[np.float64] | None:
    """Each row's linear CATE from LinearDML's final stage (y_res on t_res x [1, X], least squares)
    refitted without the row's fold (TARGETING_FOLDS seeded folds, stratified by t) on the cached
    cross-fitted residuals; None when the cache is not in the input's row order."""
    y_res, t_res, cached_x, _ = model.residuals_  # type: ignore[attr-defined]
    if cached_x is None or not np.array_equal(np.asarray(cached_x), features):
        return None
    y_res = np.asarray(y_res, dtype=float).reshape(-1)
    t_res = np.asarray(t_res, dtype=float).reshape(y_res.shape[0], -1)[:, 0]
    phi = np.column_stack([np.ones(features.shape[0]), features])
    design = phi * t_res[:, None]
    cate = np.empty(y_res.shape[0])
    folds = StratifiedKFold(n_splits=TARGETING_FOLDS, shuffle=True, random_state=seed)
    for train, test in folds.split(features, t):
        theta = np.linalg.lstsq(design[train], y_res[train], rcond=None)[0]
        cate[test] = phi[test] @ theta
    return cate


def _rows_per_tree(subsample: float | int, n: int) -> int:
    return int(subsample) if isinstance(subsample, Integral) else int(subsample * n)


def _mean_score(scores: object) -> float | None:
    values = np.asarray(scores, dtype=float).ravel()
    return float(values.mean()) if values.size else None
