"""Sensitivity to hidden confounding: how strong a confounder nobody measured would have to be.

Pure functions (no I/O), one family per published measure:

- E-values (VanderWeele & Ding 2017): the risk-ratio association a confounder would need with both
  treatment and outcome to explain an estimate away; differences in means are put on the
  risk-ratio scale with their approximation RR ≈ exp(0.91 d) for a standardised difference d.
- Omitted-variable bias (Cinelli & Hazlett 2020): partial R² of the treatment with the outcome,
  the robustness value RV (and RV at alpha) and bounds from confounders k times as strong as an
  observed covariate, for the linear regression adjustment.
- Rosenbaum Γ bounds (Rosenbaum 2002, ch. 4) for the Wilcoxon signed-rank test on matched pairs.
- Oster (2019) coefficient stability: δ and the bias-adjusted β* with R_max = 1.3 R̃.

`sensitivity_panel` decides which measures apply to an estimate from what it declares about itself
(`adjustment`, `relies_on_overlap`, `estimand`), never from its method name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from cqox_contracts.v1 import (
    PROPENSITY_BASED,
    Adjustment,
    BenchmarkBound,
    Estimand,
    EstimateResult,
    EstimateRobustness,
    EValue,
    GammaPoint,
    OmittedVariableBias,
    OsterBounds,
    RosenbaumBounds,
    SensitivityPanel,
)

# VanderWeele & Ding (2017, Table 2; Chinn 2000): a standardised difference d is about a log odds
# ratio of pi/sqrt(3) d = 1.81 d, and for a common outcome sqrt(OR) ~ RR, so RR ~ exp(0.91 d).
SMD_TO_LOG_RR = 0.91
# Oster (2019, section 4.2): R_max = 1.3 R-tilde lets 90% of the randomised results survive.
OSTER_R_MAX_FACTOR = 1.3
BENCHMARK_MULTIPLES = (1.0, 2.0, 3.0)
GAMMA_GRID = (1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
MAX_GAMMA = 100.0


# --- E-values (VanderWeele & Ding 2017) -----------------------------------------------------------


def e_value_rr(rr: float) -> float:
    """E-value of a risk ratio: RR + sqrt(RR (RR - 1)), after inverting a protective RR < 1."""
    if not math.isfinite(rr) or rr <= 0:
        raise ValueError(f"a risk ratio must be positive, got {rr!r}")
    rr = max(rr, 1 / rr)
    return rr + math.sqrt(rr * (rr - 1))


def rr_from_standardised_difference(d: float) -> float:
    """Approximate risk ratio of a standardised mean difference d: exp(0.91 d)."""
    return math.exp(SMD_TO_LOG_RR * d)


def rr_from_odds_ratio(odds_ratio: float, *, common_outcome: bool) -> float:
    """Risk ratio of an odds ratio: sqrt(OR) when the outcome is common (> 15 %), else OR itself."""
    return math.sqrt(odds_ratio) if common_outcome else odds_ratio


def e_values(rr: float, rr_lower: float | None, rr_upper: float | None) -> tuple[float, float | None]:
    """E-values of a risk ratio and of its confidence limit nearest the null (1 if the CI holds 1)."""
    point = e_value_rr(rr)
    if rr_lower is None or rr_upper is None:
        return point, None
    if rr_lower <= 1 <= rr_upper:
        return point, 1.0
    nearest = rr_lower if rr > 1 else rr_upper
    return point, e_value_rr(nearest)


def e_value_of_difference(
    estimate: float, ci_lower: float | None, ci_upper: float | None, outcome_sd: float
) -> EValue:
    """E-values of a difference in means, standardised by the outcome's SD (d = estimate / SD)."""
    if not outcome_sd > 0:
        raise ValueError("the outcome has no spread, so a standardised difference is undefined")

    def rr(value: float | None) -> float | None:
        return None if value is None else rr_from_standardised_difference(value / outcome_sd)

    risk_ratio = rr_from_standardised_difference(estimate / outcome_sd)
    low, high = rr(ci_lower), rr(ci_upper)
    point, ci = e_values(risk_ratio, low, high)
    return EValue(
        point=point,
        ci=ci,
        risk_ratio=risk_ratio,
        rr_lower=low,
        rr_upper=high,
        conversion=(
            f"RR ≈ exp(0.91 d) with d = estimate / SD of the outcome = {estimate / outcome_sd:.3f} "
            "(VanderWeele & Ding 2017)"
        ),
    )


