"""Gates judged from a test the estimators themselves report in their diagnostics.

Each check reads one diagnostic (a p-value or a statistic that must reach a threshold) from every
estimate that reports it: parallel pre-trends (panel methods), instrument strength (IV) and, for
regression discontinuity, manipulation of the running variable and jumps in the covariates at the
cutoff. A check no estimate reports yields no gate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cqox_contracts.v1 import EstimateResult, GateResult
from cqox_quality_gate.gates.thresholds import GateThresholds

PRETREND_KEY = "pretrend_p_value"


@dataclass(frozen=True)
class ReportedCheck:
    """One gate over a reported diagnostic that must be at least `limit(thresholds)`."""

    name: str
    key: str
    limit: Callable[[GateThresholds], float]
    failed: Callable[[float, float], str]  # (worst value, limit) -> message
    passed: Callable[[float, float], str]
    # "at_least": a value below the limit fails (p-values, F); "at_most": above it fails (spreads).
    bound: str = "at_least"


CHECKS = (
    ReportedCheck(
        name="parallel_trends",
        key=PRETREND_KEY,
        limit=lambda t: t.min_pretrend_p,
        failed=lambda value, limit: (
            f"Treated and comparison units already diverged before treatment (pre-trend p = "
            f"{value:.3g} < {limit:g}): parallel trends is doubtful, so the difference-in-differences "
            "estimates may reflect the earlier drift. Add unit-specific trends or covariates, or "
            "choose comparison units that moved together before treatment."
        ),
        passed=lambda value, limit: (
            f"No pre-trend detected: the event-study leads are jointly insignificant (p = {value:.3g} "
            f"≥ {limit:g}). This cannot prove parallel trends; it finds no evidence against them."
        ),
    ),
    ReportedCheck(
        name="weak_instrument",
        key="first_stage_f",
        limit=lambda t: t.min_first_stage_f,
        failed=lambda value, limit: (
            f"The instrument is weak: first-stage F = {value:.3g} < {limit:g}, so the 2SLS estimate "
            "is biased towards OLS and its Wald interval is too narrow. Read the Anderson-Rubin "
            "confidence set in the diagnostics (valid however weak the instrument), or find a "
            "stronger instrument."
        ),
        passed=lambda value, limit: (
            f"The instrument is strong enough: first-stage F = {value:.3g} ≥ {limit:g}. Exclusion "
            "and independence of the instrument cannot be tested from the data; argue them."
        ),
    ),
    ReportedCheck(
        name="treated_clusters",
        key="n_treated_clusters",
        limit=lambda t: float(t.min_treated_clusters),
        failed=lambda value, limit: (
            f"Only {value:.0f} treated cluster(s) (< {limit:g}): cluster-robust standard errors rest "
            "on the treated clusters' residuals and are far too small with so few (Conley and Taber "
            "2011), so the interval and p-value overstate certainty. Read the synthetic control's "
            "placebo inference, or a wild cluster bootstrap, for the uncertainty."
        ),
        passed=lambda value, limit: (
            f"{value:.0f} treated clusters (≥ {limit:g}): enough for cluster-robust standard errors."
        ),
    ),
    ReportedCheck(
        name="unstable_across_seeds",
        key="seed_spread_se",
        limit=lambda t: t.max_seed_spread_se,
        bound="at_most",
        failed=lambda value, limit: (
            f"A re-run with another seed moves the estimate by {value:.2g} standard errors (> {limit:g}): "
            "the result depends on the random cross-fitting folds or matching ties more than its "
            "interval admits, so the same file uploaded twice could tell a different story. Read it "
            "as unstable: more folds, a flexible but regularised first stage, or more data."
        ),
        passed=lambda value, limit: (
            f"Re-run with a second seed, every seed-dependent estimate moved by at most {value:.2g} "
            f"standard errors (≤ {limit:g})."
        ),
    ),
    ReportedCheck(
        name="rd_manipulation",
        key="density_test_p",
        limit=lambda t: t.min_density_p,
        failed=lambda value, limit: (
            f"The density of the running variable jumps at the cutoff (manipulation test p = "
            f"{value:.3g} < {limit:g}): units may have sorted themselves across it, so those just "
            "above and just below are not comparable. Check how the running variable is assigned; "
            "a donut RD (rd_robust's option `donut`, leaving out the units nearest the cutoff) shows "
            "how much the estimate depends on them."
        ),
        passed=lambda value, limit: (
            f"No sign of manipulation: the running variable's density is continuous at the cutoff "
            f"(p = {value:.3g} ≥ {limit:g}, Cattaneo-Jansson-Ma test)."
        ),
    ),
    ReportedCheck(
        name="rd_covariate_continuity",
        key="covariate_jump_min_p",
        limit=lambda t: t.min_covariate_jump_p,
        failed=lambda value, limit: (
            f"A pre-treatment covariate jumps at the cutoff (smallest p = {value:.3g} < {limit:g}): "
            "units on the two sides differ in more than treatment, so the jump in the outcome may "
            "not be the effect. Look at that covariate's RD plot and at how the cutoff was set."
        ),
        passed=lambda value, limit: (
            f"The covariates are continuous at the cutoff (smallest placebo p = {value:.3g} ≥ "
            f"{limit:g}), as they should be if only treatment changes there."
        ),
    ),
)


def reported_gates(estimates: list[EstimateResult], thresholds: GateThresholds) -> list[GateResult]:
    """One gate per check that at least one estimate reports; failing estimates are named."""
    return [gate for check in CHECKS if (gate := _gate(check, estimates, thresholds)) is not None]


def _gate(
    check: ReportedCheck, estimates: list[EstimateResult], thresholds: GateThresholds
) -> GateResult | None:
    reported = {
        e.method: float(v) for e in estimates if isinstance(v := e.diagnostics.get(check.key), int | float)
    }
    if not reported:
        return None
    limit = check.limit(thresholds)
    if check.bound == "at_most":
        failing = sorted(method for method, value in reported.items() if value > limit)
        worst = max(reported.values())
    else:
        failing = sorted(method for method, value in reported.items() if value < limit)
        worst = min(reported.values())
    return GateResult(
        name=check.name,
        category="causal",
        threshold=limit,
        value=worst,
        passed=not failing,
        severity="warning",
        message=check.failed(worst, limit) if failing else check.passed(worst, limit),
        applies_to=failing,
        details={f"{check.key}[{method}]": value for method, value in sorted(reported.items())},
    )
