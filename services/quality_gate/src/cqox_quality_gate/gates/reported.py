"""Gates judged from a test the estimators themselves report in their diagnostics.

Each check reads one diagnostic (a p-value or a statistic that must reach a threshold) from every
estimate that reports it: parallel pre-trends (panel methods), instrument strength (IV) and, for
regression discontinuity, manipulation of the running variable and jumps in the covariates at the
cutoff. A check no estimate reports yields no gate.

`linear_misspecification` is judged from a diagnostic of the doubly robust methods but flags other
methods: those whose models are linear (they say so in their diagnostics), when the data show
that flexible nuisance models move the doubly robust answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cqox_contracts.v1 import EstimateResult, GateResult
from cqox_quality_gate.gates.thresholds import GateThresholds

PRETREND_KEY = "pretrend_p_value"
# Reported by the doubly robust methods that chose flexible nuisances out of fold over linear ones.
LINEAR_SHIFT_KEY = "linear_nuisance_shift_se"
# How an estimate's seed spread was measured (a second fit, a partial refit) or why it was not.
SEED_HOW_KEY = "seed_stability"


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
        name="rd_weak_first_stage",
        key="rd_first_stage_f",
        limit=lambda t: t.min_first_stage_f,
        failed=lambda value, limit: (
            f"The treatment barely jumps at the cutoff: first-stage F = {value:.3g} < {limit:g} (the "
            "jump in the treatment share over its standard error, squared; the weak-instrument rule "
            "of thumb), so the fuzzy RD estimate divides the outcome's jump by a jump "
            "indistinguishable from zero: biased, unstable, its interval unreliable. State a "
            "bandwidth wide enough for the treatment jump to be measured (rd_robust's option "
            "`bandwidth`), or read the outcome's own jump at the cutoff (the intention-to-treat)."
        ),
        passed=lambda value, limit: (
            f"The treatment jumps clearly at the cutoff: first-stage F = {value:.3g} ≥ {limit:g}."
        ),
    ),
    ReportedCheck(
        name="rd_mass_points",
        key="rd_support_points",
        limit=lambda t: float(t.min_rd_support_points),
        failed=lambda value, limit: (
            f"The running variable is discrete near the cutoff: only {value:.0f} distinct value(s) "
            f"within the bandwidth on one side (< {limit:g}). Local polynomial RD and its "
            "data-driven bandwidth assume a continuous running variable; with mass points the fit "
            "on each side rests on a handful of cohorts and extrapolates across the gap to the "
            "cutoff. State a bandwidth spanning more values (rd_robust's option `bandwidth`) and "
            "read the estimate as a comparison of the nearest cohorts (Kolesar & Rothe 2018)."
        ),
        passed=lambda value, limit: (
            f"The running variable takes at least {value:.0f} distinct values within the bandwidth "
            f"on each side of the cutoff (≥ {limit:g})."
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
            "the result depends on the random cross-fitting folds, a forest's subsamples or matching "
            "ties more than its interval admits, so the same file uploaded twice could tell a "
            "different story. Read it as unstable: more folds, more trees, a flexible but "
            "regularised first stage, or more data."
        ),
        passed=lambda value, limit: (
            f"Re-run with a second seed (fits over the time budget: their cheaper partial refit, a "
            f"lower bound), every seed-dependent estimate moved by at most {value:.2g} standard "
            f"errors (≤ {limit:g})."
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
    gates = [gate for check in CHECKS if (gate := _gate(check, estimates, thresholds)) is not None]
    gates = [_with_unmeasured_seeds(gate, estimates) for gate in gates]
    if not any(g.name == "unstable_across_seeds" for g in gates):
        gates += _seeds_not_measured(estimates, thresholds)
    misspecification = linear_misspecification_gate(estimates, thresholds)
    return [*gates, misspecification] if misspecification is not None else gates


def _seeds_not_measured(estimates: list[EstimateResult], thresholds: GateThresholds) -> list[GateResult]:
    """The seed gate when no estimate measured its spread but some could not: an unjudged (info)
    gate naming them, as a refuter that could not run is named, so the report does not read as
    though the estimates had no seed to depend on."""
    unmeasured = sorted(
        e.method
        for e in estimates
        if isinstance(how := e.diagnostics.get(SEED_HOW_KEY), str) and how.startswith("not measured")
    )
    if not unmeasured:
        return []
    return [
        GateResult(
            name="unstable_across_seeds",
            category="causal",
            threshold=thresholds.max_seed_spread_se,
            passed=False,
            severity="info",
            message=(
                f"Not measured for {', '.join(unmeasured)}: the first fit overran the time budget "
                "for a second one, so how far another seed would move the estimate is unknown. "
                "Run the analysis again with another `seed` (or the method's `random_state` option) to see."
            ),
            applies_to=unmeasured,
        )
    ]


def _with_unmeasured_seeds(gate: GateResult, estimates: list[EstimateResult]) -> GateResult:
    """The seed gate's message also names the seed-dependent estimates whose spread was not
    measured (a fit over the second-seed time budget with no cheaper refit) and how each was."""
    if gate.name != "unstable_across_seeds":
        return gate
    unmeasured = sorted(
        e.method
        for e in estimates
        if isinstance(how := e.diagnostics.get(SEED_HOW_KEY), str) and how.startswith("not measured")
    )
    bounded = sorted(
        e.method
        for e in estimates
        if isinstance(how := e.diagnostics.get(SEED_HOW_KEY), str) and "lower bound" in how
    )
    notes = []
    if bounded:
        notes.append(f"For {', '.join(bounded)} the spread is a lower bound (a partial refit).")
    if unmeasured:
        notes.append(
            f"Not measured for {', '.join(unmeasured)}: the first fit overran the time budget for a "
            "second one; re-upload with another seed to see how far it moves."
        )
    if not notes:
        return gate
    return gate.model_copy(update={"message": " ".join([gate.message, *notes])})


def uses_linear_models(estimate: EstimateResult) -> bool:
    """Whether an estimate rests on linear outcome or propensity models only, as it reports."""
    diagnostics = estimate.diagnostics
    if diagnostics.get("model_form") == "linear" or diagnostics.get("base_model") == "linear":
        return True
    return diagnostics.get("outcome_model") == "linear" and diagnostics.get("propensity_model") == "linear"


def linear_misspecification_gate(
    estimates: list[EstimateResult], thresholds: GateThresholds
) -> GateResult | None:
    """Flag the linear-model methods when flexible nuisances move the doubly robust estimate.

    The doubly robust methods cross-fit linear and LightGBM nuisances on the same folds and keep
    the ones with the smaller out-of-fold loss; when they keep a flexible one they also report
    their estimate with the linear ones, as a shift in standard errors. A shift above
    `max_linear_shift_se` is the data saying that linear models miss confounding structure: every
    method resting on linear models only is named. No gate when no method reports the shift.
    """
    reported = {
        e.method: float(v)
        for e in estimates
        if isinstance(v := e.diagnostics.get(LINEAR_SHIFT_KEY), int | float)
    }
    if not reported:
        return None
    limit = thresholds.max_linear_shift_se
    worst_method = max(reported, key=reported.__getitem__)
    worst = reported[worst_method]
    linear = sorted(e.method for e in estimates if uses_linear_models(e))
    failing = linear if worst > limit else []
    if worst > limit:
        misfit = next(e.diagnostics for e in estimates if e.method == worst_method)
        r2 = misfit.get("linear_misfit_outcome_r2")
        detail = (
            f" (the flexible outcome model explains {r2:.1%} more of the outcome's variance)"
            if isinstance(r2, float) and r2 > 0
            else ""
        )
        message = (
            f"Linear models miss the confounding in these data: with linear instead of the flexible "
            f"nuisances it chose out of fold, {worst_method}'s estimate moves by {worst:.2g} standard "
            f"errors (> {limit:g}){detail}. Methods resting on linear outcome or propensity models "
            f"only ({', '.join(linear) or 'none here'}) are likely biased; read the doubly robust "
            "methods with flexible nuisances and the forests."
        )
    else:
        message = (
            f"Linear models fit these data: replacing the flexible nuisances by linear ones moves the "
            f"doubly robust estimate by at most {worst:.2g} standard errors (≤ {limit:g})."
        )
    return GateResult(
        name="linear_misspecification",
        category="causal",
        threshold=limit,
        value=worst,
        passed=not failing,
        severity="warning",
        message=message,
        applies_to=failing,
        details={f"{LINEAR_SHIFT_KEY}[{method}]": value for method, value in sorted(reported.items())},
    )


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