def e_value_of_risk_difference(
    estimate: float, ci_lower: float | None, ci_upper: float | None, baseline_risk: float
) -> EValue:
    """E-values of a risk difference on a binary outcome: RR = (p0 + RD) / p0, p0 the control risk."""
    if not 0 < baseline_risk < 1:
        raise ValueError("the control arm's risk must be strictly between 0 and 1")

    def rr(value: float | None) -> float | None:
        if value is None:
            return None
        return max(baseline_risk + value, 1e-9) / baseline_risk

    risk_ratio = rr(estimate)
    assert risk_ratio is not None
    low, high = rr(ci_lower), rr(ci_upper)
    point, ci = e_values(risk_ratio, low, high)
    return EValue(
        point=point,
        ci=ci,
        risk_ratio=risk_ratio,
        rr_lower=low,
        rr_upper=high,
        conversion=(
            f"binary outcome: RR = (p0 + RD) / p0 with the control arm's risk p0 = {baseline_risk:.3f}"
        ),
    )


# --- Omitted-variable bias (Cinelli & Hazlett 2020) -----------------------------------------------


@dataclass(frozen=True)
class LinearFit:
    """OLS with classical standard errors (as `lm`, which sensemakr reads)."""

    coef: NDArray[np.float64]
    std_error: NDArray[np.float64]
    dof: int
    rss: float
    r2: float


def ols(y: NDArray[np.float64], design: NDArray[np.float64]) -> LinearFit:
    """OLS of y on the design matrix (an intercept column included by the caller)."""
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residuals = y - design @ coef
    rss = float(residuals @ residuals)
    dof = int(design.shape[0] - np.linalg.matrix_rank(design))
    sigma2 = rss / dof if dof > 0 else float("nan")
    covariance = sigma2 * np.linalg.pinv(design.T @ design)
    centred = y - y.mean()
    tss = float(centred @ centred)
    return LinearFit(
        coef=np.asarray(coef, dtype=float),
        std_error=np.sqrt(np.clip(np.diag(covariance), 0, None)),
        dof=dof,
        rss=rss,
        r2=1 - rss / tss if tss > 0 else 0.0,
    )


def partial_r2(t_statistic: float, dof: int) -> float:
    """Partial R² of a regressor from its t-statistic: t² / (t² + dof)."""
    return t_statistic**2 / (t_statistic**2 + dof)


def robustness_value(t_statistic: float, dof: int, *, q: float = 1.0, alpha: float | None = None) -> float:
    """Cinelli & Hazlett's RV_q (and RV_q,alpha): the partial R² a confounder needs with both treatment
    and outcome to reduce the estimate by 100q % (or to make it insignificant at alpha)."""
    fq = q * abs(t_statistic) / math.sqrt(dof)
    if alpha is None:
        return 0.5 * (math.sqrt(fq**4 + 4 * fq**2) - fq**2)
    f_crit = abs(float(stats.t.ppf(alpha / 2, dof - 1))) / math.sqrt(dof - 1)
    fqa = fq - f_crit
    if fqa <= 0:
        return 0.0
    if fq > 1 / f_crit:  # the confounder must explain so much that the closed form changes
        return (fq**2 - f_crit**2) / (1 + fq**2)
    return 0.5 * (math.sqrt(fqa**4 + 4 * fqa**2) - fqa**2)


def benchmark_strength(
    r2dxj_x: float, r2yxj_dx: float, *, kd: float, ky: float | None = None
) -> tuple[float, float]:
    """(R²_{D~Z|X}, R²_{Y~Z|D,X}) of a confounder kd (ky) times as strong as covariate X_j
    (Cinelli & Hazlett 2020, section 6.1; sensemakr's `ovb_partial_r2_bound`)."""
    ky = kd if ky is None else ky
    r2dz_x = kd * r2dxj_x / (1 - r2dxj_x)
    if r2dz_x >= 1:
        raise ValueError("the confounder would explain all of the treatment's residual variance")
    r2zxj_xd = kd * r2dxj_x**2 / ((1 - kd * r2dxj_x) * (1 - r2dxj_x))
    if r2zxj_xd >= 1:
        raise ValueError("the benchmark multiple is too large for this covariate")
    r2yz_dx = ((math.sqrt(ky) + math.sqrt(r2zxj_xd)) / math.sqrt(1 - r2zxj_xd)) ** 2 * (
        r2yxj_dx / (1 - r2yxj_dx)
    )
    return r2dz_x, min(r2yz_dx, 1.0)


