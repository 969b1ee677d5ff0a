"""The one interface every CQOx estimator implements."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from cqox_contracts.v1 import EstimateResult
from cqox_estimator.estimators.design import DesignData, EstimationError
from cqox_estimator.estimators.effects import summarize_effects

Diagnostics = dict[str, float | str | None]


@dataclass(frozen=True)
class FitSummary:
    """What a subclass's `_fit` hands back: the point estimate and how uncertain it is."""

    ate: float
    stderr: float
    inference: str
    dof: float | None = None  # degrees of freedom for t-based inference; None means normal
    diagnostics: Diagnostics = field(default_factory=dict)
    effects: NDArray[np.float64] | None = None  # per-unit (conditional) effects of CATE methods
    recommendation: NDArray[np.int64] | None = None  # per-unit recommended arm of policy methods
    bootstrap_reps: int | None = None  # B when the SE comes from a bootstrap


class CausalEstimator(BaseEstimator, ABC):  # type: ignore[misc]
    """Base class: scikit-learn parameter rules with EconML's `ate_` / `ate_interval` vocabulary.

    Subclasses store keyword parameters in `__init__`, check them in `_check_params`
    and compute the estimate in `_fit`; everything else (input checks, intervals,
    p-values, the `EstimateResult`) lives here.
    """

    method: ClassVar[str]
    estimand: ClassVar[str] = "ATE"
    # Panel methods also need every row's unit and period (`fit(..., unit=, time=)`).
    panel: ClassVar[bool] = False

    def fit(
        self,
        y: ArrayLike,
        t: ArrayLike,
        *,
        X: ArrayLike | None = None,
        unit: ArrayLike | None = None,
        time: ArrayLike | None = None,
    ) -> Self:
        """Estimate the effect of binary `t` on `y`, adjusting for covariates `X` if used.

        Panel methods take each row's `unit` and `time` (any hashable labels; time must sort in
        time order); other methods ignore them.
        """
        self._check_params()
        y_arr, t_arr, X_arr = _check_arrays(y, t, X)
        if self.panel:
            self.unit_, self.time_ = _check_panel_index(unit, time, y_arr.shape[0], self.method)
        summary = self._fit(y_arr, t_arr, X_arr)
        self.X_ = X_arr
        if not math.isfinite(summary.ate):
            raise EstimationError(f"{self.method} produced a non-finite estimate")
        if not math.isfinite(summary.stderr) or summary.stderr <= 0:
            raise EstimationError(
                f"{self.method} cannot estimate a standard error (got {summary.stderr}); "
                "the outcome may not vary within the treatment arms"
            )
        self.ate_ = float(summary.ate)
        self.ate_stderr_ = float(summary.stderr)
        self.dof_ = summary.dof
        self.inference_ = summary.inference
        self.diagnostics_ = dict(summary.diagnostics)
        if summary.bootstrap_reps is not None:
            self.diagnostics_["bootstrap_reps"] = float(summary.bootstrap_reps)
        self.effects_ = summary.effects
        self.recommendation_ = summary.recommendation
        self.n_ = int(t_arr.shape[0])
        self.n_treated_ = int(t_arr.sum())
        self.n_control_ = self.n_ - self.n_treated_
        self.ate_pvalue_ = float(2 * self._sf(abs(self.ate_ / self.ate_stderr_)))
        return self

    def ate_interval(self, alpha: float = 0.05) -> tuple[float, float]:
        """Two-sided (1 - alpha) confidence interval for the average effect."""
        check_is_fitted(self, "ate_")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        half_width = float(self._ppf(1 - alpha / 2)) * self.ate_stderr_
        return self.ate_ - half_width, self.ate_ + half_width

    def result(
        self,
        *,
        ci_level: float = 0.95,
        design: DesignData | None = None,
        runtime_s: float = 0.0,
    ) -> EstimateResult:
        """The fitted estimate as a contract `EstimateResult` (design adds dropped-row details)."""
        check_is_fitted(self, "ate_")
        lower, upper = self.ate_interval(alpha=1 - ci_level)
        diagnostics: Diagnostics = {}
        if design is not None:
            diagnostics.update(design.describe())
        diagnostics.update(self.diagnostics_)
        if self.effects_ is not None:
            names = design.covariate_names if design is not None else []
            diagnostics.update(summarize_effects(self.effects_, self.X_, names))
        return EstimateResult(
            method=self.method,
            estimand=self.estimand,
            estimate=self.ate_,
            std_error=self.ate_stderr_,
            ci_lower=lower,
            ci_upper=upper,
            ci_level=ci_level,
            p_value=self.ate_pvalue_,
            n=self.n_,
            n_treated=self.n_treated_,
            n_control=self.n_control_,
            n_dropped=design.n_dropped if design is not None else 0,
            dropped_reason=design.dropped_reason if design is not None else "",
            inference=self.inference_,
            runtime_s=runtime_s,
            diagnostics={key: _plain(value) for key, value in diagnostics.items()},
        )

    def _check_params(self) -> None:
        """Raise `EstimationError` for invalid constructor parameters (none by default)."""

    @abstractmethod
    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        """Compute the estimate on validated arrays."""

    def effect(self) -> NDArray[np.float64]:
        """Per-unit effects of the fitted rows (CATE methods only; EconML's `effect`)."""
        check_is_fitted(self, "ate_")
        if self.effects_ is None:
            raise AttributeError(f"{self.method} estimates an average effect only, not per-unit effects")
        return self.effects_

    # The reference distribution's tails, called directly: freezing a scipy distribution costs
    # about a millisecond, as much as a small fit.
    def _sf(self, value: float) -> float:
        return float(stats.norm.sf(value) if self.dof_ is None else stats.t.sf(value, self.dof_))

    def _ppf(self, quantile: float) -> float:
        return float(stats.norm.ppf(quantile) if self.dof_ is None else stats.t.ppf(quantile, self.dof_))


