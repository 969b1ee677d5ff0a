"""Partial identification under attrition: Lee (2009) trimming bounds for experiments.

When outcomes go missing after random assignment, the complete cases of the two arms are no
longer comparable if treatment changed who stays observed. Lee (2009) assumes only that
treatment moves everyone's observation the same way (monotonicity) and bounds the effect on the
units observed whatever their arm ("always-observed") by trimming the arm with more observed
outcomes, from the top and from the bottom, down to the other arm's observed share.

Lee, D. S. (2009). Training, wages, and sample selection: Estimating sharp bounds on treatment
effects. Review of Economic Studies 76(3), 1071-1102. Imbens, G. W. and Manski, C. F. (2004).
Confidence intervals for partially identified parameters. Econometrica 72(6), 1845-1857.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, stats
from sklearn.utils.validation import check_is_fitted

from cqox_contracts.v1 import Adjustment, Estimand
from cqox_estimator.estimators.base import CausalEstimator, FitSummary
from cqox_estimator.estimators.errors import EstimationError

SE_METHODS = ("analytic", "bootstrap")
# Fewest observed outcomes per arm: a trimmed mean and its variance need a few rows.
MIN_OBSERVED_PER_ARM = 2


@dataclass(frozen=True)
class TrimmingBounds:
    """Lee bounds on the effect for the always-observed, with what they were computed from."""

    lower: float
    upper: float
    lower_se: float
    upper_se: float
    trimming_share: float  # p: share of the trimmed arm's observed outcomes removed
    trimmed_arm: int  # 1 (treated) or 0 (control): the arm with the larger observed share
    observed_share: tuple[float, float]  # (control, treated)
    n_observed: tuple[int, int]  # (control, treated)
    complete_case_difference: float


def _kept_mean(sorted_values: NDArray[np.float64], keep: float, *, top: bool) -> tuple[float, float, float]:
    """Mean and variance of the lowest (or highest) share `keep` of sorted values, and the
    cut-off quantile.

    A fractional count weights the boundary value by its fraction, so the bound moves smoothly
    with the trimming share and ties (a binary outcome) are trimmed exactly.
    """
    values = sorted_values[::-1] if top else sorted_values
    m = values.shape[0]
    k = keep * m
    whole = min(math.floor(k + 1e-12), m)
    fraction = k - whole
    weights = np.zeros(m)
    weights[:whole] = 1.0
    if whole < m and fraction > 1e-12:
        weights[whole] = fraction
    total = weights.sum()
    mean = float(weights @ values / total)
    variance = float(weights @ (values - mean) ** 2 / total)
    last = whole if fraction > 1e-12 else whole - 1  # the boundary value: the estimated quantile
    cut = float(values[min(max(last, 0), m - 1)])
    return mean, variance, cut


def trimming_bounds(
    y: NDArray[np.float64], t: NDArray[np.int64], observed: NDArray[np.bool_]
) -> TrimmingBounds:
    """Lee's bounds with their asymptotic SEs (Lee 2009, Proposition 3).

    `y` may hold anything where `observed` is False. The arm with the larger observed share is
    trimmed by p = 1 - q_small / q_large; the lower bound keeps its lowest 1 - p observed
    outcomes when it is the treated arm (its highest when it is the control arm), the upper bound
    the other end. Each bound's variance adds the trimmed mean's (with the estimated cut-off),
    the estimated trimming share's, and the untrimmed arm's mean's.
    """
    arms = (t == 0, t == 1)
    n = t.shape[0]
    shares = tuple(float(observed[arm].mean()) for arm in arms)
    counts = tuple(int(observed[arm].sum()) for arm in arms)
    for label, count in zip(("control", "treated"), counts, strict=True):
        if count < MIN_OBSERVED_PER_ARM:
            raise EstimationError(
                f"lee_bounds needs at least {MIN_OBSERVED_PER_ARM} observed outcomes in each arm; "
                f"the {label} arm has {count}"
            )
    outcomes = tuple(np.sort(y[arm & observed]) for arm in arms)
    means = tuple(float(values.mean()) for values in outcomes)
    trimmed = 1 if shares[1] >= shares[0] else 0
    other = 1 - trimmed
    p = 1.0 - shares[other] / shares[trimmed]
    keep = 1.0 - p
    # Lee's V_p: the delta-method variance of p-hat from the two observed shares (times n).
    arm_share = (1 - float(t.mean()), float(t.mean()))
    v_p = keep**2 * sum((1 - q) / (q * a) for q, a in zip(shares, arm_share, strict=True))
    untrimmed = outcomes[other]
    v_other = float(untrimmed.var()) / (shares[other] * arm_share[other])

    def trimmed_end(top: bool) -> tuple[float, float]:
        """Mean of the kept end of the trimmed arm and its variance (times n)."""
        mean, variance, cut = _kept_mean(outcomes[trimmed], keep, top=top)
        denominator = shares[trimmed] * arm_share[trimmed] * keep
        v = variance / denominator + (cut - mean) ** 2 * p / denominator + ((cut - mean) / keep) ** 2 * v_p
        return mean, v

    # Trimming the control arm flips which end bounds what: its highest outcomes give the lower bound.
    low_mean, low_v = trimmed_end(top=trimmed == 0)
    high_mean, high_v = trimmed_end(top=trimmed == 1)
    if trimmed == 1:
        lower, upper = low_mean - means[0], high_mean - means[0]
    else:
        lower, upper = means[1] - low_mean, means[1] - high_mean
    return TrimmingBounds(
        lower=lower,
        upper=upper,
        lower_se=math.sqrt((low_v + v_other) / n),
        upper_se=math.sqrt((high_v + v_other) / n),
        trimming_share=p,
        trimmed_arm=trimmed,
        observed_share=(shares[0], shares[1]),
        n_observed=(counts[0], counts[1]),
        complete_case_difference=means[1] - means[0],
    )


def imbens_manski_interval(
    lower: float, upper: float, lower_se: float, upper_se: float, alpha: float
) -> tuple[float, float]:
    """(1 - alpha) confidence interval for the effect inside [lower, upper] (Imbens-Manski 2004).

    The critical value c solves Phi(c + width / max(SE)) - Phi(-c) = 1 - alpha: it is the
    two-sided value when the bounds meet and tends to the one-sided value as they part.
    """
    width = max(upper - lower, 0.0)
    scale = max(lower_se, upper_se)
    two_sided = float(stats.norm.ppf(1 - alpha / 2))
    if width == 0.0 or scale == 0.0:
        c = two_sided
    else:
        one_sided = float(stats.norm.ppf(1 - alpha))

        def coverage_gap(value: float) -> float:
            return float(stats.norm.cdf(value + width / scale) - stats.norm.cdf(-value) - (1 - alpha))

        c = one_sided if coverage_gap(one_sided) >= 0 else optimize.brentq(coverage_gap, one_sided, two_sided)
    return lower - c * lower_se, upper + c * upper_se


class LeeBounds(CausalEstimator):
    """Lee (2009) trimming bounds on the effect for the always-observed, for experiments with
    attrition (outcomes missing after random assignment).

    Rows whose outcome is missing count: `fit` takes y with NaN (or an `observed` mask) where the
    outcome was lost. Assumes random assignment and monotonicity (treatment moves every unit's
    observation the same way); needs no covariates and no model of why outcomes go missing. The
    result's estimate is the midpoint of the bounds, its interval the Imbens-Manski interval for
    the effect (covering the whole identified set widened by sampling error), and the bounds
    with their SEs are in the diagnostics (`lower_bound`, `upper_bound`). Without attrition the
    bounds meet at the difference in means.

    Parameters
    ----------
    se_method : {"analytic", "bootstrap"}, default "analytic"
        Lee's asymptotic SEs (Proposition 3) or a bootstrap resampling rows within each arm.
    n_bootstrap : int, default 500
        Bootstrap replications when `se_method="bootstrap"`.
    random_state : int or None, default None
        Seed of the bootstrap (the platform sets it from the analysis seed).
    """

    method = "lee_bounds"
    estimand = Estimand.BOUNDS
    adjustment_kind = Adjustment.NONE
    relies_on_overlap = False
    uses_covariates = False
    # The rows whose outcome is missing are data here, not noise: `domain.run` keeps them.
    keeps_missing_outcome: ClassVar[bool] = True

    def __init__(
        self, *, se_method: str = "analytic", n_bootstrap: int = 500, random_state: int | None = None
    ) -> None:
        self.se_method = se_method
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    def _check_params(self) -> None:
        if self.se_method not in SE_METHODS:
            raise EstimationError(f"se_method must be one of {', '.join(SE_METHODS)}, got {self.se_method!r}")
        if not isinstance(self.n_bootstrap, int | np.integer) or self.n_bootstrap < 50:
            raise EstimationError(f"n_bootstrap must be an integer of at least 50, got {self.n_bootstrap!r}")

    def fit(  # type: ignore[override]
        self, y: ArrayLike, t: ArrayLike, *, observed: ArrayLike | None = None, **design: Any
    ) -> Self:
        """Bound the effect; `y` is NaN where the outcome was lost, or `observed` says where it was seen."""
        y_arr = np.asarray(y, dtype=float).reshape(-1)
        seen = np.isfinite(y_arr) if observed is None else np.asarray(observed, dtype=bool).reshape(-1)
        if seen.shape != y_arr.shape:
            raise EstimationError(
                f"observed must have one value per row ({y_arr.shape[0]}), got {seen.shape[0]}"
            )
        if not np.isfinite(y_arr[seen]).all():
            raise EstimationError("observed outcomes must be finite")
        if not seen.any():
            raise EstimationError("lee_bounds needs observed outcomes; every outcome is missing")
        self.observed_ = seen
        super().fit(np.where(seen, y_arr, 0.0), t, **design)
        self.ate_pvalue_ = self._p_value()
        return self

    def _fit(self, y: NDArray[np.float64], t: NDArray[Any], X: NDArray[np.float64]) -> FitSummary:
        observed = self.observed_
        bounds = trimming_bounds(y, t, observed)
        lower_se, upper_se = bounds.lower_se, bounds.upper_se
        inference = "Lee (2009) asymptotic SEs; Imbens-Manski interval"
        reps = None
        if self.se_method == "bootstrap":
            lower_se, upper_se = self._bootstrap(y, t, observed)
            inference = f"bootstrap within arms ({self.n_bootstrap} reps); Imbens-Manski interval"
            reps = int(self.n_bootstrap)
        self.bounds_ = (bounds.lower, bounds.upper)
        self.bounds_stderr_ = (lower_se, upper_se)
        if not (lower_se > 0 and upper_se > 0):
            raise EstimationError(
                "lee_bounds cannot estimate a standard error: the outcome does not vary within an arm"
            )
        control_share, treated_share = bounds.observed_share
        diagnostics: dict[str, float | str | None] = {
            "lower_bound": bounds.lower,
            "upper_bound": bounds.upper,
            "lower_bound_se": lower_se,
            "upper_bound_se": upper_se,
            "trimming_share": bounds.trimming_share,
            "trimmed_arm": "treated" if bounds.trimmed_arm == 1 else "control",
            "observed_share_treated": treated_share,
            "observed_share_control": control_share,
            "n_observed_treated": float(bounds.n_observed[1]),
            "n_observed_control": float(bounds.n_observed[0]),
            "n_missing_outcome": float((~observed).sum()),
            "complete_case_difference": bounds.complete_case_difference,
            "bounds_population": "always-observed (outcome seen whichever arm the unit is in)",
            "assumptions": "random assignment; monotone attrition (treatment moves observation one way)",
            "covariates_used": "none (unadjusted)",
        }
        return FitSummary(
            ate=(bounds.lower + bounds.upper) / 2,
            stderr=max(lower_se, upper_se),
            inference=inference,
            dof=None,
            diagnostics=diagnostics,
            bootstrap_reps=reps,
        )

    def _bootstrap(
        self, y: NDArray[np.float64], t: NDArray[Any], observed: NDArray[np.bool_]
    ) -> tuple[float, float]:
        """SDs of the two bounds over resamples of rows within each arm (arm sizes fixed by design)."""
        rng = np.random.default_rng(self.random_state)
        arms = [np.flatnonzero(t == 0), np.flatnonzero(t == 1)]
        draws = np.full((int(self.n_bootstrap), 2), np.nan)
        for b in range(int(self.n_bootstrap)):
            rows = np.concatenate([rng.choice(arm, size=arm.shape[0]) for arm in arms])
            try:
                again = trimming_bounds(y[rows], t[rows], observed[rows])
            except EstimationError:
                continue  # a resample with too few observed outcomes in an arm
            draws[b] = again.lower, again.upper
        kept = draws[~np.isnan(draws).any(axis=1)]
        if kept.shape[0] < 0.9 * draws.shape[0]:
            raise EstimationError("lee_bounds: too many bootstrap resamples had too few observed outcomes")
        return float(kept[:, 0].std(ddof=1)), float(kept[:, 1].std(ddof=1))

    def ate_interval(self, alpha: float = 0.05) -> tuple[float, float]:
        """Imbens-Manski (1 - alpha) interval for the effect on the always-observed."""
        check_is_fitted(self, "bounds_")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        return imbens_manski_interval(*self.bounds_, *self.bounds_stderr_, alpha)

    def _p_value(self) -> float:
        """Two-sided p-value of 'no effect': 1 when 0 lies between the bounds, else that of the
        nearer bound with its SE (0 is excluded from the identified set at that level)."""
        (lower, upper), (lower_se, upper_se) = self.bounds_, self.bounds_stderr_
        if lower <= 0 <= upper:
            return 1.0
        z = lower / lower_se if lower > 0 else -upper / upper_se
        return float(2 * stats.norm.sf(z))


def keep_missing_outcome(df: pd.DataFrame, outcome: str | None) -> tuple[pd.DataFrame, NDArray[np.bool_]]:
    """The frame with missing outcomes filled (so `prepare` keeps those rows) and the mask of
    rows whose outcome was observed. A frame with no observed outcome is returned as it is, so
    `prepare` refuses it as for every method."""
    if outcome is None or outcome not in df.columns:
        return df, np.ones(len(df), dtype=bool)
    present = df[outcome].notna().to_numpy()
    if present.all() or not present.any():
        return df, present
    return df.assign(**{outcome: df[outcome].fillna(0.0)}), present