def bias(std_error: float, dof: int, r2dz_x: float, r2yz_dx: float) -> float:
    """Largest |bias| of a confounder with these partial R²s: se sqrt(dof R²yz R²dz / (1 - R²dz))."""
    return std_error * math.sqrt(dof * r2yz_dx * r2dz_x / (1 - r2dz_x))


def adjusted_std_error(std_error: float, dof: int, r2dz_x: float, r2yz_dx: float) -> float:
    """Standard error of the estimate had the confounder been adjusted for."""
    return std_error * math.sqrt((1 - r2yz_dx) / (1 - r2dz_x) * dof / (dof - 1))


def adjusted_bound(
    estimate: float,
    std_error: float,
    dof: int,
    r2dz_x: float,
    r2yz_dx: float,
    *,
    alpha: float = 0.05,
) -> tuple[float, float, float, float]:
    """(estimate, se, CI lower, CI upper) after removing the largest bias towards zero."""
    shift = bias(std_error, dof, r2dz_x, r2yz_dx)
    adjusted = math.copysign(abs(estimate) - shift, estimate) if estimate else -shift
    se = adjusted_std_error(std_error, dof, r2dz_x, r2yz_dx)
    crit = float(stats.t.ppf(1 - alpha / 2, dof - 1))
    return adjusted, se, adjusted - crit * se, adjusted + crit * se


def omitted_variable_bias(
    y: NDArray[np.float64],
    treated: NDArray[np.float64],
    covariates: pd.DataFrame,
    groups: Mapping[str, Sequence[str]],
    *,
    alpha: float = 0.05,
    multiples: Sequence[float] = BENCHMARK_MULTIPLES,
    benchmark: str | None = None,
) -> OmittedVariableBias:
    """Cinelli & Hazlett's analysis of the OLS of y on treatment and covariates.

    `groups` maps each observed covariate to its columns of `covariates` (a categorical one has
    several dummies); the bounds are multiples of the covariate whose 1x bound moves the estimate
    most (the strongest benchmark), or of `benchmark` when it is given.
    """
    n = y.shape[0]
    X = covariates.to_numpy(dtype=float)
    full_design = np.column_stack([np.ones(n), treated, X])
    full = ols(y, full_design)
    estimate, se, dof = float(full.coef[1]), float(full.std_error[1]), full.dof
    if dof < 2 or not se > 0:
        raise ValueError("too few residual degrees of freedom for the regression")
    t_statistic = estimate / se
    treatment_fit = ols(treated, np.column_stack([np.ones(n), X])) if X.shape[1] else None
    columns = list(covariates.columns)
    strongest: tuple[float, str, float, float] | None = None
    for name, members in groups.items():
        if benchmark is not None and name != benchmark:
            continue
        keep = [j for j, c in enumerate(columns) if c not in set(members)]
        if len(keep) == len(columns) or treatment_fit is None:
            continue
        if len(keep) == len(columns) - 1:
            # One column: its partial R² from its t-statistic in the two full fits (as sensemakr).
            j = next(j for j, c in enumerate(columns) if c in set(members))
            r2yxj_dx = _column_partial_r2(full, 2 + j)
            r2dxj_x = _column_partial_r2(treatment_fit, 1 + j)
        else:
            # A group (a categorical's dummies): from the residual sums without and with it.
            without_y = ols(y, np.column_stack([np.ones(n), treated, X[:, keep]]))
            r2yxj_dx = _group_partial_r2(without_y.rss, full.rss)
            without_d = ols(treated, np.column_stack([np.ones(n), X[:, keep]]))
            r2dxj_x = _group_partial_r2(without_d.rss, treatment_fit.rss)
        try:
            r2dz, r2yz = benchmark_strength(r2dxj_x, r2yxj_dx, kd=1.0)
        except ValueError:
            continue
        moved = bias(se, dof, r2dz, r2yz)
        if strongest is None or moved > strongest[0]:
            strongest = (moved, name, r2dxj_x, r2yxj_dx)
    bounds: list[BenchmarkBound] = []
    if strongest is not None:
        _, name, r2dxj_x, r2yxj_dx = strongest
        for k in multiples:
            try:
                r2dz, r2yz = benchmark_strength(r2dxj_x, r2yxj_dx, kd=k)
            except ValueError:
                break
            adjusted, adjusted_se, low, high = adjusted_bound(estimate, se, dof, r2dz, r2yz, alpha=alpha)
            bounds.append(
                BenchmarkBound(
                    covariate=name,
                    k=k,
                    r2dz_x=r2dz,
                    r2yz_dx=r2yz,
                    adjusted_estimate=adjusted,
                    adjusted_se=adjusted_se,
                    adjusted_ci_lower=low,
                    adjusted_ci_upper=high,
                )
            )
    return OmittedVariableBias(
        estimate=estimate,
        std_error=se,
        dof=dof,
        partial_r2=partial_r2(t_statistic, dof),
        robustness_value=robustness_value(t_statistic, dof),
        robustness_value_alpha=robustness_value(t_statistic, dof, alpha=alpha),
        alpha=alpha,
        bounds=bounds,
        strongest_covariate=strongest[1] if strongest else None,
    )


