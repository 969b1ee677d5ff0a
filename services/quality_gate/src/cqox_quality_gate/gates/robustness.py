"""Robustness gates and the sensitivity panels, judged after estimation.

- `e_value`: the headline's E-value must reach `min_e_value` (a warning below it);
- `vif`: collinear covariates inflate the variance of the regression-type methods;
- `weak_overlap_share` and `effective_sample_size`: how much weighting leans on a few units;
- `sample_ratio_mismatch`: an experiment's arms must have the sizes it was designed with;
- `pre_period_fit`: a synthetic control must track the treated unit before adoption.

Which estimates a failed gate casts doubt on is decided from what each declares about itself
(`adjustment`, `relies_on_overlap`, `estimand`) or from the diagnostics it reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from cqox_contracts.v1 import (
    PROPENSITY_BASED,
    Design,
    Estimand,
    EstimateResult,
    GateResult,
    Headline,
    RoleMapping,
    SensitivityPanel,
)
from cqox_quality_gate.gates.causal import (
    DESIGNS_JUDGED_BY_REPORTED_TESTS,
    CausalSample,
    ate_weights,
    causal_sample,
    estimand_weights,
    fit_propensity,
)
from cqox_quality_gate.gates.sensitivity import (
    SensitivityData,
    covariate_groups,
    regression_adjusted,
    sensitivity_panel,
)
from cqox_quality_gate.gates.thresholds import GateThresholds
from cqox_quality_gate.gates.treatment import code_treatment

PRE_RMSPE_KEY = "pre_rmspe"
# `AnalysisSpec.sensitivity` value asking for a panel on every method.
EVERY_METHOD = "all"
RANDOMISED_NOTE = (
    "Treatment was randomised, so no confounder can explain the effect unless randomisation failed "
    "(sample_ratio_mismatch checks the arms' sizes); the E-value is shown for reference, not gated."
)


@dataclass(frozen=True)
class Assessment:
    """The robustness gates and the sensitivity panels of one analysis."""

    gates: list[GateResult]
    panels: list[SensitivityPanel]


def _methods(estimates: Sequence[EstimateResult], applies: object) -> list[str]:
    chosen: list[str] = []
    for estimate in estimates:
        if applies(estimate) and estimate.method not in chosen:  # type: ignore[operator]
            chosen.append(estimate.method)
    return chosen


def vif_gate(
    covariates: pd.DataFrame, estimates: Sequence[EstimateResult], thresholds: GateThresholds
) -> GateResult | None:
    """Largest variance inflation factor of the covariates, when a regression-type method used them."""
    regression = _methods(estimates, regression_adjusted)
    if not regression or covariates.shape[1] < 2:
        return None
    values = covariates.to_numpy(dtype=float)
    correlation = np.corrcoef(values, rowvar=False)
    try:
        inflation = np.diag(np.linalg.inv(correlation))
    except np.linalg.LinAlgError:
        inflation = np.full(values.shape[1], np.inf)
    vifs = {name: float(v) for name, v in zip(covariates.columns, inflation, strict=True)}
    worst = max(vifs, key=lambda name: vifs[name])
    value, limit = vifs[worst], thresholds.max_vif
    passed = value <= limit
    top = sorted(vifs.items(), key=lambda item: -item[1])[:10]
    return GateResult(
        name="vif",
        category="causal",
        threshold=limit,
        value=value,
        passed=passed,
        severity="warning",
        message=(
            f"The covariates are not collinear: the largest variance inflation factor is {value:.2f} "
            f"({worst}) ≤ {limit:g}."
            if passed
            else f"Covariate {worst} is nearly a linear combination of the others (VIF {value:.1f} > "
            f"{limit:g}): the regression-type estimates ({', '.join(regression)}) are not biased by it, "
            "but their outcome models are unstable and their standard errors inflated; drop or "
            "combine the redundant covariates."
        ),
        applies_to=[] if passed else regression,
        details={f"vif:{name}": v for name, v in top},
    )


def overlap_weight_gates(
    sample: CausalSample,
    propensity: np.ndarray,
    estimates: Sequence[EstimateResult],
    thresholds: GateThresholds,
) -> list[GateResult]:
    """Share of units with weak overlap, and Kish's effective sample size after IPW per arm."""
    margin = thresholds.weak_overlap_margin
    weak = (propensity < margin) | (propensity > 1 - margin)
    share = float(weak.mean())
    overlap_methods = _methods(estimates, lambda e: bool(e.relies_on_overlap))
    weak_passed = share <= thresholds.max_weak_overlap_share
    gates = [
        GateResult(
            name="weak_overlap_share",
            category="causal",
            threshold=thresholds.max_weak_overlap_share,
            value=share,
            passed=weak_passed,
            severity="warning",
            message=(
                f"{share:.1%} of units have a propensity outside [{margin:g}, {1 - margin:g}] "
                f"(≤ {thresholds.max_weak_overlap_share:.0%}): few units sit where one arm is rare."
                if weak_passed
                else f"{share:.1%} of units have a propensity outside [{margin:g}, {1 - margin:g}] "
                f"(> {thresholds.max_weak_overlap_share:.0%}): there one arm is rare, so the methods "
                "that rely on overlap lean on a few units or on extrapolation. Trim to "
                f"[{margin:g}, {1 - margin:g}] (Crump et al. 2009) or read the ATT or ATO."
            ),
            applies_to=[] if weak_passed else overlap_methods,
            details={"n_weak": float(weak.sum()), "n_used": float(weak.size), "margin": margin},
        )
    ]
    # Each weighting method is judged by the weights of its own estimand: ATE inverse-propensity
    # weights explode where one arm is rare, overlap weights are bounded by construction, ATT
    # weights leave the treated at 1.
    by_estimand: dict[str, dict[str, float]] = {}
    judged: dict[str, str] = {}
    for estimate in estimates:
        if estimate.adjustment not in PROPENSITY_BASED or estimate.method in judged:
            continue
        estimand = str(estimate.estimand)
        key = estimand if estimand in (Estimand.ATT, Estimand.ATO, Estimand.ATC) else Estimand.ATE.value
        judged[estimate.method] = key
        if key not in by_estimand:
            by_estimand[key] = _kish(estimand_weights(propensity, sample.treated, key), sample.treated)
    ate = by_estimand.get(Estimand.ATE.value) or _kish(
        ate_weights(propensity, sample.treated), sample.treated
    )
    failing = [m for m, key in judged.items() if by_estimand[key]["share"] < thresholds.min_ess_share]
    ess_passed = not failing if judged else ate["share"] >= thresholds.min_ess_share
    worst_key = min(by_estimand, key=lambda k: by_estimand[k]["share"]) if by_estimand else Estimand.ATE.value
    worst = by_estimand.get(worst_key, ate)
    value = worst["share"]
    by_weights = "; ".join(
        f"{key} weights {numbers['share']:.0%} (Kish: {numbers['treated']:.0f} treated, "
        f"{numbers['control']:.0f} control; {', '.join(m for m, k in judged.items() if k == key)})"
        for key, numbers in by_estimand.items()
    ) or (
        f"ATE weights {ate['share']:.0%} (Kish: {ate['treated']:.0f} treated, {ate['control']:.0f} control)"
    )
    details: dict[str, float | str | None] = {f"ess_{k}": v for k, v in ate.items() if k != "share"}
    for key, numbers in by_estimand.items():
        details[f"ess_share[{key}]"] = numbers["share"]
    gates.append(
        GateResult(
            name="effective_sample_size",
            category="causal",
            threshold=thresholds.min_ess_share,
            value=value,
            passed=ess_passed,
            severity="warning",
            message=(
                f"The weights keep at least {thresholds.min_ess_share:.0%} of each arm's rows as "
                f"effective sample, judged by each method's estimand: {by_weights}."
                if ess_passed
                else f"The weights of {', '.join(failing)} leave less than {thresholds.min_ess_share:.0%} of "
                f"an arm's rows as effective sample ({by_weights}): a few heavily weighted units drive "
                "those estimates. Trim extreme propensities or use overlap weights."
            ),
            applies_to=failing,
            details=details,
        )
    )
    return gates


