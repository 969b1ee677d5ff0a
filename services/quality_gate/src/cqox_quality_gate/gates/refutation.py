"""Refutation gates: the placebo checks the estimator's refuter pool ran, judged against thresholds.

One gate per refuter and refuted method (`placebo_treatment[ols]`), `applies_to` naming the
method. The estimator reports what happened on the changed data; the thresholds live here:

- placebo_treatment, placebo_outcome, placebo_adoption: the 'effect' where the true one is zero;
  fails when its p-value is below `min_placebo_p` (so a sound method fails in about that share
  of analyses, by chance);
- data_subset: the 80 % subsample estimates against the full one (a synthetic control: each donor
  that carries weight left out in turn); fails when they move more than the standard error
  explains (p below `min_subset_p`);
- random_common_cause: fails when an independent random covariate moves the estimate by more than
  `max_random_cause_shift_se` of its standard errors.
"""

from __future__ import annotations

from collections.abc import Sequence

from cqox_contracts.v1 import GateResult, Refutation, Refuter
from cqox_quality_gate.gates.thresholds import GateThresholds

_P_VALUE_REFUTERS = {Refuter.PLACEBO_TREATMENT, Refuter.PLACEBO_OUTCOME, Refuter.PLACEBO_ADOPTION}


def threshold_of(refutation: Refutation, thresholds: GateThresholds) -> float:
    """The threshold a refutation's value is held against."""
    if refutation.refuter == Refuter.RANDOM_COMMON_CAUSE:
        return thresholds.max_random_cause_shift_se
    if refutation.refuter == Refuter.DATA_SUBSET:
        return thresholds.min_subset_p
    return thresholds.min_placebo_p


def value_of(refutation: Refutation) -> float | None:
    """The number the gate judges: a shift in SEs (random common cause) or a p-value."""
    if refutation.refuter == Refuter.RANDOM_COMMON_CAUSE:
        return refutation.shift_se
    return refutation.p_value


def rejects(refutation: Refutation, thresholds: GateThresholds) -> bool:
    """Whether the refutation casts doubt on its method's estimate."""
    value = value_of(refutation)
    if value is None or refutation.error is not None:
        return False
    limit = threshold_of(refutation, thresholds)
    if refutation.refuter == Refuter.RANDOM_COMMON_CAUSE:
        return value > limit
    return value < limit


def refutation_gates(refutations: Sequence[Refutation], thresholds: GateThresholds) -> list[GateResult]:
    """One causal gate per refutation run, in the order the estimator reported them (a check that
    does not apply to its method, `not_applicable`, is no gate: the report lists it with its reason)."""
    return [_gate(r, thresholds) for r in refutations if r.not_applicable is None]


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def _gate(refutation: Refutation, thresholds: GateThresholds) -> GateResult:
    name = f"{refutation.refuter}[{refutation.method}]"
    limit = threshold_of(refutation, thresholds)
    details: dict[str, float | str | None] = {
        "refuter": refutation.refuter,
        "change": refutation.change,
        "estimate": refutation.estimate,
        "refuted_estimate": refutation.refuted_estimate,
        "refuted_std_error": refutation.refuted_std_error,
        "p_value": refutation.p_value,
        "shift_se": refutation.shift_se,
        "seed": None if refutation.seed is None else float(refutation.seed),
    }
    for i, draw in enumerate(refutation.draws if len(refutation.draws) > 1 else []):
        details[f"draw_{i + 1}"] = draw
    if refutation.error is not None or value_of(refutation) is None:
        return GateResult(
            name=name,
            category="causal",
            threshold=limit,
            passed=False,
            severity="info",
            message=(
                f"The {refutation.refuter.replace('_', ' ')} check of {refutation.method} could not run: "
                f"{refutation.error or 'no standard error to judge it by'}."
            ),
            applies_to=[refutation.method],
            details=details,
        )
    failed = rejects(refutation, thresholds)
    return GateResult(
        name=name,
        category="causal",
        threshold=limit,
        value=value_of(refutation),
        passed=not failed,
        severity="warning",  # how serious a failure is (the verdict counts a pass as a passed check)
        message=_message(refutation, failed, limit),
        applies_to=[refutation.method],
        details=details,
    )