def _column_partial_r2(fit: LinearFit, column: int) -> float:
    se = float(fit.std_error[column])
    return partial_r2(float(fit.coef[column]) / se, fit.dof) if se > 0 else 0.0


def _group_partial_r2(rss_without: float, rss_with: float) -> float:
    return max(0.0, (rss_without - rss_with) / rss_without) if rss_without > 0 else 0.0


# --- Rosenbaum bounds (Rosenbaum 2002, ch. 4) -----------------------------------------------------


def rosenbaum_upper_p(differences: NDArray[np.float64], gamma: float) -> float:
    """Upper bound on the one-sided p-value of Wilcoxon's signed-rank test at sensitivity Γ.

    Large-sample approximation (Rosenbaum 2002, section 4.3.3): with p+ = Γ / (1 + Γ), the
    statistic T+ (sum of the ranks of |d| over positive d) is compared with E = p+ Σ r and
    Var = p+ (1 - p+) Σ r². Zero differences are dropped; ties take average ranks.
    """
    d = differences[differences != 0]
    if d.size == 0:
        return 1.0
    ranks = stats.rankdata(np.abs(d))
    t_plus = float(ranks[d > 0].sum())
    p_plus = gamma / (1 + gamma)
    expected = p_plus * float(ranks.sum())
    variance = p_plus * (1 - p_plus) * float((ranks**2).sum())
    return float(stats.norm.sf((t_plus - expected) / math.sqrt(variance)))


def critical_gamma(differences: NDArray[np.float64], *, alpha: float = 0.05) -> float | None:
    """The Γ at which the upper-bound p-value reaches alpha (None: not significant at Γ = 1)."""
    if rosenbaum_upper_p(differences, 1.0) >= alpha:
        return None
    if rosenbaum_upper_p(differences, MAX_GAMMA) < alpha:
        return MAX_GAMMA
    low, high = 1.0, MAX_GAMMA
    for _ in range(80):  # bisection on log Γ; the bound rises monotonically with Γ
        middle = math.sqrt(low * high)
        if rosenbaum_upper_p(differences, middle) < alpha:
            low = middle
        else:
            high = middle
    return math.sqrt(low * high)


def matched_pair_differences(
    y: NDArray[np.float64],
    treated: NDArray[np.int64],
    propensity: NDArray[np.float64],
    *,
    caliper: float = 0.2,
) -> NDArray[np.float64]:
    """Outcome differences of each treated unit and its nearest control on the logit propensity
    (with replacement, within `caliper` SDs of the logit), as matching for the ATT pairs them."""
    logit = np.log(np.clip(propensity, 1e-6, 1 - 1e-6) / np.clip(1 - propensity, 1e-6, 1))
    t_idx, c_idx = np.flatnonzero(treated == 1), np.flatnonzero(treated == 0)
    if t_idx.size == 0 or c_idx.size == 0:
        return np.empty(0)
    order = np.argsort(logit[c_idx], kind="stable")
    controls = logit[c_idx][order]
    position = (
        np.clip(np.searchsorted(controls, logit[t_idx]), 1, controls.size - 1)
        if controls.size > 1
        else np.zeros(t_idx.size, dtype=int)
    )
    left = np.maximum(position - 1, 0)
    pick = np.where(
        np.abs(controls[left] - logit[t_idx]) <= np.abs(controls[position] - logit[t_idx]), left, position
    )
    distance = np.abs(controls[pick] - logit[t_idx])
    limit = caliper * float(logit.std(ddof=1)) if logit.size > 1 else np.inf
    kept = distance <= limit if limit > 0 else np.ones_like(distance, dtype=bool)
    matched_controls = c_idx[order][pick]
    return (y[t_idx] - y[matched_controls])[kept]


