"""The one interface every CQOx estimator implements."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from statsmodels.stats.multitest import multipletests

from cqox_contracts.v1 import Adjustment, ArmContrast, Estimand, EstimateResult
from cqox_estimator.estimators.design import DESIGN_ROLES, DesignData
from cqox_estimator.estimators.effects import summarize_effects
from cqox_estimator.estimators.errors import MIN_ROWS_PER_ARM, EstimationError

Diagnostics = dict[str, float | str | None]
# Keywords `CausalEstimator.fit` takes besides y, t and X.
FIT_KEYWORDS = frozenset({"unit", "time", "cluster", "unit_labels", *DESIGN_ROLES.values()})


@dataclass(frozen=True)
class Contrast:
    """One arm of a multi-valued treatment versus the reference arm (code 0)."""

    estimate: float
    stderr: float
    dof: float | None = None  # t degrees of freedom; None means normal


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
    # Multi-valued treatment: arm j (codes 1..k-1) versus arm 0, in code order; `ate`/`stderr`/
    # `dof` must then be those of the first contrast (the headline).
    contrasts: tuple[Contrast, ...] = ()
    # Where the CI and p-value are centred when not on `ate`: the bias-corrected estimate of
    # robust bias-corrected inference (RD), with `stderr` its robust SE.
    interval_centre: float | None = None


class CausalEstimator(BaseEstimator, ABC):  # type: ignore[misc]
    """Base class: scikit-learn parameter rules with EconML's `ate_` / `ate_interval` vocabulary.

    Subclasses store keyword parameters in `__init__`, check them in `_check_params`
    and compute the estimate in `_fit`; everything else (input checks, intervals,
    p-values, the `EstimateResult`) lives here.
    """

    method: ClassVar[str]
    estimand: ClassVar[str] = Estimand.ATE
    # How the method removes confounding, stated once here and carried in every result, so the
    # gates decide from it which doubts apply (never from lists of method names).
    adjustment_kind: ClassVar[Adjustment] = Adjustment.OUTCOME
    # Whether the estimate needs treated and control units with comparable covariates: weighting,
    # matching and outcome models alike extrapolate (or explode) where one arm has no counterpart.
    relies_on_overlap: ClassVar[bool] = True
    # Whether the point estimate (not only its SE) depends on `random_state` (cross-fitting folds,
    # matching ties): such light methods are refitted with a second seed and the spread reported.
    estimate_uses_seed: ClassVar[bool] = False
    # Whether the estimate is a smooth function of the data (asymptotically linear): an 80 %
    # subsample then moves it by about sqrt((1 - f) / f) standard errors and an irrelevant
    # covariate barely at all, which the data_subset and random_common_cause refuters test.
    # Nearest-neighbour matching is not (Abadie & Imbens 2008): any change re-matches units.
    smooth: ClassVar[bool] = True
    # "linear" when the method's only models of the outcome or the treatment are linear (OLS, a
    # logistic propensity, linear balance conditions): reported in the diagnostics, so the
    # linear_misspecification gate can name it when the data show nonlinear confounding.
    model_form: ClassVar[str] = "flexible"
    # Panel methods also need every row's unit and period (`fit(..., unit=, time=)`).
    panel: ClassVar[bool] = False
    # Multi-arm methods accept t coded 0..k-1 (0 = reference) and report every arm vs arm 0.
    multi_arm: ClassVar[bool] = False
    # Continuous-treatment methods also accept a numeric t with any number of distinct values
    # (a dose, years of schooling), passed to `_fit` as floats; a 0/1 t stays binary. For such a
    # t, n_treated counts rows with t != 0 and n_control rows with t == 0; there are no arms.
    continuous_treatment: ClassVar[bool] = False
    # False: the method ignores covariates, so no covariate matrix is built for it (rows
    # missing a mapped covariate are still dropped: every method uses the same sample).
    uses_covariates: ClassVar[bool] = True
    # Design roles the method reads besides y, t and X: "instrument" (IV), "running_variable" (RD),
    # "latitude" and "longitude" (spatial), passed to `fit` as `instrument=` / `running=` /
    # `latitude=` / `longitude=`.
    design_roles: ClassVar[tuple[str, ...]] = ()
    # Fewest rows each arm needs in `prepare` (a synthetic control has one treated unit).
    min_rows_per_arm: ClassVar[int] = MIN_ROWS_PER_ARM
    # True when the method cannot run without covariates (a propensity model, a CATE learner);
    # the others adjust for covariates when the mapping has them, if `uses_covariates`.
    needs_covariates: ClassVar[bool] = False
    # Per-unit tables the method writes to the artifact store besides its estimate: "effects"
    # (one CATE per row, Parquet) and "policy" (the recommended arm per row, CSV).
    unit_outputs: ClassVar[frozenset[str]] = frozenset()

    def fit(self, y: ArrayLike, t: ArrayLike, *, X: ArrayLike | None = None, **design: Any) -> Self:
        """Estimate the effect of binary `t` on `y`, adjusting for covariates `X` if used.

        Multi-arm methods also take `t` coded 0..k-1 and estimate every arm against arm 0
        (`contrasts_`; `ate_` is arm 1 vs arm 0). Continuous-treatment methods also take any
        numeric `t` with two or more distinct values (`ate_` is then the coefficient per unit of t).

        Panel methods take each row's `unit` and `time` (any hashable labels; time must sort in
        time order) and optionally a `cluster` for the standard errors (default: the unit);
        other methods ignore them. IV methods take each row's `instrument`, RD methods its
        `running` variable, spatial methods its `latitude` and `longitude`, repeated
        cross-section methods its `post` period indicator (`design_roles`, keywords as in
        `DESIGN_ROLES`). `unit_labels` names the units when `unit` holds codes 0..k-1.
        """
        unknown = sorted(set(design) - FIT_KEYWORDS)
        if unknown:
            raise TypeError(f"{self.method}.fit() got unexpected keyword(s): {', '.join(unknown)}")
        self._check_params()
        y_arr, t_arr, X_arr = _check_arrays(
            y, t, X, multi_arm=self.multi_arm, continuous=self.continuous_treatment, method=self.method
        )
        if self.panel:
            self.unit_, self.time_, self.cluster_ = _check_panel_index(
                design.get("unit"), design.get("time"), design.get("cluster"), y_arr.shape[0], self.method
            )
            labels = design.get("unit_labels")
            self.unit_labels_ = list(labels) if labels is not None else None
        for role in self.design_roles:
            keyword = DESIGN_ROLES[role]
            values = _check_design_role(design.get(keyword), role, y_arr.shape[0], self.method)
            setattr(self, f"{keyword}_", values)
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
        centre = self.ate_ if summary.interval_centre is None else float(summary.interval_centre)
        if not math.isfinite(centre):
            raise EstimationError(f"{self.method} produced a non-finite bias-corrected estimate")
        self.interval_centre_ = centre
        self.dof_ = summary.dof
        self.inference_ = summary.inference
        self.diagnostics_ = dict(summary.diagnostics)
        if summary.bootstrap_reps is not None:
            self.diagnostics_["bootstrap_reps"] = float(summary.bootstrap_reps)
        self.effects_ = summary.effects
        self.recommendation_ = summary.recommendation
        self.n_ = int(t_arr.shape[0])
        self.n_treated_ = int((t_arr != 0).sum())
        self.n_control_ = self.n_ - self.n_treated_
        sf, _ = _tails(self.dof_)
        self.ate_pvalue_ = 2 * sf(abs(self.interval_centre_ / self.ate_stderr_))
        self.contrasts_ = self._check_contrasts(summary, t_arr)
        # A continuous t (floats) has no arms to count.
        continuous = t_arr.dtype.kind == "f"
        self.arm_counts_ = np.empty(0, dtype=np.int64) if continuous else np.bincount(t_arr).astype(np.int64)
        return self

    def _check_contrasts(
        self, summary: FitSummary, t: NDArray[np.int64] | NDArray[np.float64]
    ) -> list[Contrast]:
        if t.dtype.kind == "f":  # continuous treatment: one coefficient, no arm contrasts
            return []
        n_contrasts = int(t.max())
        if n_contrasts < 2:
            return []
        contrasts = list(summary.contrasts)
        if len(contrasts) != n_contrasts:
            raise EstimationError(
                f"{self.method} returned {len(contrasts)} contrasts for {n_contrasts + 1} treatment arms"
            )
        for j, contrast in enumerate(contrasts, start=1):
            if (
                not math.isfinite(contrast.estimate)
                or not math.isfinite(contrast.stderr)
                or contrast.stderr <= 0
            ):
                raise EstimationError(
                    f"{self.method} cannot estimate arm {j} against the reference arm "
                    f"(estimate {contrast.estimate}, SE {contrast.stderr})"
                )
        return contrasts

    def contrast_table(self, alpha: float = 0.05) -> list[tuple[float, float, float, float, float]]:
        """Per non-reference arm: estimate, SE, CI lower, CI upper, two-sided p-value."""
        check_is_fitted(self, "ate_")
        rows = []
        for contrast in self.contrasts_:
            sf, ppf = _tails(contrast.dof)
            half_width = ppf(1 - alpha / 2) * contrast.stderr
            p_value = 2 * sf(abs(contrast.estimate / contrast.stderr))
            rows.append(
                (contrast.estimate, contrast.stderr, contrast.estimate - half_width,
                 contrast.estimate + half_width, p_value)
            )  # fmt: skip
        return rows

    def ate_interval(self, alpha: float = 0.05) -> tuple[float, float]:
        """Two-sided (1 - alpha) confidence interval for the average effect."""
        check_is_fitted(self, "ate_")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        _, ppf = _tails(self.dof_)
        half_width = ppf(1 - alpha / 2) * self.ate_stderr_
        return self.interval_centre_ - half_width, self.interval_centre_ + half_width

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
        if self.model_form == "linear":
            diagnostics["model_form"] = "linear"
        if self.effects_ is not None:
            names = design.covariate_names if design is not None else []
            diagnostics.update(summarize_effects(self.effects_, self.X_, names))
        contrasts: list[ArmContrast] = []
        if self.contrasts_:
            k = len(self.contrasts_) + 1
            arms = design.arms if design is not None and len(design.arms) == k else [str(j) for j in range(k)]
            table = self.contrast_table(alpha=1 - ci_level)
            adjusted = holm_adjust([row[4] for row in table])
            contrasts = [
                ArmContrast(
                    arm=arms[j],
                    reference=arms[0],
                    estimate=row[0],
                    std_error=row[1],
                    ci_lower=row[2],
                    ci_upper=row[3],
                    p_value=row[4],
                    n_arm=int(self.arm_counts_[j]),
                    p_value_adjusted=adjusted[j - 1],
                )
                for j, row in enumerate(table, start=1)
            ]
            diagnostics["headline_contrast"] = f"{arms[1]} vs {arms[0]}"
            diagnostics["multiple_comparisons"] = f"Holm (family-wise), {len(table)} contrasts"
            diagnostics["n_reference_arm"] = float(self.arm_counts_[0])
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
            contrasts=contrasts,
            adjustment=self.effective_adjustment(),
            relies_on_overlap=self.relies_on_overlap,
            dropped_covariates=(
                [*design.dropped_constant, *design.dropped_aliased] if design is not None else []
            ),
        )

    def effective_adjustment(self) -> str:
        """The adjustment this fit made: a covariate-adjusting method given no covariates made none."""
        check_is_fitted(self, "ate_")
        if self.adjustment_kind is not Adjustment.DESIGN and self.X_.shape[1] == 0:
            return Adjustment.NONE.value
        return self.adjustment_kind.value

    def internal_seed_refit(self, seed: int) -> tuple[float, str] | None:
        """The estimate with `seed` from a cheap partial refit of the fitted model, and what was refit.

        For seed-dependent methods too costly to fit twice: `domain.run` asks for it when the first
        fit overran the second-seed budget. None (the default): the method has no cheaper part.
        """
        return None

    def unit_label(self, code: int) -> str:
        """The name of panel unit `code` (its label when the caller gave them, else the code)."""
        labels = getattr(self, "unit_labels_", None)
        return labels[code] if labels is not None and 0 <= code < len(labels) else str(code)

    @classmethod
    def requirements(cls) -> dict[str, Any]:
        """What `prepare` must build for this method, from its class-level tags, taken whole."""
        return {
            "panel": cls.panel,
            "multi_arm": cls.multi_arm,
            "method": cls.method,
            "covariates": cls.uses_covariates,
            "design_roles": cls.design_roles,
            "min_rows_per_arm": cls.min_rows_per_arm,
            "continuous_treatment": cls.continuous_treatment,
        }

    @classmethod
    def required_roles(cls) -> frozenset[str]:
        """The mapping roles the method cannot run without, from its class-level tags."""
        roles = {"treatment", "outcome", *cls.design_roles}
        if cls.panel:
            roles |= {"unit", "time"}
        if cls.needs_covariates:
            roles.add("covariates")
        return frozenset(roles)

    @classmethod
    def optional_roles(cls) -> frozenset[str]:
        """Roles the method uses when the mapping has them (covariates, for most)."""
        return frozenset({"covariates"}) if cls.uses_covariates and not cls.needs_covariates else frozenset()

    @classmethod
    def warm_up(cls) -> None:
        """Import what the first fit would import lazily (a worker calls it when it starts)."""

    def _check_params(self) -> None:
        """Raise `EstimationError` for invalid constructor parameters (none by default)."""

    @abstractmethod
    def _fit(self, y: NDArray[np.float64], t: NDArray[Any], X: NDArray[np.float64]) -> FitSummary:
        """Compute the estimate on validated arrays.

        `t` is int64 0/1 (or arm codes 0..k-1 for multi-arm methods); only continuous-treatment
        methods may also receive a float64 t with other values.
        """

    def effect(self) -> NDArray[np.float64]:
        """Per-unit effects of the fitted rows (CATE methods only; EconML's `effect`)."""
        check_is_fitted(self, "ate_")
        if self.effects_ is None:
            raise AttributeError(f"{self.method} estimates an average effect only, not per-unit effects")
        return self.effects_


def _tails(dof: float | None) -> tuple[Callable[[float], float], Callable[[float], float]]:
    """Survival function and quantile function of the normal (dof None) or t reference.

    Called directly rather than through a frozen scipy distribution, which costs about a
    millisecond, as much as a small fit."""
    if dof is None:
        return (lambda v: float(stats.norm.sf(v))), (lambda q: float(stats.norm.ppf(q)))
    return (lambda v: float(stats.t.sf(v, dof))), (lambda q: float(stats.t.ppf(q, dof)))


def holm_adjust(p_values: list[float]) -> list[float]:
    """Holm step-down adjusted p-values, controlling the family-wise error rate over the family."""
    if not p_values:
        return []
    adjusted = multipletests(np.asarray(p_values, dtype=float), method="holm")[1]
    return [float(value) for value in adjusted]


def _check_arrays(
    y: ArrayLike,
    t: ArrayLike,
    X: ArrayLike | None,
    *,
    multi_arm: bool = False,
    continuous: bool = False,
    method: str = "",
) -> tuple[NDArray[np.float64], NDArray[np.int64] | NDArray[np.float64], NDArray[np.float64]]:
    """y, t and X as arrays: t int64 0/1 (arm codes for `multi_arm`), or, for `continuous`
    methods, float64 when it holds values other than 0/1 (at least two distinct ones)."""
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
    if multi_arm and not np.isin(t_raw, (0.0, 1.0)).all():
        return y_arr, _check_arm_codes(t_raw, method), X_arr
    if continuous and not np.isin(t_raw, (0.0, 1.0)).all():
        if np.ptp(t_raw) == 0:
            raise EstimationError(f"{method}: the treatment takes one value ({t_raw[0]:g}) in every row")
        return y_arr, t_raw, X_arr
    if not np.isin(t_raw, (0.0, 1.0)).all():
        raise EstimationError("t must be coded 0/1")
    t_arr = t_raw.astype(np.int64)
    if t_arr.sum() in (0, n):
        raise EstimationError(
            f"both arms are needed: {int(t_arr.sum())} treated and {n - int(t_arr.sum())} control"
        )
    return y_arr, t_arr, X_arr


def _check_design_role(values: ArrayLike | None, role: str, n: int, method: str) -> NDArray[np.float64]:
    """The instrument or running variable of every row: present, finite, one per row."""
    label = role.replace("_", " ")
    if values is None:
        raise EstimationError(f"{method} needs the {label} of every row")
    array = np.asarray(values, dtype=float).reshape(-1)
    if array.shape[0] != n:
        raise EstimationError(f"the {label} must have one value per row (got {array.shape[0]}, not {n})")
    if not np.isfinite(array).all():
        raise EstimationError(f"the {label} must not contain missing or infinite values")
    return array


def _check_arm_codes(t_raw: NDArray[np.float64], method: str) -> NDArray[np.int64]:
    """A multi-valued t must hold the codes 0..k-1, each at least twice."""
    t_arr = t_raw.astype(np.int64)
    if (t_arr != t_raw).any() or t_arr.min() < 0:
        raise EstimationError(f"{method}: a multi-valued t must be coded 0, 1, ..., k-1 (0 = reference)")
    counts = np.bincount(t_arr)
    if (counts < 2).any():
        empty = ", ".join(str(j) for j in np.flatnonzero(counts < 2))
        raise EstimationError(
            f"{method}: every arm 0..{counts.size - 1} needs two or more rows (not: {empty})"
        )
    return t_arr


def _check_panel_index(
    unit: ArrayLike | None, time: ArrayLike | None, cluster: ArrayLike | None, n: int, method: str
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64] | None]:
    """Unit, period (sorted order) and optional cluster codes 0..k-1 for a panel method; every
    (unit, period) pair must occur once."""
    if unit is None or time is None:
        raise EstimationError(f"{method} is a panel method: it needs the unit and time of every row")
    coded: list[NDArray[np.int64]] = []
    keys = [("unit", unit), ("time", time), *([("cluster", cluster)] if cluster is not None else [])]
    for name, values in keys:
        array = np.asarray(values).reshape(-1)
        if array.shape[0] != n:
            raise EstimationError(f"{name} must have one value per row (got {array.shape[0]}, expected {n})")
        codes, _ = pd.factorize(array, sort=True)
        if (codes < 0).any():
            raise EstimationError(f"{name} must not contain missing values")
        coded.append(np.asarray(codes, dtype=np.int64))
    repeated = pd.Series(coded[0] * (int(coded[1].max()) + 1) + coded[1]).duplicated()
    if repeated.any():
        raise EstimationError(
            f"unit and time must identify the rows, but {int(repeated.sum())} rows repeat a "
            "(unit, time) pair; aggregate to one row per unit and period first"
        )
    return coded[0], coded[1], coded[2] if cluster is not None else None


def _plain(value: float | str | None) -> float | str | None:
    """JSON-safe diagnostic value: numpy scalars become floats, NaN/inf become None."""
    if value is None or isinstance(value, str):
        return value
    number = float(value)
    return number if math.isfinite(number) else None
