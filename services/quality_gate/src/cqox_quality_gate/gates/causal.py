"""Causal gates: covariate balance and propensity overlap, judged after estimation.

The covariate matrix and the propensity model are the ones the methods use (`cqox_shared.causal`),
so a gate judges the data the methods fit. Which estimates a failed gate casts doubt on is decided
from what each result declares about itself (`adjustment`, `relies_on_overlap`, `estimand`), never
from a list of method names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cqox_contracts.v1 import (
    PROPENSITY_BASED,
    Adjustment,
    Design,
    Estimand,
    EstimateResult,
    GateResult,
    RoleMapping,
)
from cqox_quality_gate.gates.reported import reported_gates
from cqox_quality_gate.gates.thresholds import GateThresholds
from cqox_quality_gate.gates.treatment import code_treatment
from cqox_shared.causal.covariates import CovariateError, aliased_columns
from cqox_shared.causal.covariates import covariate_matrix as shared_covariate_matrix
from cqox_shared.causal.propensity import propensity_scores

# Propensities are clipped this far from 0 and 1 before weighting, only to avoid division by zero.
PROPENSITY_EPSILON = 1e-6


def unadjusted(estimate: EstimateResult) -> bool:
    """Raw imbalance confounds it: a contrast of arm means with no covariate adjustment."""
    return estimate.adjustment == Adjustment.NONE


def leans_on_propensity(estimate: EstimateResult) -> bool:
    """Residual imbalance after weighting undermines it: it weights or matches on the propensity."""
    return estimate.adjustment in PROPENSITY_BASED


def needs_two_sided_overlap(estimate: EstimateResult) -> bool:
    """Units without a counterpart in the other arm, on either side, undermine it (ATE-type)."""
    return bool(estimate.relies_on_overlap) and estimate.estimand != Estimand.ATT


# What a method reports when it leaves out the treated beyond every control's propensity.
OUTSIDE_SUPPORT_KEY = "n_treated_outside_support"


def trims_to_common_support(estimate: EstimateResult) -> bool:
    """It leaves out the treated beyond every control's propensity and says how many (its ATT is
    the effect on the treated within the controls' support)."""
    return isinstance(estimate.diagnostics.get(OUTSIDE_SUPPORT_KEY), int | float)


def needs_treated_overlap(estimate: EstimateResult) -> bool:
    """Treated units without comparable controls undermine it (an ATT needs only that side),
    unless it leaves them out itself."""
    return (
        bool(estimate.relies_on_overlap)
        and estimate.estimand == Estimand.ATT
        and not trims_to_common_support(estimate)
    )


@dataclass(frozen=True)
class CausalSample:
    """Rows used by the causal gates: complete in treatment, outcome and covariates."""

    treated: np.ndarray
    covariates: pd.DataFrame
    n_dropped: int
    dropped_covariates: tuple[str, ...] = ()
    outcome: np.ndarray | None = None  # on the same rows, when an outcome is mapped