def rosenbaum_bounds(
    differences: NDArray[np.float64], *, alpha: float = 0.05, sign: float = 1.0, matching: str = ""
) -> RosenbaumBounds:
    """Γ bounds of the signed-rank test of matched-pair differences in the estimate's direction."""
    d = sign * differences
    return RosenbaumBounds(
        n_pairs=int(d.size),
        critical_gamma=critical_gamma(d, alpha=alpha),
        alpha=alpha,
        curve=[GammaPoint(gamma=g, p_upper=rosenbaum_upper_p(d, g)) for g in GAMMA_GRID],
        matching=matching,
    )


# --- Oster (2019) ---------------------------------------------------------------------------------


def oster_bounds(
    beta_short: float,
    r2_short: float,
    beta_long: float,
    r2_long: float,
    *,
    var_outcome: float,
    var_treatment: float,
    var_treatment_residual: float,
    r_max: float | None = None,
    delta: float = 1.0,
) -> OsterBounds:
    """Oster's δ (for β = 0) and bias-adjusted β* (at `delta`), exactly as psacalc solves them.

    β̊, R̊ come from the regression without covariates, β̃, R̃ from the one with them; σ²_y is the
    outcome's variance, σ²_x the treatment's and τ_x that of the treatment's residual on the
    covariates; R_max = min(1, 1.3 R̃) by default (Oster 2019, JBES 37:187, Proposition 2 and the
    Stata command psacalc that implements it). With v = β̃ - β, A = β̊ - β̃, B = (R̃ - R̊) σ²_y,
    C = (R_max - R̃) σ²_y and K = τ_x σ²_x - τ_x², proportional selection δ gives

        δ(β) = (v B τ_x + v σ²_x τ_x A² + 2 v² τ_x A σ²_x + v³ K)
               / (C A σ²_x + v C (σ²_x - τ_x) + v² τ_x A σ²_x + v³ K),

    so δ for β = 0 is δ(0) with v = β̃, and β* at δ solves the cubic num(v) - δ den(v) = 0
    (a quadratic at δ = 1). Of its real roots psacalc keeps those moving β away from β̃ in the
    direction the covariates moved it (sign(β - β̃) = sign(β̃ - β̊)) and reports the closest to
    β̃; the others are `alternative_roots`.
    """
    r_max = min(1.0, OSTER_R_MAX_FACTOR * r2_long) if r_max is None else r_max
    a = beta_short - beta_long
    b = (r2_long - r2_short) * var_outcome
    c = (r_max - r2_long) * var_outcome
    sx, tau = var_treatment, var_treatment_residual
    k = tau * sx - tau**2

    def numerator(nu: float) -> float:
        return nu * b * tau + nu * sx * tau * a**2 + 2 * nu**2 * tau * a * sx + nu**3 * k

    def denominator(nu: float) -> float:
        return c * a * sx + nu * c * (sx - tau) + nu**2 * tau * a * sx + nu**3 * k

    bound: float | None = None
    if denominator(beta_long) != 0:
        bound = numerator(beta_long) / denominator(beta_long)
    beta_star: float | None = None
    alternatives: list[float] = []
    if a != 0 and c > 0:
        cubic = [
            (1 - delta) * k,
            (2 - delta) * tau * a * sx,
            b * tau + sx * tau * a**2 - delta * c * (sx - tau),
        ]
        roots = np.roots([*cubic, -delta * c * a * sx])
        real = sorted(float(beta_long - r.real) for r in roots if abs(r.imag) <= 1e-9 * max(1.0, abs(r.real)))
        same_way = [x for x in real if np.sign(x - beta_long) == np.sign(beta_long - beta_short)]
        if real:
            beta_star = min(same_way or real, key=lambda x: (x - beta_long) ** 2)
            alternatives = [x for x in real if x != beta_star]
    return OsterBounds(
        beta_short=beta_short,
        r2_short=r2_short,
        beta_long=beta_long,
        r2_long=r2_long,
        r_max=r_max,
        delta=bound,
        beta_star=beta_star,
        alternative_roots=alternatives,
        var_outcome=var_outcome,
        var_treatment=var_treatment,
        var_treatment_residual=var_treatment_residual,
    )