def _kish(weights: np.ndarray, treated: np.ndarray) -> dict[str, float]:
    """Kish's effective sample size per arm, and the smaller arm's as a share of its rows."""
    out: dict[str, float] = {}
    for arm, label in ((1, "treated"), (0, "control")):
        w = weights[treated == arm]
        out[label] = float(w.sum() ** 2 / (w**2).sum()) if w.size and (w**2).sum() > 0 else 0.0
        out[f"{label}_share"] = out[label] / w.size if w.size else 0.0
    out["share"] = min(out["treated_share"], out["control_share"])
    return out


def sample_ratio_gate(
    df: pd.DataFrame, roles: RoleMapping, estimates: Sequence[EstimateResult], thresholds: GateThresholds
) -> GateResult | None:
    """Chi-square test of the treated share against the experiment's planned allocation.

    The plan is what the analysis spec states (`thresholds.srm_expected_treated_share`, or the
    deployment's): nothing in the data says how an experiment meant to split its units, and a
    method's default (diff_in_means reports 0.5 unless told otherwise) is no plan. Without one the
    gate only reports the observed share (severity info) and flags nothing.
    """
    if not roles.treatment or roles.treatment not in df.columns:
        return None
    coding = code_treatment(df[roles.treatment].dropna(), roles.treatment_coding)
    if not coding.is_binary or coding.indicator is None:
        return None
    expected_share = thresholds.srm_expected_treated_share
    n_treated, n_control = coding.n_treated, coding.n_control
    n = n_treated + n_control
    observed = n_treated / n
    details: dict[str, float | str | None] = {
        "n_treated": float(n_treated),
        "n_control": float(n_control),
        "observed_treated_share": observed,
        "expected_treated_share": expected_share,
    }
    if expected_share is None:
        return GateResult(
            name="sample_ratio_mismatch",
            category="causal",
            threshold=thresholds.min_srm_p,
            value=None,
            passed=True,
            severity="info",
            message=(
                f"{observed:.1%} of the experiment's units are treated ({n_treated} of {n}); no "
                "planned allocation is stated, so no sample ratio mismatch can be tested. State the "
                "planned treated share as the analysis threshold srm_expected_treated_share."
            ),
            details=details,
        )
    test = stats.chisquare([n_treated, n_control], f_exp=[expected_share * n, (1 - expected_share) * n])
    p_value = float(test.pvalue)
    passed = p_value >= thresholds.min_srm_p
    return GateResult(
        name="sample_ratio_mismatch",
        category="causal",
        threshold=thresholds.min_srm_p,
        value=p_value,
        passed=passed,
        severity="warning",
        message=(
            f"The arms have the planned sizes: {observed:.1%} treated against {expected_share:.0%} "
            f"planned (χ² p = {p_value:.3g} ≥ {thresholds.min_srm_p:g})."
            if passed
            else f"Sample ratio mismatch: {observed:.1%} treated against {expected_share:.0%} planned "
            f"(χ² p = {p_value:.3g} < {thresholds.min_srm_p:g}). Units were lost or moved between arms "
            "unevenly, so the arms may no longer be comparable as randomised; find where the counts "
            "diverge before trusting any estimate (if the split was planned otherwise, correct the "
            "analysis threshold srm_expected_treated_share)."
        ),
        applies_to=[] if passed else [e.method for e in estimates],
        details={**details, "chi2": float(test.statistic)},
    )


