"""S-, T- and X-learners: CATE from outcome models, ATE as their mean, bootstrap SE."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from numpy.typing import NDArray
from sklearn.base import clone

from cqox_estimator.estimators.base import CausalEstimator, FitSummary
from cqox_estimator.estimators.errors import EstimationError
from cqox_estimator.estimators.nuisance import (
    check_first_stage,
    outcome_learner,
    propensity_learner,
)
from cqox_estimator.estimators.targeting import targeting_diagnostics


class _MetaLearner(CausalEstimator):
    """Shared parameters, bootstrap and result of the meta-learners.

    Parameters
    ----------
    base_model : {"linear", "lightgbm"}, default "lightgbm"
        Outcome (and, for the X-learner, effect) regressors.
    n_bootstrap : int, default 30
        Bootstrap replications (rows resampled, every model refitted) for the ATE's SE; the
        interval uses a t reference with B - 1 degrees of freedom for the SE's own noise.
    random_state : int, default 0
        Seed of the bootstrap and of LightGBM.
    """

    def __init__(self, *, base_model: str = "lightgbm", n_bootstrap: int = 30, random_state: int = 0) -> None:
        self.base_model = base_model
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    def _check_params(self) -> None:
        check_first_stage("base_model", self.base_model)
        if not isinstance(self.n_bootstrap, Integral) or self.n_bootstrap < 20:
            raise EstimationError(f"n_bootstrap must be an integer >= 20, got {self.n_bootstrap!r}")

    def _cate(
        self,
        y: NDArray[np.float64],
        t: NDArray[np.int64],
        X: NDArray[np.float64],
        at: NDArray[np.float64] | None = None,
    ) -> NDArray[np.float64]:
        """The learner fitted on (y, t, X), its CATE predicted at `at` (default: the same X)."""
        raise NotImplementedError

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        features = X if X.shape[1] else np.zeros((y.shape[0], 1))
        effects = self._cate(y, t, features)
        rng = np.random.default_rng(self.random_state)
        n = y.shape[0]
        draws = []
        for _ in range(int(self.n_bootstrap)):
            rows = rng.integers(0, n, n)
            if min(int(t[rows].sum()), int((1 - t[rows]).sum())) < 2:
                continue
            draws.append(float(self._cate(y[rows], t[rows], features[rows]).mean()))
        return FitSummary(
            ate=float(effects.mean()),
            stderr=float(np.std(draws, ddof=1)),
            inference=f"bootstrap (B={len(draws)}, rows resampled, models refitted)",
            dof=float(len(draws) - 1),
            bootstrap_reps=len(draws),
            diagnostics={
                "base_model": self.base_model,
                # Qini, TOC/RATE and calibration of the ranking on held-out folds (the report's views).
                **targeting_diagnostics(
                    y, t, features, self._cate, base_model=self.base_model, seed=int(self.random_state)
                ),
            },
            effects=effects,
        )

    def _learner(self) -> object:
        return outcome_learner(self.base_model, int(self.random_state))


class SLearner(_MetaLearner):
    """S-learner: one outcome model of y on (X, t); CATE = f(x, 1) - f(x, 0).

    Regularised learners can shrink the effect toward zero (t is one feature among many).
    """

    method = "s_learner"
    needs_covariates = True
    unit_outputs = frozenset({"effects"})
    estimand = "ATE"

    def _cate(
        self,
        y: NDArray[np.float64],
        t: NDArray[np.int64],
        X: NDArray[np.float64],
        at: NDArray[np.float64] | None = None,
    ) -> NDArray[np.float64]:
        model = clone(self._learner()).fit(np.column_stack([X, t]), y)
        at = X if at is None else at
        ones, zeros = np.ones(at.shape[0]), np.zeros(at.shape[0])
        return np.asarray(
            model.predict(np.column_stack([at, ones])) - model.predict(np.column_stack([at, zeros])),
            dtype=float,
        )


class TLearner(_MetaLearner):
    """T-learner: separate outcome models per arm; CATE = mu1(x) - mu0(x)."""

    method = "t_learner"
    needs_covariates = True
    unit_outputs = frozenset({"effects"})
    estimand = "ATE"

    def _cate(
        self,
        y: NDArray[np.float64],
        t: NDArray[np.int64],
        X: NDArray[np.float64],
        at: NDArray[np.float64] | None = None,
    ) -> NDArray[np.float64]:
        mu0 = clone(self._learner()).fit(X[t == 0], y[t == 0])
        mu1 = clone(self._learner()).fit(X[t == 1], y[t == 1])
        at = X if at is None else at
        return np.asarray(mu1.predict(at) - mu0.predict(at), dtype=float)


class XLearner(_MetaLearner):
    """X-learner (Kuenzel et al. 2019): imputed effects per arm, blended by a logistic propensity."""

    method = "x_learner"
    needs_covariates = True
    unit_outputs = frozenset({"effects"})
    estimand = "ATE"

    def _cate(
        self,
        y: NDArray[np.float64],
        t: NDArray[np.int64],
        X: NDArray[np.float64],
        at: NDArray[np.float64] | None = None,
    ) -> NDArray[np.float64]:
        treated, control = t == 1, t == 0
        mu0 = clone(self._learner()).fit(X[control], y[control])
        mu1 = clone(self._learner()).fit(X[treated], y[treated])
        tau1 = clone(self._learner()).fit(X[treated], y[treated] - mu0.predict(X[treated]))
        tau0 = clone(self._learner()).fit(X[control], mu1.predict(X[control]) - y[control])
        # A logistic propensity keeps the blend cheap inside the bootstrap.
        at = X if at is None else at
        propensity = propensity_learner("linear", int(self.random_state)).fit(X, t).predict_proba(at)[:, 1]
        return np.asarray(propensity * tau0.predict(at) + (1 - propensity) * tau1.predict(at), dtype=float)