# --- Which measures apply, and the panel -----------------------------------------------------------


def selection_on_observables(estimate: EstimateResult) -> bool:
    """Identified by adjusting for observed covariates (not by a design): hidden confounding threatens it."""
    return estimate.adjustment is not None and estimate.adjustment != Adjustment.DESIGN


def regression_adjusted(estimate: EstimateResult) -> bool:
    """Adjusts through an outcome model, so the linear regression's OVB analysis speaks for it."""
    return estimate.adjustment in (Adjustment.OUTCOME, Adjustment.DOUBLY_ROBUST)


def matched_on_propensity(estimate: EstimateResult) -> bool:
    """Treated units compared with propensity-matched controls: an ATT of a propensity method."""
    return (
        estimate.adjustment in PROPENSITY_BASED
        and estimate.estimand == Estimand.ATT
        and bool(estimate.relies_on_overlap)
    )


def averages_over_units(estimate: EstimateResult) -> bool:
    """An average effect (ATE, ATT, ATC, ATO) with a point estimate the E-value can speak for."""
    return estimate.estimand in (Estimand.ATE, Estimand.ATT, Estimand.ATC, Estimand.ATO)


@dataclass(frozen=True)
class SensitivityData:
    """The complete rows the panel is computed on (the causal gates' sample plus the outcome)."""

    y: NDArray[np.float64]
    treated: NDArray[np.int64]
    covariates: pd.DataFrame
    groups: Mapping[str, Sequence[str]]
    propensity: NDArray[np.float64] | None


def _e_value(estimate: EstimateResult, data: SensitivityData) -> EValue:
    y, treated = data.y, data.treated
    binary = bool(np.isin(np.unique(y), (0.0, 1.0)).all())
    if binary:
        baseline = float(y[treated == 0].mean())
        if 0 < baseline < 1:
            return e_value_of_risk_difference(
                estimate.estimate, estimate.ci_lower, estimate.ci_upper, baseline
            )
    # The pooled within-arm SD: the SD a standardised mean difference divides by.
    sd = math.sqrt((y[treated == 1].var(ddof=1) + y[treated == 0].var(ddof=1)) / 2)
    return e_value_of_difference(estimate.estimate, estimate.ci_lower, estimate.ci_upper, sd)


def sensitivity_panel(
    estimate: EstimateResult,
    data: SensitivityData | None,
    *,
    headline: bool = False,
    alpha: float = 0.05,
    unavailable: str = "the treatment, outcome and covariates are not usable",
) -> SensitivityPanel:
    """Every measure that applies to the estimate, with a note for each that does not."""
    notes: list[str] = []
    e_value = ovb = rosenbaum = oster = None
    if not selection_on_observables(estimate):
        notes.append(
            "Identified by the design (or its adjustment is not stated), not by adjusting for observed "
            "covariates: the design's own tests (pre-trends, instrument strength, density at the "
            "cutoff, pre-period fit) speak for it instead of these measures."
        )
    elif not averages_over_units(estimate):
        notes.append(f"No E-value or bound for the {estimand_words(estimate)}: it is not an average effect.")
    elif data is None:
        notes.append(f"No E-value or bound: {unavailable}.")
    else:
        try:
            e_value = _e_value(estimate, data)
        except ValueError as exc:
            notes.append(f"No E-value: {exc}.")
        if regression_adjusted(estimate) and data.covariates.shape[1]:
            try:
                ovb = omitted_variable_bias(
                    data.y, data.treated.astype(float), data.covariates, data.groups, alpha=alpha
                )
                oster = _oster(data, ovb.estimate)
                ovb = ovb.model_copy(update={"regression": _ovb_regression(estimate, ovb, data)})
                oster = oster.model_copy(
                    update={"regression": _oster_regression(estimate, oster.beta_long, data)}
                )
            except (ValueError, np.linalg.LinAlgError) as exc:
                notes.append(f"No omitted-variable-bias analysis: {exc}.")
        elif regression_adjusted(estimate):
            notes.append("No Cinelli–Hazlett or Oster analysis: no covariates were adjusted for.")
        else:
            notes.append(
                "Cinelli–Hazlett and Oster speak for regression adjustment; this method adjusts "
                "through the propensity only."
            )
        if matched_on_propensity(estimate) and data.propensity is not None:
            differences = matched_pair_differences(data.y, data.treated, data.propensity)
            if differences.size >= 2:
                rosenbaum = rosenbaum_bounds(
                    differences,
                    alpha=alpha,
                    sign=1.0 if estimate.estimate >= 0 else -1.0,
                    matching=(
                        "each treated unit with its nearest control on the logit propensity (with "
                        "replacement, caliper 0.2 SD), Wilcoxon signed-rank test, one-sided"
                    ),
                )
        elif not matched_on_propensity(estimate):
            notes.append("No Rosenbaum bound: the estimate does not compare propensity-matched pairs (ATT).")
    own = (
        estimate_robustness(estimate, alpha=alpha)
        if selection_on_observables(estimate) and averages_over_units(estimate)
        else None
    )
    panel = SensitivityPanel(
        method=estimate.method,
        estimand=estimate.estimand,
        estimate=estimate.estimate,
        headline=headline,
        e_value=e_value,
        omitted_variable_bias=ovb,
        rosenbaum=rosenbaum,
        oster=oster,
        estimate_robustness=own,
        notes=notes,
    )
    return panel.model_copy(update={"summary": summarise(panel)})