def _message(r: Refutation, failed: bool, limit: float) -> str:
    method, placebo = r.method, _num(r.refuted_estimate)
    se, p = _num(r.refuted_std_error), _num(r.p_value)
    if r.refuter == Refuter.PLACEBO_TREATMENT:
        if not failed:
            return (
                f"With a placebo treatment ({r.change}), {method} finds {placebo} "
                f"(SE {se}, p = {p}): no effect where there is none, as it should."
            )
        return (
            f"With a placebo treatment ({r.change}) {method} still finds an 'effect' of "
            f"{placebo} (SE {se}, p = {p} < {limit:g}) where the truth is zero. By chance this happens "
            f"in {limit:.0%} of sound analyses (re-run with another seed to see); if it persists, the "
            "method's inference is too optimistic (a standard error too small, or donors too unlike "
            "one another for their placebos to calibrate it) or it picks up structure unrelated to "
            "treatment: prefer the methods that pass this check."
        )
    if r.refuter == Refuter.PLACEBO_OUTCOME:
        if not failed:
            return (
                f"{method} finds no effect of the treatment on an outcome it cannot have moved "
                f"({r.change}): {placebo} (SE {se}, p = {p})."
            )
        return (
            f"{method} finds an 'effect' of the treatment on an outcome it cannot have moved ({r.change}): "
            f"{placebo} (SE {se}, p = {p} < {limit:g}). The treated and the controls differed already "
            "before treatment in ways the covariates do not capture (hidden confounding, or units "
            "anticipating the treatment): adjust for the pre-treatment outcome and other pre-treatment "
            "measures, or use a design that does not rest on no unmeasured confounding (DiD, IV, RD)."
        )
    if r.refuter == Refuter.PLACEBO_ADOPTION:
        if not failed:
            return (
                f"With adoption moved into the pre-period ({r.change}), {method} finds {placebo} "
                f"(SE {se}, p = {p}): treated and comparison units moved in parallel before adoption."
            )
        return (
            f"With adoption moved into the pre-period ({r.change}), {method} finds an 'effect' of "
            f"{placebo} (SE {se}, p = {p} < {limit:g}) before anything happened: treated and comparison "
            "units were already diverging (parallel trends fails, or a synthetic control stops tracking "
            "the treated unit once past the periods it was fitted on) or units anticipated the "
            "treatment. Read the event-study leads or the gap path before adoption; if the treatment "
            "started earlier than the data say, move the adoption date; otherwise consider covariates "
            "that explain the trends, another comparison group or donor pool."
        )
    if r.refuter == Refuter.RANDOM_COMMON_CAUSE:
        shift = _num(r.shift_se, 2)
        if not failed:
            return (
                f"Adding an independent random covariate moves {method}'s estimate from {_num(r.estimate)} "
                f"to {placebo} ({shift} standard errors, at most {limit:g} allowed): it does not lean "
                "on irrelevant inputs."
            )
        return (
            f"Adding an independent random covariate moves {method}'s estimate from {_num(r.estimate)} to "
            f"{placebo}, {shift} standard errors (more than {limit:g}): a variable that matters for "
            "nothing should not move it. The estimate rests on a fragile fit (many covariates for few "
            "rows, near-collinear covariates, matches or weights that change with any input): prefer "
            "a method that passes, or fewer covariates."
        )
    shift = _num(r.shift_se, 2)
    if not failed:
        return (
            f"On {r.change}, {method}'s estimate moves by at most {shift} standard errors, as sampling "
            f"explains (p = {p})."
        )
    return (
        f"On {r.change}, {method}'s estimate moves by up to {shift} standard errors, more than sampling "
        f"explains (p = {p} < {limit:g}): it leans on a few rows or units (outliers, extreme weights, "
        "thin strata, the one donor a synthetic control is made of) or its standard error is too "
        "small. Look for influential rows, extreme weights or a donor with a shock of its own; trim, "
        "drop that donor from the pool, or use a method that passes."
    )
