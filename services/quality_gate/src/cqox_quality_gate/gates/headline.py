"""Triangulation within an estimand, and the one headline an analysis leads with.

Estimates of different estimands are never pooled: an ATE and an ATT differ whenever effects vary,
so a median across them answers no question. Methods are compared only with the others of their
estimand (`method_disagreement`), and the headline is one estimand, chosen from the design and
from whether the data support it (overlap), with the reason said in words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from cqox_contracts.v1 import Design, Estimand, EstimateResult, GateResult, Headline
from cqox_quality_gate.gates.thresholds import GateThresholds

# The estimand each design identifies; selection-on-observables designs lead with the ATE when
# overlap supports it (see `_estimand_for`).
DESIGN_ESTIMAND = {
    Design.IV: Estimand.LATE,
    Design.RD: Estimand.LATE,
    Design.PANEL: Estimand.ATT,
    Design.REPEATED_CROSS_SECTION: Estimand.ATT,
    Design.SYNTHETIC_CONTROL: Estimand.ATT,
}
# When the preferred estimand has no estimate, the next one with estimates leads.
FALLBACK_ORDER = (Estimand.ATE, Estimand.ATT, Estimand.ATO, Estimand.LATE, Estimand.ATC)


def _usable(estimate: EstimateResult) -> bool:
    return math.isfinite(estimate.estimate) and estimate.std_error is not None and estimate.std_error > 0


def disagreement_gates(estimates: Sequence[EstimateResult], thresholds: GateThresholds) -> list[GateResult]:
    """One `method_disagreement` gate per estimand with two or more methods.

    Two methods disagree when their estimates differ by more than `max_disagreement_z` standard
    errors of the difference (sqrt(se_a^2 + se_b^2), as if independent: conservative, since
    estimates from one data set are positively correlated). A method is flagged when it disagrees
    with at least half of the others of its estimand, so one outlier does not flag the rest.
    """
    limit = thresholds.max_disagreement_z
    groups: dict[str, list[EstimateResult]] = {}
    for estimate in estimates:
        if _usable(estimate) and not estimate.contrasts:
            groups.setdefault(estimate.estimand, []).append(estimate)
    gates: list[GateResult] = []
    for estimand, group in groups.items():
        if len(group) < 2:
            continue
        against: dict[str, list[str]] = {}
        worst = 0.0
        for a in group:
            for b in group:
                if a.method == b.method:
                    continue
                z = abs(a.estimate - b.estimate) / math.hypot(a.std_error or 0.0, b.std_error or 0.0)
                worst = max(worst, z)
                if z > limit:
                    against.setdefault(a.method, []).append(b.method)
        others = len(group) - 1
        flagged = [m for m, names in against.items() if len(names) * 2 >= others]
        if flagged:
            described = "; ".join(f"{m} disagrees with {', '.join(against[m])}" for m in flagged)
            message = (
                f"Methods estimating the {estimand} disagree by more than {limit:g} standard errors: "
                f"{described}. At most one of them can be right: their models of the outcome or of "
                "the treatment differ where the data are thin; read the gates that flag them and "
                "prefer flexible, doubly robust methods over linear ones."
            )
        else:
            message = (
                f"The {len(group)} methods estimating the {estimand} agree: no two differ by more "
                f"than {limit:g} standard errors (largest {worst:.2f})."
            )
        gates.append(
            GateResult(
                name=f"method_disagreement[{estimand}]",
                category="causal",
                threshold=limit,
                value=worst,
                passed=not flagged,
                severity="warning",
                message=message,
                applies_to=flagged,
                details={f"disagrees:{m}": ", ".join(names) for m, names in against.items()},
            )
        )
    return gates


def flagged_methods(gates: Sequence[GateResult]) -> set[str]:
    """Methods that a failed warning or error gate casts doubt on."""
    return {m for g in gates if not g.passed and g.severity != "info" for m in g.applies_to}


def _gate(gates: Sequence[GateResult], name: str) -> GateResult | None:
    return next((g for g in gates if g.name == name), None)


def _estimand_for(
    design: str, gates: Sequence[GateResult], present: set[str], trimmed_att: bool = False
) -> tuple[str, str]:
    """The estimand to lead with and why (`trimmed_att`: an ATT method left out the treated beyond
    every control's propensity, so an ATT on the common support exists)."""
    by_design = DESIGN_ESTIMAND.get(design)  # type: ignore[call-overload]
    if by_design is not None:
        return by_design.value, f"the {design} design identifies the {by_design.value}"
    overlap, treated = _gate(gates, "propensity_overlap"), _gate(gates, "treated_overlap")
    if overlap is None or overlap.passed:
        if design == Design.EXPERIMENT:
            return (
                Estimand.ATE.value,
                "treatment was randomised, so the average effect over everyone is identified",
            )
        return Estimand.ATE.value, "propensity overlap supports the average effect over everyone (ATE)"
    share = f"{overlap.value:.0%}" if overlap.value is not None else "too few"
    if (treated is None or treated.passed) and Estimand.ATT.value in present:
        return Estimand.ATT.value, (
            f"propensity overlap fails for the ATE (only {share} of units have comparable "
            "counterparts) but the treated have comparable controls, so the effect on the treated "
            "(ATT) is what the data support"
        )
    if treated is not None and trimmed_att:
        return Estimand.ATT.value, (
            f"propensity overlap fails for the ATE (only {share} of units have comparable "
            "counterparts) and some treated have no comparable control either, so the effect on the "
            "treated within the controls' support (the ATT on the common support) is what the data "
            "support"
        )
    if Estimand.ATO.value in present:
        return Estimand.ATO.value, (
            f"propensity overlap fails (only {share} of units have comparable counterparts), so the "
            "effect in the overlap population (ATO) is what the data support"
        )
    return Estimand.ATE.value, (
        f"propensity overlap fails (only {share} of units have comparable counterparts) and no "
        "ATT or overlap-population estimate is available; read the ATE with that caution"
    )


# What a method that trims the treated to the controls' propensity range reports it left out.
OUTSIDE_SUPPORT_KEY = "n_treated_outside_support"


def _count(value: object) -> int:
    return int(value) if isinstance(value, int | float) and math.isfinite(value) else 0


def _common_support_note(
    gates: Sequence[GateResult], lead: EstimateResult, group: Sequence[EstimateResult]
) -> str:
    """How many treated lie beyond every control's propensity, and who left them out (ATT only).

    Never silent: when `treated_overlap` counts treated outside the controls' support (Dehejia &
    Wahba 1999), the reason says whether the lead method's ATT is for the treated on the support
    (it reports how many it left out) or keeps them, and which other ATT methods trimmed.
    """
    treated = _gate(gates, "treated_overlap")
    outside = _count(treated.details.get(OUTSIDE_SUPPORT_KEY)) if treated is not None else 0
    if outside == 0 or treated is None:
        return ""
    n_treated = _count(treated.details.get("n_treated"))
    of_all = f" of {n_treated}" if n_treated else ""
    trimmed = [e.method for e in group if _count(e.diagnostics.get(OUTSIDE_SUPPORT_KEY)) > 0]
    lead_left_out = _count(lead.diagnostics.get(OUTSIDE_SUPPORT_KEY))
    if lead_left_out:
        rest = f" the {n_treated - lead_left_out}" if n_treated else " the"
        return (
            f"; {outside}{of_all} treated units have a propensity beyond every control's (Dehejia & "
            f"Wahba 1999's common support), so the headline is the ATT on{rest} treated inside the "
            f"controls' support: {lead.method} left {lead_left_out} out"
        )
    who = f" ({', '.join(trimmed)} left them out)" if trimmed else ""
    return (
        f"; {outside}{of_all} treated units have a propensity beyond every control's (Dehejia & Wahba "
        f"1999's common support): {lead.method} keeps them, extrapolating for them{who}"
    )


def choose_headline(
    design: str, estimates: Sequence[EstimateResult], gates: Sequence[GateResult]
) -> Headline | None:
    """The analysis's one answer: the median method of the chosen estimand among unflagged ones."""
    usable = [e for e in estimates if _usable(e)]
    if not usable:
        return None
    present = {e.estimand for e in usable}
    trimmed_att = any(
        e.estimand == Estimand.ATT and _count(e.diagnostics.get(OUTSIDE_SUPPORT_KEY)) > 0 for e in usable
    )
    estimand, reason = _estimand_for(design, gates, present, trimmed_att)
    if estimand not in present:
        fallback = next((e.value for e in FALLBACK_ORDER if e.value in present), sorted(present)[0])
        reason = f"{reason}; no method estimated the {estimand}, so the {fallback} leads"
        estimand = fallback
    doubted = flagged_methods(gates)
    overlap = _gate(gates, "propensity_overlap")
    treated_gate = _gate(gates, "treated_overlap")
    # An ATT the data support (the treated lie within the controls' propensity range, or a method
    # left out those beyond it) stays the answer when its methods are flagged: the overlap
    # population's effect would answer a question nobody asked, not this one more reliably.
    supported_att = estimand == Estimand.ATT and (treated_gate is None or treated_gate.passed or trimmed_att)
    compromise = (
        design not in DESIGN_ESTIMAND and overlap is not None and not overlap.passed and not supported_att
    )
    if compromise and all(e.method in doubted for e in usable if e.estimand == estimand):
        # Overlap already failed for the ATE and every method of the estimand chosen instead is
        # flagged: another estimand with an unflagged method leads. When overlap holds the ATE
        # stays the answer (flagged, and said so): an unflagged ATT is not the same question.
        alternative = next(
            (
                e.value
                for e in FALLBACK_ORDER
                if e.value != estimand
                and any(r.estimand == e.value and r.method not in doubted for r in usable)
            ),
            None,
        )
        if alternative is not None:
            reason = (
                f"{reason}; but every {estimand} method is flagged by a gate, so the {alternative} "
                "of the methods no gate flags leads"
            )
            estimand = alternative
    group = [e for e in usable if e.estimand == estimand]
    treated = _gate(gates, "treated_overlap")
    if estimand == Estimand.ATT and treated is not None and not treated.passed:
        # Only the ATT on the common support answers the question the data support: an ATT over
        # every treated unit (flagged by treated_overlap) extrapolates for those without controls.
        on_support = [e for e in group if e.method not in treated.applies_to]
        group = on_support or group
    trusted = [e for e in group if e.method not in doubted]
    flagged = [e.method for e in group if e.method in doubted]
    if not trusted:
        trusted = group
        reason = f"{reason}; every method of this estimand is flagged by a gate, so read it with care"
    ranked = sorted(trusted, key=lambda e: (e.estimate, e.method))
    lead = ranked[(len(ranked) - 1) // 2]
    agreeing = sum(
        1
        for e in trusted
        if e.ci_lower is not None
        and e.ci_upper is not None
        and lead.ci_lower is not None
        and lead.ci_upper is not None
        and e.ci_lower <= lead.ci_upper
        and lead.ci_lower <= e.ci_upper
    )
    if estimand == Estimand.ATT.value:
        reason = f"{reason}{_common_support_note(gates, lead, group)}"
    return Headline(
        estimand=estimand,
        method=lead.method,
        estimate=lead.estimate,
        ci_lower=lead.ci_lower,
        ci_upper=lead.ci_upper,
        ci_level=lead.ci_level,
        reason=reason[0].upper() + reason[1:] + ".",
        methods=[e.method for e in trusted],
        flagged=flagged,
        n_agreeing=agreeing,
    )