DOF_KEY = "df_resid"  # the residual degrees of freedom a regression-type method reports


def estimate_robustness(estimate: EstimateResult, *, alpha: float = 0.05) -> EstimateRobustness | None:
    """RV and partial R² of the estimate itself from t = estimate / SE and the residual dof it
    reports (sensemakr's `sensemakr(estimate, se, dof)`); None when it reports no dof."""
    dof = estimate.diagnostics.get(DOF_KEY)
    if not isinstance(dof, float) or dof <= 0 or not estimate.std_error or estimate.contrasts:
        return None
    t_statistic = estimate.estimate / estimate.std_error
    return EstimateRobustness(
        t_statistic=t_statistic,
        dof=dof,
        partial_r2=partial_r2(t_statistic, int(dof)),
        robustness_value=robustness_value(t_statistic, int(dof)),
        robustness_value_alpha=robustness_value(t_statistic, int(dof), alpha=alpha),
        alpha=alpha,
        source=(
            f"t = {estimate.estimate:.4g} / {estimate.std_error:.4g} ({estimate.inference or 'its SE'}) "
            f"and the {dof:.0f} residual degrees of freedom {estimate.method} reports; sensemakr's "
            "formulas assume a classical SE, so with a robust one the figures are approximate"
        ),
    )


def _same_coefficient(estimate: EstimateResult, coefficient: float) -> bool:
    return abs(coefficient - estimate.estimate) <= 1e-8 * max(1.0, abs(estimate.estimate))


def _ovb_regression(estimate: EstimateResult, ovb: OmittedVariableBias, data: SensitivityData) -> str:
    """Which regression the Cinelli-Hazlett figures come from, and what it is to the estimate."""
    n, k = data.y.size, data.covariates.shape[1]
    fit = (
        f"OLS of the outcome on the treatment, an intercept and {k} covariate column(s), {n} complete "
        f"rows, classical SEs (as sensemakr reads R's lm): coefficient {ovb.estimate:.4g}, SE "
        f"{ovb.std_error:.4g}, {ovb.dof} residual dof. "
    )
    if _same_coefficient(estimate, ovb.estimate):
        return fit + (
            f"That coefficient is {estimate.method}'s estimate itself; only its SE differs "
            f"({estimate.method}'s: {estimate.inference or 'not stated'})."
        )
    return fit + (
        f"It is not {estimate.method}'s estimate ({estimate.estimand} {estimate.estimate:.4g}): the "
        f"figures say how a hidden confounder would move this regression, and speak for "
        f"{estimate.method} only insofar as it adjusts for the same covariates, so that a confounder "
        "biasing one biases the other alike"
        + (
            "."
            if estimate_robustness(estimate) is not None
            else f"; {estimate.method} reports no residual degrees of freedom, so its own RV cannot be computed."
        )
    )


def _oster_regression(estimate: EstimateResult, beta_long: float, data: SensitivityData) -> str:
    """Which regressions Oster's β̊ and β̃ come from, and what β̃ is to the estimate."""
    relation = (
        f"β̃ is {estimate.method}'s estimate itself"
        if _same_coefficient(estimate, beta_long)
        else f"β̃ = {beta_long:.4g} is not {estimate.method}'s estimate ({estimate.estimate:.4g})"
    )
    return (
        f"β̊, R̊ from OLS of the outcome on the treatment alone; β̃, R̃ from OLS with the "
        f"{data.covariates.shape[1]} covariate column(s) too ({data.y.size} complete rows); {relation}."
    )