def covariate_matrix(frame: pd.DataFrame, covariates: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The methods' covariate matrix as a frame, and the columns left out (constant or aliased).

    Raises `CovariateError` when a covariate cannot enter it (e.g. an identifier-like category).
    """
    matrix = shared_covariate_matrix({c: frame[c] for c in covariates}, covariates, len(frame))
    X, names = matrix.X, matrix.names
    aliased = [j - 1 for j in aliased_columns(np.column_stack([np.ones(len(frame)), X]))] if names else []
    kept = [j for j in range(len(names)) if j not in aliased]
    columns = pd.DataFrame(X[:, kept], index=frame.index, columns=[names[j] for j in kept])
    return columns, [*matrix.constant, *(names[j] for j in aliased)]


def fit_propensity(covariates: pd.DataFrame, treated: np.ndarray) -> np.ndarray:
    """P(treated | covariates) from the propensity model the methods fit."""
    return propensity_scores(np.asarray(treated, dtype=np.int64), covariates.to_numpy(dtype=float))


def ate_weights(propensity: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """Inverse-propensity weights for the ATE: 1/e for treated, 1/(1-e) for control."""
    clipped = np.clip(propensity, PROPENSITY_EPSILON, 1 - PROPENSITY_EPSILON)
    return np.where(treated == 1, 1 / clipped, 1 / (1 - clipped))


def estimand_weights(propensity: np.ndarray, treated: np.ndarray, estimand: str) -> np.ndarray:
    """The propensity weights that target `estimand`: ATT odds weights (treated 1, control
    e/(1-e)), ATO overlap weights (treated 1-e, control e; Li, Morgan & Zaslavsky 2018), ATC
    (treated (1-e)/e, control 1), else the ATE's inverse-propensity weights."""
    clipped = np.clip(propensity, PROPENSITY_EPSILON, 1 - PROPENSITY_EPSILON)
    if estimand == Estimand.ATT:
        return np.where(treated == 1, 1.0, clipped / (1 - clipped))
    if estimand == Estimand.ATO:
        return np.where(treated == 1, 1 - clipped, clipped)
    if estimand == Estimand.ATC:
        return np.where(treated == 1, (1 - clipped) / clipped, 1.0)
    return ate_weights(propensity, treated)


# What a weighting or matching method reports as the covariate imbalance left by its own weights.
OWN_BALANCE_KEY = "max_abs_smd_after"


def standardized_differences(
    covariates: pd.DataFrame, treated: np.ndarray, weights: np.ndarray | None = None
) -> dict[str, float]:
    """Treated-minus-control SMD per covariate (optionally weighted means).

    The denominator is always the unweighted pooled SD, sqrt((var_t + var_c) / 2), so a change after
    weighting reflects moved means only; when both arms are constant the overall SD is used instead.
    """
    values = covariates.to_numpy(dtype=float)
    is_treated = treated == 1
    x_treated, x_control = values[is_treated], values[~is_treated]
    pooled = np.sqrt((x_treated.var(axis=0, ddof=1) + x_control.var(axis=0, ddof=1)) / 2)
    overall = values.std(axis=0, ddof=1)
    scale = np.where(pooled > 0, pooled, overall)
    if weights is None:
        diff = x_treated.mean(axis=0) - x_control.mean(axis=0)
    else:
        diff = np.average(x_treated, axis=0, weights=weights[is_treated]) - np.average(
            x_control, axis=0, weights=weights[~is_treated]
        )
    smd = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
    return {name: float(value) for name, value in zip(covariates.columns, smd, strict=True)}


def _flagged(estimates: list[EstimateResult], applies: Callable[[EstimateResult], bool]) -> list[str]:
    """The methods (each once) whose results `applies` to."""
    flagged: list[str] = []
    for estimate in estimates:
        if applies(estimate) and estimate.method not in flagged:
            flagged.append(estimate.method)
    return flagged


def _cannot_assess(reason: str, thresholds: GateThresholds) -> list[GateResult]:
    return [
        GateResult(
            name=name,
            category="causal",
            threshold=threshold,
            value=None,
            passed=False,
            severity="error",
            message=(f"{what} cannot be assessed because {reason}; fix the treatment mapping or data."),
        )
        for name, what, threshold in (
            ("balance_smd", "Covariate balance", thresholds.max_abs_smd),
            ("propensity_overlap", "Propensity overlap", thresholds.min_overlap_share),
        )
    ]


def _balance_gate(
    sample: CausalSample,
    propensity: np.ndarray,
    estimates: list[EstimateResult],
    thresholds: GateThresholds,
) -> list[GateResult]:
    limit = thresholds.max_abs_smd
    base: dict[str, float | str | None] = {
        "n_used": float(len(sample.treated)),
        "n_dropped": float(sample.n_dropped),
        "dropped_covariate_columns": ", ".join(sample.dropped_covariates),
    }
    if sample.covariates.shape[1] == 0:
        return [
            GateResult(
                name="balance_smd",
                category="causal",
                threshold=limit,
                value=None,
                passed=True,
                severity="info",
                message=(
                    "No covariates are mapped, so balance is trivially satisfied; map pre-treatment "
                    "covariates unless treatment was randomised."
                ),
                details={**base, "n_covariates": 0.0},
            )
        ]
    before = standardized_differences(sample.covariates, sample.treated)
    after = standardized_differences(
        sample.covariates, sample.treated, ate_weights(propensity, sample.treated)
    )
    worst_before = max(before, key=lambda name: abs(before[name]))
    worst_after = max(after, key=lambda name: abs(after[name]))
    max_before, max_after = abs(before[worst_before]), abs(after[worst_after])
    raw_passed = max_before <= limit
    unadjusted_present = ", ".join(_flagged(estimates, unadjusted))
    unadjusted_phrase = (
        f"the unadjusted estimates ({unadjusted_present}) are"
        if unadjusted_present
        else "unadjusted comparisons are"
    )
    raw_gate = GateResult(
        name="raw_balance_smd",
        category="causal",
        threshold=limit,
        value=max_before,
        passed=raw_passed,
        severity="warning",
        message=(
            f"Raw covariates are balanced: max |SMD| {max_before:.2f} ≤ {limit:.2f}, so unadjusted "
            "comparisons are not visibly confounded by the mapped covariates."
            if raw_passed
            else f"Raw covariates are imbalanced: max |SMD| {max_before:.2f} > {limit:.2f} ({worst_before}), "
            f"so {unadjusted_phrase} prone to confounding; rely on covariate-adjusted estimates."
        ),
        applies_to=[] if raw_passed else _flagged(estimates, unadjusted),
        details={**base, "worst": worst_before},
    )
    judged = _judge_each_method(sample, propensity, estimates, limit)
    weighting = [method for method, _, _ in judged]
    applies_to = [method for method, value, _ in judged if value > limit]
    # With propensity-based methods present, the gate passes when each balances by its own
    # weights; without any, it reports the ATE weighting's balance.
    passed = not applies_to if judged else max_after <= limit
    by_method = "; ".join(f"{method} {value:.2f} ({how})" for method, value, how in judged)
    if passed:
        message = (
            f"Covariate balance after weighting is good: max |SMD| ≤ {limit:.2f} for every "
            f"weighting or matching method ({by_method}; raw {max_before:.2f})."
            if judged
            else f"Covariate balance after weighting is good: max |SMD| {max_after:.2f} ≤ {limit:.2f} "
            f"(raw {max_before:.2f})."
        )
    elif judged:
        message = (
            f"Covariates stay imbalanced under the weights of {', '.join(applies_to)}: max |SMD| "
            f"above {limit:.2f} ({by_method}; under inverse-propensity ATE weights the worst is "
            f"{worst_after}, {max_after:.2f}); add transformations or interactions of it, or trim "
            "to the overlap region."
        )
    else:
        message = (
            f"Covariates stay imbalanced after weighting: max |SMD| {max_after:.2f} > {limit:.2f} "
            f"({worst_after}); add transformations or interactions of it, or trim to the "
            "overlap region."
        )
    details: dict[str, float | str | None] = {
        **base,
        "n_covariates": float(sample.covariates.shape[1]),
        "max_smd_before": max_before,
        "max_smd_after": max_after,
        "worst_before": worst_before,
        "worst_after": worst_after,
        "weighting": "inverse propensity (ATE), the methods' logistic propensity on standardised covariates",
        "methods_judged": ", ".join(weighting),
    }
    for method, value, how in judged:
        details[f"max_smd[{method}]"] = value
        details[f"max_smd_weights[{method}]"] = how
    for name in sample.covariates.columns:
        details[f"smd_before:{name}"] = before[name]
        details[f"smd_after:{name}"] = after[name]
    return [
        raw_gate,
        GateResult(
            name="balance_smd",
            category="causal",
            threshold=limit,
            # the worst method's imbalance under its own weights (else the ATE weighting's)
            value=max((value for _, value, _ in judged), default=max_after),
            passed=passed,
            severity="warning",
            message=message,
            applies_to=applies_to,
            details=details,
        ),
    ]


def _judge_each_method(
    sample: CausalSample, propensity: np.ndarray, estimates: list[EstimateResult], limit: float
) -> list[tuple[str, float, str]]:
    """Per propensity-based method: the largest |SMD| its weights leave, and which weights.

    A method that reports the imbalance its own weights or matches leave (`max_abs_smd_after`:
    matching, overlap weights, entropy balancing) is judged by it; another by the propensity
    weights of its estimand (ATE, ATT, ATO), from the methods' shared propensity model. Overlap
    weights balance every covariate of a logistic propensity exactly by construction, so judging
    them with ATE weights flagged them for imbalance they do not have.
    """
    cache: dict[str, float] = {}
    judged: list[tuple[str, float, str]] = []
    for estimate in estimates:
        if not leans_on_propensity(estimate) or any(m == estimate.method for m, _, _ in judged):
            continue
        own = estimate.diagnostics.get(OWN_BALANCE_KEY)
        if isinstance(own, int | float) and np.isfinite(own):
            judged.append((estimate.method, float(own), "its own weights"))
            continue
        estimand = str(estimate.estimand)
        if estimand not in cache:
            weights = estimand_weights(propensity, sample.treated, estimand)
            smd = standardized_differences(sample.covariates, sample.treated, weights)
            cache[estimand] = max(abs(v) for v in smd.values())
        label = estimand if estimand in (Estimand.ATT, Estimand.ATO, Estimand.ATC) else Estimand.ATE
        judged.append((estimate.method, cache[estimand], f"{label} propensity weights"))
    return judged


def _overlap_gates(
    sample: CausalSample,
    propensity: np.ndarray,
    estimates: list[EstimateResult],
    thresholds: GateThresholds,
) -> list[GateResult]:
    """Two-sided overlap (for ATE-type estimands) and treated-side overlap (for the ATT)."""
    lower, upper = thresholds.propensity_lower, thresholds.propensity_upper
    below, above = propensity < lower, propensity > upper
    share = float(1 - (below | above).mean())
    is_treated = sample.treated == 1
    # The ATT needs only the treated side: a treated unit has comparable controls when its
    # propensity lies within the controls' own range (Dehejia & Wahba 1999's common support).
    # A propensity above `propensity_upper` alone is no lack of support when the controls reach
    # it (a large control reservoir, as PSID's for the NSW treated): those treated are matched to
    # few controls, which effective_sample_size judges, not extrapolated.
    control_low, control_high = propensity[~is_treated].min(), propensity[~is_treated].max()
    outside_support = (propensity[is_treated] > control_high) | (propensity[is_treated] < control_low)
    n_treated = int(is_treated.sum())
    n_outside = int(outside_support.sum())
    treated_share = float(1 - outside_support.mean())
    bounds = f"[{lower:.2f}, {upper:.2f}]"
    details: dict[str, float | str | None] = {
        "n_used": float(len(propensity)),
        "n_dropped": float(sample.n_dropped),
        "n_below_lower": float(below.sum()),
        "n_above_upper": float(above.sum()),
        "n_outside": float((below | above).sum()),
        "n_treated_above_upper": float(above[is_treated].sum()),
        "n_treated": float(n_treated),
        "n_treated_outside_support": float(n_outside),
        "treated_overlap_share": treated_share,
        "propensity_min_treated": float(propensity[is_treated].min()),
        "propensity_max_treated": float(propensity[is_treated].max()),
        "propensity_min_control": float(propensity[~is_treated].min()),
        "propensity_max_control": float(propensity[~is_treated].max()),
        "propensity_lower": lower,
        "propensity_upper": upper,
        "propensity_model": (
            "the methods' logistic regression on standardised covariates"
            if sample.covariates.shape[1]
            else "constant treated share (no covariates)"
        ),
    }
    passed = share >= thresholds.min_overlap_share
    flagged = [] if passed else _flagged(estimates, needs_two_sided_overlap)
    if passed:
        message = (
            f"Propensity overlap is good: {share:.1%} of units have a propensity in {bounds} "
            f"(≥ {thresholds.min_overlap_share:.0%})."
        )
    else:
        doubted = f" This casts doubt on {', '.join(flagged)}." if flagged else ""
        message = (
            f"Only {share:.1%} of units have a propensity in {bounds} "
            f"(< {thresholds.min_overlap_share:.0%}): many units have no comparable counterpart in "
            "the other arm, so average effects over everyone (ATE) rest on extrapolation by the "
            f"outcome model or on extreme weights.{doubted} Read the ATT (if the treated have "
            "comparable controls) or the overlap-population effect (ATO), or trim to the overlap region."
        )
    treated_passed = treated_share >= thresholds.min_overlap_share
    treated_flagged = [] if treated_passed else _flagged(estimates, needs_treated_overlap)
    support = f"within the controls' propensity range [{control_low:.3g}, {control_high:.3g}]"
    if treated_passed and n_outside == 0:
        treated_message = (
            f"The treated have comparable controls: all {n_treated} treated units have a propensity "
            f"{support}, so ATT estimates do not rest on extrapolation."
        )
    elif treated_passed:
        treated_message = (
            f"{treated_share:.1%} of treated units have a propensity {support} (≥ "
            f"{thresholds.min_overlap_share:.0%}); {n_outside} of {n_treated} lie beyond every control "
            "(Dehejia & Wahba 1999's common support), so the ATT the data support is the effect on "
            f"the other {n_treated - n_outside}: methods that trim to the support leave those "
            f"{n_outside} out and say so (n_treated_outside_support)."
        )
    else:
        trimming = _flagged(estimates, trims_to_common_support)
        trimmed = (
            f" {', '.join(trimming)} left them out: its ATT is the effect on the other "
            f"{n_treated - n_outside} treated, the estimand these data support."
            if trimming
            else " Trim those treated units (psm does by default) or read the overlap-population "
            "effect (ATO)."
        )
        treated_message = (
            f"Only {treated_share:.1%} of treated units have a propensity {support} "
            f"(< {thresholds.min_overlap_share:.0%}): {n_outside} of {n_treated} treated units have no "
            f"comparable control (Dehejia & Wahba 1999's common support), so an ATT over all the "
            f"treated extrapolates for them.{trimmed}"
        )
    return [
        GateResult(
            name="propensity_overlap",
            category="causal",
            threshold=thresholds.min_overlap_share,
            value=share,
            passed=passed,
            severity="error" if share < thresholds.overlap_error_share else "warning",
            message=message,
            applies_to=flagged,
            details=details,
        ),
        GateResult(
            name="treated_overlap",
            category="causal",
            threshold=thresholds.min_overlap_share,
            value=treated_share,
            passed=treated_passed,
            severity="error" if treated_share < thresholds.overlap_error_share else "warning",
            message=treated_message,
            applies_to=treated_flagged,
            details={
                k: details[k]
                for k in (
                    "n_used",
                    "n_treated",
                    "n_treated_outside_support",
                    "n_treated_above_upper",
                    "propensity_upper",
                    "propensity_min_control",
                    "propensity_max_control",
                )
            },
        ),
    ]


def causal_sample(df: pd.DataFrame, roles: RoleMapping) -> CausalSample | str:
    """Complete rows in treatment, outcome and covariates, or why the gates cannot run.

    Covariates absent from the data or equal to the treatment/outcome column are left out.
    """
    treatment = roles.treatment
    if not treatment or treatment not in df.columns:
        return "no treatment column is available"
    outcome = roles.outcome if roles.outcome in df.columns else None
    covariates = [
        name
        for name in dict.fromkeys(roles.covariates)
        if name in df.columns and name not in (treatment, outcome)
    ]
    used = [treatment, *covariates, *([outcome] if outcome and outcome != treatment else [])]
    # Infinite values are as unusable as missing ones: both drop the row.
    frame = df[used].replace([np.inf, -np.inf], np.nan).dropna()
    coding = code_treatment(frame[treatment], roles.treatment_coding)
    if not coding.is_binary or coding.indicator is None:
        return f"treatment {treatment!r} does not have two arms in the complete rows"
    if min(coding.n_treated, coding.n_control) < 2:
        return f"treatment {treatment!r} has fewer than two complete rows in an arm"
    try:
        matrix, left_out = covariate_matrix(frame, covariates)
    except CovariateError as exc:
        return exc.reason
    return CausalSample(
        treated=coding.indicator.to_numpy(dtype=int),
        covariates=matrix,
        n_dropped=len(df) - len(frame),
        dropped_covariates=tuple(left_out),
        outcome=(
            pd.to_numeric(frame[outcome], errors="coerce").to_numpy(dtype=float)
            if outcome and outcome != treatment and pd.api.types.is_numeric_dtype(frame[outcome])
            else None
        ),
    )


# Balance and propensity overlap between treated and untreated rows say nothing about these
# designs: difference-in-differences compares changes, not levels; IV treatment is confounded by
# design (the instrument is what must be as good as random); and RD treats by the running
# variable, so there is no overlap by construction; a synthetic control compares one treated
# unit with a weighted mix of donors, not treated rows with untreated ones. Their own reported
# tests judge them.
DESIGNS_JUDGED_BY_REPORTED_TESTS = frozenset(
    {Design.PANEL, Design.REPEATED_CROSS_SECTION, Design.IV, Design.RD, Design.SYNTHETIC_CONTROL}
)


def causal_gates(
    df: pd.DataFrame,
    roles: RoleMapping,
    estimates: list[EstimateResult],
    thresholds: GateThresholds,
    design: str | None = None,
) -> list[GateResult]:
    """Judge covariate balance (SMD before/after IPW) and propensity overlap per arm, plus the
    tests methods report themselves (pre-trends, instrument strength, RD manipulation and
    covariate continuity); panel, IV and RD designs get only the latter."""
    trends = reported_gates(estimates, thresholds)
    if design in DESIGNS_JUDGED_BY_REPORTED_TESTS:
        return trends
    arms = _contrasted_arms(estimates)
    if arms is not None and roles.treatment in df.columns:
        return [*_per_arm_gates(df, roles, estimates, thresholds, *arms), *trends]
    return [*_binary_gates(df, roles, estimates, thresholds), *trends]


def _binary_gates(
    df: pd.DataFrame, roles: RoleMapping, estimates: list[EstimateResult], thresholds: GateThresholds
) -> list[GateResult]:
    sample = causal_sample(df, roles)
    if isinstance(sample, str):
        return _cannot_assess(sample, thresholds)
    propensity = fit_propensity(sample.covariates, sample.treated)
    return [
        *_balance_gate(sample, propensity, estimates, thresholds),
        *_overlap_gates(sample, propensity, estimates, thresholds),
    ]


def _contrasted_arms(estimates: list[EstimateResult]) -> tuple[str, list[str]] | None:
    """The reference and the other arms of a multi-arm analysis, from the estimates' contrasts."""
    for estimate in estimates:
        if estimate.contrasts:
            return estimate.contrasts[0].reference, [c.arm for c in estimate.contrasts]
    return None


def _per_arm_gates(
    df: pd.DataFrame,
    roles: RoleMapping,
    estimates: list[EstimateResult],
    thresholds: GateThresholds,
    reference: str,
    arms: list[str],
) -> list[GateResult]:
    """Balance and overlap of each arm against the reference, as `<gate>[<arm> vs <reference>]`."""
    labels = df[roles.treatment].astype(str).str.strip()
    gates: list[GateResult] = []
    for arm in arms:
        pair = df[labels.isin([arm, reference])]
        coded = roles.model_copy(update={"treatment_coding": {reference: 0, arm: 1}})
        pair = pair.assign(**{roles.treatment: labels[pair.index]})
        for gate in _binary_gates(pair, coded, estimates, thresholds):
            gates.append(gate.model_copy(update={"name": f"{gate.name}[{arm} vs {reference}]"}))
    return gates