def pre_period_fit_gate(
    df: pd.DataFrame, roles: RoleMapping, estimates: Sequence[EstimateResult], thresholds: GateThresholds
) -> GateResult | None:
    """Pre-adoption RMSPE of the synthetic controls relative to the outcome's SD."""
    reported = {
        e.method: float(v)
        for e in estimates
        if isinstance(v := e.diagnostics.get(PRE_RMSPE_KEY), int | float)
    }
    if not reported or not roles.outcome or roles.outcome not in df.columns:
        return None
    outcome = pd.to_numeric(df[roles.outcome], errors="coerce").dropna()
    scale = float(outcome.std(ddof=1)) if outcome.size > 1 else 0.0
    if not scale > 0:
        return None
    shares = {method: value / scale for method, value in reported.items()}
    worst = max(shares, key=lambda m: shares[m])
    value, limit = shares[worst], thresholds.max_pre_rmspe_share
    failing = sorted(m for m, share in shares.items() if share > limit)
    return GateResult(
        name="pre_period_fit",
        category="causal",
        threshold=limit,
        value=value,
        passed=not failing,
        severity="warning",
        message=(
            f"The synthetic control tracks the treated unit before adoption: pre-period RMSPE "
            f"{reported[worst]:.3g} is {value:.1%} of the outcome's SD ({scale:.3g}), ≤ {limit:.0%}."
            if not failing
            else f"The synthetic control misses the treated unit before adoption: pre-period RMSPE "
            f"{reported[worst]:.3g} is {value:.1%} of the outcome's SD ({scale:.3g}), > {limit:.0%}. "
            "No weighted mix of the donors reproduces its path, so the post-adoption gap mixes the "
            "effect with that misfit; add donors or predictors, or use a method that allows a "
            "level difference (difference in differences)."
        ),
        applies_to=failing,
        details={f"pre_rmspe[{m}]": v for m, v in reported.items()} | {"outcome_sd": scale},
    )