def _oster(data: SensitivityData, beta_long: float) -> OsterBounds:
    """Oster's bounds from the regressions without and with the covariates (psacalc's inputs)."""
    n = data.y.size
    treated = data.treated.astype(float)
    covariates = np.column_stack([np.ones(n), data.covariates.to_numpy(dtype=float)])
    short = ols(data.y, np.column_stack([np.ones(n), treated]))
    long = ols(data.y, np.column_stack([np.ones(n), treated, covariates[:, 1:]]))
    residual = ols(treated, covariates)
    return oster_bounds(
        float(short.coef[1]),
        short.r2,
        beta_long,
        long.r2,
        var_outcome=float(data.y.var(ddof=1)),
        var_treatment=float(treated.var(ddof=1)),
        var_treatment_residual=residual.rss / (n - 1),
    )


def estimand_words(estimate: EstimateResult) -> str:
    """The estimand as a reader says it."""
    return str(estimate.estimand)


def summarise(panel: SensitivityPanel) -> str:
    """What the measures say about the estimate, in plain words."""
    parts: list[str] = []
    if panel.e_value is not None:
        ev = panel.e_value
        ci = (
            " and the confidence interval already includes no effect"
            if ev.ci == 1.0
            else f"; to move its confidence interval to include no effect, {ev.ci:.2f}"
            if ev.ci is not None
            else ""
        )
        parts.append(
            f"A hidden confounder would need a risk-ratio association of {ev.point:.2f} with both "
            f"treatment and outcome to explain the estimate away{ci}"
        )
    if panel.omitted_variable_bias is not None:
        ovb = panel.omitted_variable_bias
        text = (
            f"one explaining {ovb.robustness_value:.1%} of the residual variance of both would bring "
            f"it to zero ({ovb.robustness_value_alpha:.1%} to make it insignificant at "
            f"α = {ovb.alpha:g})"
        )
        one = next((b for b in ovb.bounds if b.k == 1.0), None)
        if one is not None:
            crosses = one.adjusted_ci_lower <= 0 <= one.adjusted_ci_upper
            text += (
                f"; a confounder as strong as {one.covariate} would leave {one.adjusted_estimate:.3g} "
                + ("and an interval that includes zero" if crosses else "with an interval that excludes zero")
            )
        parts.append(text)
    own = panel.estimate_robustness
    ovb_is_own = panel.omitted_variable_bias is not None and math.isclose(
        panel.omitted_variable_bias.estimate, panel.estimate, rel_tol=1e-8, abs_tol=1e-12
    )
    if panel.omitted_variable_bias is not None and not ovb_is_own:
        parts[-1] += f" (of the OLS regression with the same covariates, not of {panel.method}'s estimate)"
    if own is not None:
        parts.append(
            f"for {panel.method}'s own estimate (t = {own.t_statistic:.2f}, {own.dof:.0f} dof) RV is "
            f"{own.robustness_value:.1%} ({own.robustness_value_alpha:.1%} at α = {own.alpha:g})"
        )
    if panel.rosenbaum is not None:
        gamma = panel.rosenbaum.critical_gamma
        parts.append(
            "the matched comparison is not significant even without hidden bias"
            if gamma is None
            else f"the matched comparison stays significant until hidden bias multiplies the odds of "
            f"treatment by Γ = {gamma:.2f}"
        )
    if panel.oster is not None and panel.oster.delta is not None:
        oster = panel.oster
        star = f", β* = {oster.beta_star:.3g}" if oster.beta_star is not None else ""
        parts.append(
            f"unobservables would have to matter {abs(oster.delta):.2f} times as much as the observed "
            f"covariates to make it zero (Oster δ, R_max = {oster.r_max:.2f}{star})"
        )
    if not parts:
        return f"No sensitivity measure applies to this estimate. {panel.notes[0]}" if panel.notes else ""
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def covariate_groups(columns: Sequence[str], covariates: Sequence[str]) -> dict[str, list[str]]:
    """Each mapped covariate and its columns of the covariate matrix (a categorical one's dummies)."""
    groups: dict[str, list[str]] = {}
    for name in covariates:
        members = [c for c in columns if c == name or c.startswith(f"{name}=")]
        if members:
            groups[name] = members
    return groups
