"""Doubly robust estimators on cross-fitted nuisances: AIPW, the DR-learner, a policy tree."""

from __future__ import annotations

from numbers import Real

import numpy as np
from numpy.typing import NDArray
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.tree import DecisionTreeRegressor, export_text

from cqox_contracts.v1 import Adjustment
from cqox_estimator.estimators.base import CausalEstimator, Contrast, Diagnostics, FitSummary
from cqox_estimator.estimators.errors import EstimationError
from cqox_estimator.estimators.nuisance import (
    AUTO,
    check_first_stage,
    check_folds,
    crossfit,
    outcome_learner,
    propensity_learner,
    propensity_summary,
)


class _CrossFitted(CausalEstimator):
    """Shared parameters and the doubly robust score of the cross-fitted estimators."""

    estimate_uses_seed = True

    adjustment_kind = Adjustment.DOUBLY_ROBUST

    def __init__(
        self,
        *,
        outcome_model: str = AUTO,
        propensity_model: str = AUTO,
        n_folds: int = 5,
        trim: float = 0.01,
        random_state: int = 0,
    ) -> None:
        self.outcome_model = outcome_model
        self.propensity_model = propensity_model
        self.n_folds = n_folds
        self.trim = trim
        self.random_state = random_state

    def _check_params(self) -> None:
        check_first_stage("outcome_model", self.outcome_model, auto=True)
        check_first_stage("propensity_model", self.propensity_model, auto=True)
        check_folds(self.n_folds)
        if not isinstance(self.trim, Real) or not 0 <= self.trim < 0.5:
            raise EstimationError(f"trim must be in [0, 0.5), got {self.trim!r}")

    def _scores(
        self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], Diagnostics]:
        """AIPW pseudo-outcomes (one per unit) and nuisance diagnostics.

        When both linear and flexible nuisances were cross-fitted (`auto`), the estimate with the
        linear ones is reported too (`estimate_linear_nuisances`), with its distance from this
        one in this one's SEs (`linear_nuisance_shift_se`): how much a linear model's answer
        would differ on these data.
        """
        check_folds(self.n_folds, t)
        fit = crossfit(
            y, t, X,
            outcome_model=self.outcome_model, propensity_model=self.propensity_model,
            n_folds=int(self.n_folds), seed=int(self.random_state),
        )  # fmt: skip
        scores = self._score(y, t, fit.mu0, fit.mu1, fit.propensity)
        diagnostics: Diagnostics = {
            **propensity_summary(fit.propensity, t),
            **fit.diagnostics,
            "n_folds": float(self.n_folds),
            "n_clipped": float(((fit.propensity < self.trim) | (fit.propensity > 1 - self.trim)).sum()),
        }
        if (
            "linear" in fit.candidates
            and "linear" in fit.propensities
            and (fit.outcome_model != "linear" or fit.propensity_model != "linear")
        ):
            mu0, mu1 = fit.candidates["linear"]
            linear = self._score(y, t, mu0, mu1, fit.propensities["linear"]).mean()
            stderr = scores.std(ddof=1) / np.sqrt(scores.size)
            diagnostics["estimate_linear_nuisances"] = float(linear)
            diagnostics["linear_nuisance_shift_se"] = float(abs(linear - scores.mean()) / stderr)
        return scores, diagnostics

    def _score(
        self,
        y: NDArray[np.float64],
        t: NDArray[np.int64],
        mu0: NDArray[np.float64],
        mu1: NDArray[np.float64],
        raw: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """The doubly robust score of every unit, propensities clipped to [trim, 1 - trim]."""
        propensity = np.clip(raw, self.trim, 1 - self.trim)
        return np.asarray(
            mu1 - mu0 + t * (y - mu1) / propensity - (1 - t) * (y - mu0) / (1 - propensity), dtype=float
        )


class AugmentedIPW(_CrossFitted):
    """AIPW (doubly robust) ATE with K-fold cross-fitting and an influence-function SE.

    Outcome models per arm and a propensity model are fitted out of fold; the ATE is the mean
    of the efficient influence-function scores. Consistent if either nuisance is right,
    root-n normal when both converge fast enough (Chernozhukov et al. 2018).

    Parameters
    ----------
    outcome_model, propensity_model : {"auto", "linear", "lightgbm"}, default "auto"
        First-stage learners: linear/logistic regression, a small LightGBM, or `auto`, both
        cross-fitted on the same folds and the one with the smaller out-of-fold loss used
        (`nuisance.crossfit`; a multi-valued treatment uses linear ones). With `auto` the
        diagnostics also give the estimate with linear nuisances and how far the linear models
        miss (`linear_misfit_outcome_r2`, `linear_misfit_propensity`).
    n_folds : int, default 5
        Cross-fitting folds.
    trim : float, default 0.01
        Propensities are clipped to [trim, 1 - trim] in the score.
    random_state : int, default 0
        Seed of the folds and of LightGBM.

    A multi-valued treatment (codes 0..k-1) gets an outcome model per arm and a multinomial
    propensity (multinomial logistic or multiclass LightGBM), cross-fitted on folds stratified by
    arm; each arm's contrast with the reference is the mean of the difference of the two arms'
    doubly robust scores, with its influence-function SE. Propensities are clipped below at
    `trim` in the scores.
    """

    method = "aipw"
    needs_covariates = True
    estimand = "ATE"
    multi_arm = True

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        if t.max() > 1:
            return self._fit_arms(y, t, X)
        scores, diagnostics = self._scores(y, t, X)
        return FitSummary(
            ate=float(scores.mean()),
            stderr=float(scores.std(ddof=1) / np.sqrt(scores.size)),
            inference=f"influence function ({self.n_folds}-fold cross-fitting)",
            diagnostics=diagnostics,
        )

    def _fit_arms(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        k = int(t.max()) + 1
        n_folds = int(self.n_folds)
        if np.bincount(t).min() < 2 * n_folds:
            raise EstimationError(f"too few rows per arm for {n_folds}-fold cross-fitting")
        # No selection across arms yet: `auto` is linear for a multi-valued treatment.
        outcome_model = "linear" if self.outcome_model == AUTO else self.outcome_model
        propensity_model = "linear" if self.propensity_model == AUTO else self.propensity_model
        mu, raw = _crossfit_arms(
            y, t, X,
            outcome_model=outcome_model, propensity_model=propensity_model,
            n_folds=n_folds, seed=int(self.random_state),
        )  # fmt: skip
        propensity = np.maximum(raw, self.trim)
        onehot = t[:, None] == np.arange(k)[None, :]
        # Doubly robust score of each arm's mean outcome: mu_j + 1{t=j} (y - mu_j) / e_j.
        gamma = mu + onehot * (y[:, None] - mu) / propensity
        contrasts = []
        for j in range(1, k):
            scores = gamma[:, j] - gamma[:, 0]
            contrasts.append(Contrast(float(scores.mean()), float(scores.std(ddof=1) / np.sqrt(scores.size))))
        fitted = mu[onehot]
        log_loss = -np.mean(np.log(np.clip(raw[onehot], 1e-12, 1)))
        return FitSummary(
            ate=contrasts[0].estimate,
            stderr=contrasts[0].stderr,
            inference=f"influence function ({n_folds}-fold cross-fitting, multinomial propensity)",
            diagnostics={
                "outcome_model": outcome_model,
                "propensity_model": propensity_model,
                "n_folds": float(n_folds),
                "outcome_r2_oof": float(1 - np.mean((y - fitted) ** 2) / y.var()) if y.var() > 0 else None,
                "propensity_log_loss_oof": float(log_loss),
                "propensity_min_own_arm": float(raw[onehot].min()),
                "n_clipped": float((propensity != raw).any(axis=1).sum()),
            },
            contrasts=tuple(contrasts),
        )


def _crossfit_arms(
    y: NDArray[np.float64],
    t: NDArray[np.int64],
    X: NDArray[np.float64],
    *,
    outcome_model: str,
    propensity_model: str,
    n_folds: int,
    seed: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Out-of-fold E[y | X, t=j] and P(t=j | X) for every arm j (n x k each; seeded folds)."""
    n, k = y.shape[0], int(t.max()) + 1
    mu, propensity = np.empty((n, k)), np.empty((n, k))
    features = X if X.shape[1] else np.zeros((n, 1))
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    outcome = outcome_learner(outcome_model, seed)
    treatment = propensity_learner(propensity_model, seed)
    for train, test in folds.split(features, t):
        for arm in range(k):
            rows = train[t[train] == arm]
            if rows.size < 2:
                raise EstimationError(f"a cross-fitting fold has fewer than 2 rows with t={arm}")
            mu[test, arm] = clone(outcome).fit(features[rows], y[rows]).predict(features[test])
        if X.shape[1]:
            model = clone(treatment).fit(features[train], t[train])
            propensity[test] = model.predict_proba(features[test])[:, np.argsort(model.classes_)]
        else:
            propensity[test] = np.bincount(t[train], minlength=k) / train.size
    return mu, propensity


class DRLearner(_CrossFitted):
    """DR-learner (Kennedy 2023): CATE by regressing cross-fitted AIPW scores on covariates.

    The average of the scores is the ATE (with its influence-function SE); a final regression
    of the scores on X gives per-unit effects, written to the artifact store and summarised.

    Parameters
    ----------
    outcome_model, propensity_model : {"auto", "linear", "lightgbm"}, default "auto"
        First-stage learners, as for AIPW.
    final_model : {"linear", "lightgbm"}, default "linear"
        Regression of the scores on X that gives the CATE.
    n_folds, trim, random_state
        As for AIPW.
    """

    method = "dr_learner"
    needs_covariates = True
    unit_outputs = frozenset({"effects"})
    estimand = "ATE"

    def __init__(
        self,
        *,
        outcome_model: str = AUTO,
        propensity_model: str = AUTO,
        final_model: str = "linear",
        n_folds: int = 5,
        trim: float = 0.01,
        random_state: int = 0,
    ) -> None:
        super().__init__(
            outcome_model=outcome_model,
            propensity_model=propensity_model,
            n_folds=n_folds,
            trim=trim,
            random_state=random_state,
        )
        self.final_model = final_model

    def _check_params(self) -> None:
        super()._check_params()
        check_first_stage("final_model", self.final_model)

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        scores, diagnostics = self._scores(y, t, X)
        features = X if X.shape[1] else np.zeros((y.shape[0], 1))
        final = outcome_learner(self.final_model, int(self.random_state)).fit(features, scores)
        return FitSummary(
            ate=float(scores.mean()),
            stderr=float(scores.std(ddof=1) / np.sqrt(scores.size)),
            inference=f"influence function ({self.n_folds}-fold cross-fitting)",
            diagnostics={**diagnostics, "final_model": self.final_model},
            effects=np.asarray(final.predict(features), dtype=float),
        )


class PolicyTree(_CrossFitted):
    """A shallow policy tree on doubly robust scores: whom to treat, and the gain from doing so.

    A depth-`max_depth` regression tree is grown on the cross-fitted AIPW scores (the CATE
    signal); a unit is recommended treatment when its leaf's mean score exceeds
    `treatment_cost`. The estimate is the policy's gain over treating nobody, mean of
    policy(x) (score - cost), evaluated out of fold (trees learned on the other folds) so it
    is honest; the SE is the scores' standard error. The recommendation per unit and its
    expected gain are written as a policy CSV.

    Parameters
    ----------
    max_depth : int, default 2
        Depth of the tree (2 gives at most four groups).
    min_leaf_share : float, default 0.05
        Smallest leaf as a share of the rows.
    treatment_cost : float, default 0.0
        Cost of treating one unit, in outcome units.
    outcome_model, propensity_model, n_folds, trim, random_state
        As for the DR-learner.
    """

    method = "policy_tree"
    needs_covariates = True
    unit_outputs = frozenset({"effects", "policy"})
    estimand = "policy gain"

    def __init__(
        self,
        *,
        max_depth: int = 2,
        min_leaf_share: float = 0.05,
        treatment_cost: float = 0.0,
        outcome_model: str = AUTO,
        propensity_model: str = AUTO,
        n_folds: int = 5,
        trim: float = 0.01,
        random_state: int = 0,
    ) -> None:
        super().__init__(
            outcome_model=outcome_model,
            propensity_model=propensity_model,
            n_folds=n_folds,
            trim=trim,
            random_state=random_state,
        )
        self.max_depth = max_depth
        self.min_leaf_share = min_leaf_share
        self.treatment_cost = treatment_cost

    def _check_params(self) -> None:
        super()._check_params()
        if not isinstance(self.max_depth, int | np.integer) or not 1 <= self.max_depth <= 4:
            raise EstimationError(f"max_depth must be an integer from 1 to 4, got {self.max_depth!r}")
        if not isinstance(self.min_leaf_share, Real) or not 0 < self.min_leaf_share < 0.5:
            raise EstimationError(f"min_leaf_share must be in (0, 0.5), got {self.min_leaf_share!r}")
        if not isinstance(self.treatment_cost, Real):
            raise EstimationError(f"treatment_cost must be a number, got {self.treatment_cost!r}")

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        scores, diagnostics = self._scores(y, t, X)
        net = scores - float(self.treatment_cost)
        features = X if X.shape[1] else np.zeros((y.shape[0], 1))
        tree = DecisionTreeRegressor(
            max_depth=int(self.max_depth),
            min_samples_leaf=max(2, int(self.min_leaf_share * y.shape[0])),
            random_state=int(self.random_state),
        )
        honest = np.empty(y.shape[0])
        folds = KFold(n_splits=int(self.n_folds), shuffle=True, random_state=int(self.random_state))
        for train, test in folds.split(features):
            learned = clone(tree).fit(features[train], net[train])
            honest[test] = (learned.predict(features[test]) > 0) * net[test]
        full = tree.fit(features, net)
        leaf_gain = np.asarray(full.predict(features), dtype=float)
        recommend = (leaf_gain > 0).astype(np.int64)
        rules = export_text(full, feature_names=[f"x{j}" for j in range(features.shape[1])], decimals=3)
        return FitSummary(
            ate=float(honest.mean()),
            stderr=float(honest.std(ddof=1) / np.sqrt(honest.size)),
            inference=f"influence function, policy evaluated out of fold ({self.n_folds} folds)",
            diagnostics={
                **diagnostics,
                "share_recommended_treatment": float(recommend.mean()),
                "gain_treat_everyone": float(net.mean()),
                "treatment_cost": float(self.treatment_cost),
                "n_leaves": float(full.get_n_leaves()),
                "tree": rules[:1500],
            },
            effects=leaf_gain,
            recommendation=recommend,
        )