def e_value_gate(panel: SensitivityPanel, thresholds: GateThresholds) -> GateResult | None:
    """The headline's E-value against `min_e_value` (a warning: robustness, not a test)."""
    if panel.e_value is None:
        return None
    value, limit = panel.e_value.point, thresholds.min_e_value
    passed = value >= limit
    ci = panel.e_value.ci
    ci_text = f"; for the confidence limit nearest no effect, {ci:.2f}" if ci is not None else ""
    return GateResult(
        name="e_value",
        category="causal",
        threshold=limit,
        value=value,
        passed=passed,
        severity="warning",
        message=(
            f"To explain the headline {panel.estimand} away, a hidden confounder would need a risk-ratio "
            f"association of {value:.2f} with both treatment and outcome{ci_text} (≥ {limit:g})."
            if passed
            else f"A hidden confounder with a risk-ratio association of only {value:.2f} with both "
            f"treatment and outcome could explain the headline {panel.estimand} away{ci_text} "
            f"(< {limit:g}): weaker than many measured confounders are. Name the likely unmeasured "
            "causes and argue they are weaker, or measure them."
        ),
        applies_to=[] if passed else [panel.method],
        details={
            "estimand": panel.estimand,  # the report words its message from the fields
            "e_value_ci": ci,
            "risk_ratio": panel.e_value.risk_ratio,
            "conversion": panel.e_value.conversion,
        },
    )


def sensitivity_data(
    sample: CausalSample | str, propensity: np.ndarray | None, covariates: Sequence[str]
) -> SensitivityData | None:
    """The rows and columns the panels are computed on, if the outcome is numeric."""
    if isinstance(sample, str) or sample.outcome is None:
        return None
    y = np.asarray(sample.outcome, dtype=float)
    if not np.isfinite(y).all() or y.std() == 0:
        return None
    return SensitivityData(
        y=y,
        treated=sample.treated.astype(np.int64),
        covariates=sample.covariates,
        groups=covariate_groups(list(sample.covariates.columns), list(covariates)),
        propensity=propensity,
    )


def _panel_targets(
    estimates: Sequence[EstimateResult], headline: Headline | None, requested: Sequence[str]
) -> list[tuple[EstimateResult, bool]]:
    """The headline's estimate first, then every requested method's (each once)."""
    targets: list[tuple[EstimateResult, bool]] = []
    lead = (
        next((e for e in estimates if e.method == headline.method and e.estimand == headline.estimand), None)
        if headline
        else None
    )
    if lead is not None:
        targets.append((lead, True))
    wanted = set(requested)
    for estimate in estimates:
        if estimate is lead:
            continue
        if EVERY_METHOD in wanted or estimate.method in wanted:
            targets.append((estimate, False))
    return targets


def assess_robustness(
    df: pd.DataFrame,
    roles: RoleMapping,
    estimates: Sequence[EstimateResult],
    headline: Headline | None,
    thresholds: GateThresholds,
    design: str | None = None,
    requested: Sequence[str] = (),
) -> Assessment:
    """The robustness gates and the sensitivity panels (headline first) of one analysis."""
    gates: list[GateResult] = []
    single_arm = not any(e.contrasts for e in estimates)
    sample: CausalSample | str = "a multi-valued treatment has no single treated-control contrast"
    propensity: np.ndarray | None = None
    if single_arm:
        sample = causal_sample(df, roles)
    if design == Design.EXPERIMENT and single_arm:
        gate = sample_ratio_gate(df, roles, estimates, thresholds)
        gates += [gate] if gate else []
    if (gate := pre_period_fit_gate(df, roles, estimates, thresholds)) is not None:
        gates.append(gate)
    if not isinstance(sample, str) and design not in DESIGNS_JUDGED_BY_REPORTED_TESTS:
        if (gate := vif_gate(sample.covariates, estimates, thresholds)) is not None:
            gates.append(gate)
        if sample.covariates.shape[1]:
            propensity = fit_propensity(sample.covariates, sample.treated)
            gates += overlap_weight_gates(sample, propensity, estimates, thresholds)
    data = sensitivity_data(sample, propensity, roles.covariates)
    unavailable = sample if isinstance(sample, str) else "the outcome is not numeric or has no spread"
    panels = [
        sensitivity_panel(
            estimate, data, headline=is_headline, alpha=thresholds.sensitivity_alpha, unavailable=unavailable
        )
        for estimate, is_headline in _panel_targets(estimates, headline, requested)
    ]
    # In an experiment randomisation rules confounding out (sample_ratio_mismatch checks that it
    # held): the E-value stays in the panel but is no reason for doubt.
    randomised = design == Design.EXPERIMENT
    if randomised:
        panels = [
            p.model_copy(update={"notes": [*p.notes, RANDOMISED_NOTE]}) if p.e_value is not None else p
            for p in panels
        ]
    elif panels and panels[0].headline and (gate := e_value_gate(panels[0], thresholds)) is not None:
        gates.append(gate)
    return Assessment(gates=gates, panels=panels)
