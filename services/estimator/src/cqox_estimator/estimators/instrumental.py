"""Instrumental variables: two-stage least squares (linearmodels) with weak-instrument-robust
Anderson-Rubin confidence sets."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from linearmodels.iv import IV2SLS
from linearmodels.iv.results import IVResults
from numpy.typing import NDArray
from scipy import stats

from cqox_contracts.v1 import Adjustment
from cqox_estimator.estimators.base import CausalEstimator, Diagnostics, FitSummary
from cqox_estimator.estimators.errors import EstimationError

IV_COV_TYPES = ("robust", "unadjusted")
AR_LEVEL = 0.95
AR_GRID_POINTS = 61  # candidate effects at which the report draws the Anderson-Rubin p-value
# The first stage counts as exactly zero when the instrument's standardised first-stage
# coefficient (pi_t * sd(residualised z) / sd(t)) is below this: no compliers, no estimate.
ZERO_FIRST_STAGE = 1e-10
# Relative size of the instrument left after projecting it on [1, X] below which it is
# treated as a linear combination of the covariates.
COLLINEAR_TOLERANCE = 1e-8


class TwoStageLeastSquares(CausalEstimator):
    """LATE of a binary treatment by two-stage least squares: t instrumented by z, given [1, X].

    The instrument z must move the treatment (relevance), affect the outcome only through the
    treatment (exclusion), be as good as randomly assigned given the covariates (independence)
    and push nobody out of treatment who would otherwise take it (monotonicity). The estimate is
    then the average effect among compliers, the units whose treatment z changes: a binary z
    gives Wald's ratio (reduced form over first stage); a continuous z a weighted average of
    the LATEs between its values. With covariates the coefficient is a weighted average of
    covariate-specific LATEs (weights grow with the conditional variance of the first stage),
    not the LATE of the pooled complier population. The treatment is fitted by a linear first
    stage (a linear probability model), which is all 2SLS needs.

    The treatment may also be continuous or many-valued numeric (years of schooling, a dose):
    `t` is then used as its values and the coefficient is the effect per unit of t, under the
    same assumptions (monotonicity: z moves nobody's t in the "wrong" direction) a weighted
    average of the causal responses to unit increases of t among those whose t z moves
    (Angrist and Imbens 1995), not a LATE of one binary switch. The diagnostics then say
    `treatment_scale: continuous`; the estimand label stays "LATE".

    Besides the Wald-type interval of 2SLS, which is unreliable when the instrument is weak,
    the diagnostics report the 95% Anderson-Rubin confidence set, found by inverting the test
    of b in y - b t = [1, X, z] g + e with the same covariance: it keeps its level whatever the
    strength of the instrument, and is unbounded when the instrument cannot pin the effect down.

    Parameters
    ----------
    cov_type : {"robust", "unadjusted"}, default "robust"
        linearmodels covariance of the 2SLS coefficients (robust: heteroskedasticity-robust,
        White/HC0 without a degrees-of-freedom correction), also used for the first-stage F
        and the Anderson-Rubin set.
    weak_f_threshold : float, default 10.0
        First-stage F below which the instrument is flagged as weak (Staiger and Stock 1997).
    """

    adjustment_kind = Adjustment.DESIGN
    relies_on_overlap = False

    method = "iv_2sls"
    estimand = "LATE"
    design_roles = ("instrument",)
    continuous_treatment = True

    def __init__(self, *, cov_type: str = "robust", weak_f_threshold: float = 10.0) -> None:
        self.cov_type = cov_type
        self.weak_f_threshold = weak_f_threshold

    def _check_params(self) -> None:
        if self.cov_type not in IV_COV_TYPES:
            raise EstimationError(f"cov_type must be one of {', '.join(IV_COV_TYPES)}, got {self.cov_type!r}")
        threshold = self.weak_f_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not threshold > 0:
            raise EstimationError(f"weak_f_threshold must be a positive number, got {threshold!r}")

    def _fit(self, y: NDArray[np.float64], t: NDArray[Any], X: NDArray[np.float64]) -> FitSummary:
        z = self.instrument_
        continuous = t.dtype.kind == "f"
        n = y.shape[0]
        exog = np.column_stack([np.ones(n), X])
        treatment = t.astype(float)
        if n <= exog.shape[1] + 1:
            raise EstimationError(f"iv_2sls needs more rows ({n}) than coefficients ({exog.shape[1] + 1})")
        _check_instrument(z, exog)
        first = partial_regressions(y, treatment, z, exog, self.cov_type)
        if abs(first.pi_t) * first.z_scale <= ZERO_FIRST_STAGE * float(treatment.std()):
            raise EstimationError(
                "the instrument does not move the treatment at all (first-stage coefficient 0 given "
                "the covariates): there are no compliers, so the instrument identifies no effect"
            )
        fitted = self._linearmodels_fit(y, treatment, z, exog)
        # The first stage from the partial regressions the Anderson-Rubin set needs anyway: with
        # one instrument, linearmodels' first-stage partial F (robust Wald under robust covariance)
        # is pi_t^2 / Var(pi_t), the same numbers (tested to 1e-10); its `first_stage.diagnostics`
        # would refit it and deep-copy the data (1.5 s of 2.3 s at 100k rows).
        coefficient = first.pi_t
        f_stat = first.pi_t**2 / first.v_tt
        weak = f_stat < self.weak_f_threshold
        ar = anderson_rubin_set(first, level=AR_LEVEL)
        diagnostics: Diagnostics = {
            "first_stage_f": f_stat,
            "first_stage_f_type": "robust Wald" if self.cov_type == "robust" else "homoskedastic F",
            "first_stage_coef": coefficient,
            "first_stage_partial_r2": first.partial_r2_t,
            # With a continuous t the first stage is not a share of compliers.
            **({} if continuous else _complier_share(z, coefficient)),
            "treatment_scale": "continuous" if continuous else "binary",
            "weak_instrument": "yes" if weak else "no",
            "weak_f_threshold": float(self.weak_f_threshold),
            "wu_hausman_p": float(fitted.wu_hausman().pval),
            "ols_estimate": _ols_coefficient(y, treatment, exog),
            "ar_confidence_set": ar.describe(),
            # Finite ends only: the contract turns non-finite floats into None.
            **({"ar_ci_lower": ar.lower, "ar_ci_upper": ar.upper} if ar.bounded else {}),
            "ar_level": AR_LEVEL,
            "ar_covariance": "HC0 (robust)" if self.cov_type == "robust" else "homoskedastic",
            "assumption": "relevance, exclusion, independence and monotonicity of the instrument",
        }
        diagnostics.update(
            _ar_grid(first, ar, float(fitted.params["treatment"]), float(fitted.std_errors["treatment"]))
        )
        if continuous:
            diagnostics["interpretation"] = (
                "continuous treatment: effect per unit of the treatment, a weighted average of the "
                "causal responses to unit increases among units whose treatment the instrument moves "
                "(Angrist and Imbens 1995)"
            )
        if weak:
            diagnostics["warning"] = (
                f"Weak instrument: first-stage F {f_stat:.2f} is below {self.weak_f_threshold:g}, so "
                "the 2SLS estimate is biased towards OLS and its confidence interval is unreliable; "
                f"the weak-instrument-robust {AR_LEVEL:.0%} Anderson-Rubin set is {ar.describe()}."
            )
        # dof None: normal reference, as linearmodels' own inference (debiased=False); the
        # first-stage F and the Anderson-Rubin set are asymptotic chi2 tests on the same footing.
        return FitSummary(
            ate=float(fitted.params["treatment"]),
            stderr=float(fitted.std_errors["treatment"]),
            inference=f"2SLS ({'HC0 robust' if self.cov_type == 'robust' else 'homoskedastic'} SE)",
            dof=None,
            diagnostics=diagnostics,
        )

    def _linearmodels_fit(
        self,
        y: NDArray[np.float64],
        t: NDArray[np.float64],
        z: NDArray[np.float64],
        exog: NDArray[np.float64],
    ) -> IVResults:
        """linearmodels' IV2SLS with named columns; its failures become an `EstimationError`."""
        names = ["const", *(f"x{j}" for j in range(exog.shape[1] - 1))]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fitted = IV2SLS(
                    pd.Series(y, name="outcome"),
                    pd.DataFrame(exog, columns=names),
                    pd.DataFrame({"treatment": t}),
                    pd.DataFrame({"instrument": z}),
                ).fit(cov_type=self.cov_type)
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise EstimationError(f"iv_2sls: linearmodels could not fit the 2SLS model: {exc}") from exc
        if not isinstance(fitted, IVResults):  # OLSResults only without an endogenous regressor
            raise EstimationError("iv_2sls: linearmodels returned an OLS fit instead of a 2SLS fit")
        return fitted


@dataclass(frozen=True)
class PartialRegressions:
    """Reduced-form (pi_y) and first-stage (pi_t) coefficients on z given [1, X], their joint
    covariance, and the standard deviation of z after projecting out [1, X]."""

    pi_y: float
    pi_t: float
    v_yy: float
    v_yt: float
    v_tt: float
    z_scale: float
    partial_r2_t: float  # share of t's variation given [1, X] that z explains


def partial_regressions(
    y: NDArray[np.float64],
    t: NDArray[np.float64],
    z: NDArray[np.float64],
    exog: NDArray[np.float64],
    cov_type: str,
) -> PartialRegressions:
    """Regress y and t on [1, X, z] (by Frisch-Waugh-Lovell on the residualised z).

    Robust: the HC0 sandwich sum(w_i^2 e_ai e_bi) / (w'w)^2, matching linearmodels' robust
    covariance (no small-sample correction); unadjusted: (e_a'e_b / n) / w'w, its homoskedastic one.
    """
    n = y.shape[0]
    w = z - exog @ np.linalg.lstsq(exog, z, rcond=None)[0]
    ww = float(w @ w)
    pi = np.array([w @ y, w @ t]) / ww
    responses = np.column_stack([y, t])
    full = np.column_stack([exog, w])  # same column space as [1, X, z]
    residuals = responses - full @ np.linalg.lstsq(full, responses, rcond=None)[0]
    t_given_exog = t - exog @ np.linalg.lstsq(exog, t, rcond=None)[0]
    partial_r2 = 1.0 - float(residuals[:, 1] @ residuals[:, 1]) / float(t_given_exog @ t_given_exog)
    if cov_type == "robust":
        weighted = residuals * w[:, None]
        V = weighted.T @ weighted / ww**2
    else:
        V = residuals.T @ residuals / n / ww
    return PartialRegressions(
        float(pi[0]),
        float(pi[1]),
        float(V[0, 0]),
        float(V[0, 1]),
        float(V[1, 1]),
        math.sqrt(ww / n),
        partial_r2,
    )


@dataclass(frozen=True)
class ARSet:
    """An Anderson-Rubin confidence set: an interval [lower, upper], the two rays
    (-inf, lower] and [upper, inf), one ray (an infinite end), or the whole line."""

    kind: Literal["interval", "two rays", "ray", "whole line"]
    lower: float = -math.inf
    upper: float = math.inf

    @property
    def bounded(self) -> bool:
        """Whether the set is a finite interval."""
        return self.kind == "interval"

    def describe(self) -> str:
        """The set in interval notation."""
        if self.kind == "interval":
            return f"[{self.lower:.6g}, {self.upper:.6g}]"
        if self.kind == "two rays":
            return f"(-inf, {self.lower:.6g}] ∪ [{self.upper:.6g}, inf)"
        if self.kind == "ray":
            return f"(-inf, {self.upper:.6g}]" if math.isinf(self.lower) else f"[{self.lower:.6g}, inf)"
        return "the whole line"

    def contains(self, b: float) -> bool:
        """Whether b lies in the set."""
        if self.kind == "two rays":
            return b <= self.lower or b >= self.upper
        return self.lower <= b <= self.upper


def anderson_rubin_set(first: PartialRegressions, *, level: float = AR_LEVEL) -> ARSet:
    """The b not rejected by the AR test: (pi_y - b pi_t)^2 <= c (V_yy - 2 b V_yt + b^2 V_tt).

    c is the chi2(1) quantile at `level`. The inequality is q2 b^2 + q1 b + q0 <= 0 with
    q2 = pi_t^2 - c V_tt: a bounded interval when the first stage is significant at this level
    (q2 > 0), otherwise the union of two rays or the whole line.
    """
    c = float(stats.chi2.ppf(level, df=1))
    q2 = first.pi_t**2 - c * first.v_tt
    q1 = -2.0 * (first.pi_y * first.pi_t - c * first.v_yt)
    q0 = first.pi_y**2 - c * first.v_yy
    if q2 == 0.0:  # linear: q1 b + q0 <= 0
        if q1 == 0.0:
            return ARSet("whole line")
        root = -q0 / q1
        return ARSet("ray", upper=root) if q1 > 0 else ARSet("ray", lower=root)
    discriminant = q1 * q1 - 4 * q2 * q0
    if discriminant < 0:
        # With q2 > 0 the set would be empty, impossible here: b = pi_y / pi_t has AR = 0.
        return ARSet("whole line")
    root = math.sqrt(discriminant)
    r1, r2 = sorted(((-q1 - root) / (2 * q2), (-q1 + root) / (2 * q2)))
    return ARSet("interval", r1, r2) if q2 > 0 else ARSet("two rays", r1, r2)


def ar_p_value(first: PartialRegressions, b: float) -> float:
    """p-value of the Anderson-Rubin test that the effect is b (chi2(1) on the reduced form)."""
    variance = first.v_yy - 2 * b * first.v_yt + b * b * first.v_tt
    statistic = (first.pi_y - b * first.pi_t) ** 2 / variance if variance > 0 else math.inf
    return float(stats.chi2.sf(statistic, df=1))


def _ar_grid(first: PartialRegressions, ar: ARSet, estimate: float, stderr: float) -> Diagnostics:
    """The AR p-value over candidate effects, keys `ar_grid_{k}_{effect,p_value}`: the set's finite
    ends (where it is exactly 1 - AR_LEVEL) and the 2SLS estimate among them, spanning the set
    and half its width beyond (or 2SLS +- 10 SE when the set has no finite end)."""
    ends = [e for e in (ar.lower, ar.upper) if math.isfinite(e)]
    low = min([estimate - 10 * stderr, *ends]) if not ar.bounded else ar.lower - 0.5 * (ar.upper - ar.lower)
    high = max([estimate + 10 * stderr, *ends]) if not ar.bounded else ar.upper + 0.5 * (ar.upper - ar.lower)
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return {}
    grid = sorted({*np.linspace(low, high, AR_GRID_POINTS - len(ends) - 1).tolist(), *ends, estimate})
    out: Diagnostics = {}
    for k, b in enumerate(grid):
        out[f"ar_grid_{k}_effect"] = float(b)
        out[f"ar_grid_{k}_p_value"] = ar_p_value(first, b)
    return out


def _check_instrument(z: NDArray[np.float64], exog: NDArray[np.float64]) -> None:
    """Refuse a constant instrument or one that the covariates reproduce exactly."""
    if np.ptp(z) == 0:
        raise EstimationError(
            f"the instrument takes one value ({z[0]:g}) in every row, so it cannot move the treatment; "
            "map a column that varies"
        )
    centred = z - z.mean()
    left = centred - exog @ np.linalg.lstsq(exog, centred, rcond=None)[0]
    if np.linalg.norm(left) <= COLLINEAR_TOLERANCE * np.linalg.norm(centred):
        raise EstimationError(
            "the instrument is a linear combination of the covariates, so nothing is left to "
            "instrument with once they are held fixed; remove it (or what reproduces it) from the covariates"
        )


def _complier_share(z: NDArray[np.float64], coefficient: float) -> Diagnostics:
    """A two-valued instrument: the share of compliers, |first stage| times the instrument's step."""
    values = np.unique(z)
    if values.size != 2:
        return {}
    return {"complier_share": abs(coefficient) * float(values[1] - values[0])}


def _ols_coefficient(y: NDArray[np.float64], t: NDArray[np.float64], exog: NDArray[np.float64]) -> float:
    """The naive coefficient on t in y ~ 1 + t + X (confounded when t is endogenous)."""
    design = np.column_stack([t, exog])
    return float(np.linalg.lstsq(design, y, rcond=None)[0][0])