def _check_arrays(
    y: ArrayLike, t: ArrayLike, X: ArrayLike | None
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    y_arr = np.asarray(y, dtype=float).reshape(-1)
    t_raw = np.asarray(t, dtype=float).reshape(-1)
    n = y_arr.shape[0]
    X_arr = np.empty((n, 0)) if X is None else np.asarray(X, dtype=float)
    if X_arr.ndim == 1:
        X_arr = X_arr[:, None]
    if t_raw.shape[0] != n or X_arr.shape[0] != n:
        raise EstimationError(
            f"y, t and X must have the same number of rows (got {n}, {t_raw.shape[0]}, {X_arr.shape[0]})"
        )
    if not (np.isfinite(y_arr).all() and np.isfinite(t_raw).all() and np.isfinite(X_arr).all()):
        raise EstimationError("y, t and X must not contain missing or infinite values")
    if not np.isin(t_raw, (0.0, 1.0)).all():
        raise EstimationError("t must be coded 0/1")
    t_arr = t_raw.astype(np.int64)
    if t_arr.sum() in (0, n):
        raise EstimationError(
            f"both arms are needed: {int(t_arr.sum())} treated and {n - int(t_arr.sum())} control"
        )
    return y_arr, t_arr, X_arr


def _check_panel_index(
    unit: ArrayLike | None, time: ArrayLike | None, n: int, method: str
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Unit and period codes (0..k-1, periods in sorted order) for a panel method."""
    if unit is None or time is None:
        raise EstimationError(f"{method} is a panel method: it needs the unit and time of every row")
    coded: list[NDArray[np.int64]] = []
    for name, values in (("unit", unit), ("time", time)):
        array = np.asarray(values).reshape(-1)
        if array.shape[0] != n:
            raise EstimationError(f"{name} must have one value per row (got {array.shape[0]}, expected {n})")
        codes, _ = pd.factorize(array, sort=True)
        if (codes < 0).any():
            raise EstimationError(f"{name} must not contain missing values")
        coded.append(np.asarray(codes, dtype=np.int64))
    return coded[0], coded[1]


def _plain(value: float | str | None) -> float | str | None:
    """JSON-safe diagnostic value: numpy scalars become floats, NaN/inf become None."""
    if value is None or isinstance(value, str):
        return value
    number = float(value)
    return number if math.isfinite(number) else None
