"""The verdict of an analysis: GO / CAUTION / HOLD, with the reasons in plain words.

- HOLD: no usable headline, or a failed error gate casts doubt on it;
- CAUTION: a failed warning gate casts doubt on the headline (a testable assumption looks
  violated, or a hidden confounder weaker than the seed's E-value threshold could explain it away),
  or every method of the headline's estimand is flagged;
- GO: every testable check that applies to the headline passed.

A gate casts doubt on the headline when it names the headline's method or one of the methods its
estimate is the median of, names no method at all (it speaks for the whole analysis), or is a data
gate (those name columns, and a missing outcome concerns every estimate).
"""

from __future__ import annotations

from collections.abc import Sequence

from cqox_contracts.v1 import (
    GATE_ASSUMPTIONS,
    Design,
    GateResult,
    Headline,
    Refuter,
    SensitivityPanel,
    Verdict,
)

# Assumptions no gate can test, per design: they must be argued.
UNTESTABLE = {
    Design.OBSERVATIONAL: (
        "no unmeasured confounding: every common cause of treatment and outcome is among the "
        "covariates (the sensitivity panel says how strong a missing one would have to be)",
        "the covariates were measured before treatment",
        "no interference: one unit's treatment does not change another's outcome",
    ),
    Design.GEOGRAPHIC: (
        "no unmeasured confounding of own and neighbours' treatment given the covariates",
        "spillovers reach only as far as the radius assumed",
    ),
    Design.EXPERIMENT: (
        "assignment was random as designed and nobody crossed over",
        "no interference between units",
    ),
    Design.PANEL: (
        "parallel trends after adoption (only the pre-period can be checked)",
        "no anticipation of treatment",
    ),
    Design.REPEATED_CROSS_SECTION: (
        "parallel trends after the change (with two periods none can be checked)",
        "the groups' composition did not change with treatment",
    ),
    Design.IV: (
        "exclusion: the instrument affects the outcome only through the treatment",
        "the instrument is as good as random given the covariates",
        "monotonicity: the instrument moves no one against it",
    ),
    Design.RD: ("nothing else changes at the cutoff",),
    Design.SYNTHETIC_CONTROL: (
        "no spillover from the treated unit to the donors",
        "no anticipation of treatment",
    ),
}


def assumption(gate: GateResult) -> str:
    """What a gate checks, in words (the gate's own name when it is not one we describe)."""
    base = gate.name.split("[", 1)[0]
    suffix = gate.name[len(base) :]
    words = GATE_ASSUMPTIONS.get(base, base.replace("_", " "))
    return f"{words}{' ' + suffix if suffix else ''} ({gate.name})"


def _doubts_headline(gate: GateResult, headline: Headline) -> bool:
    # A data gate names columns, not methods: what it finds concerns every estimate.
    if gate.category == "data" or not gate.applies_to:
        return True
    return bool({headline.method, *headline.methods} & set(gate.applies_to))


def _refuter_p_gates(gates: Sequence[GateResult], headline: Headline) -> list[GateResult]:
    """The headline's methods' placebo checks judged by a p-value (every refuter but the random cause)."""
    refuters = {r.value for r in Refuter} - {Refuter.RANDOM_COMMON_CAUSE.value}
    return [
        g
        for g in gates
        if g.name.split("[", 1)[0] in refuters
        and g.value is not None
        and g.threshold is not None
        and _doubts_headline(g, headline)
    ]


def _family_size(gates: Sequence[GateResult], headline: Headline) -> int:
    return len(_refuter_p_gates(gates, headline))


def _chance_refuter_failures(gates: Sequence[GateResult], headline: Headline) -> list[GateResult]:
    """Failed placebo checks that a Holm correction across the family would not reject.

    Each refuter is a test at its own level; with five methods and four checks a sound analysis
    fails one by chance in more than one case in ten. The gates still show every failure; the
    verdict counts only those that survive Holm's step-down correction over the family.
    """
    family = sorted(_refuter_p_gates(gates, headline), key=lambda g: float(g.value or 0.0))
    survivors: set[str] = set()
    for rank, gate in enumerate(family):
        if float(gate.value or 0.0) >= float(gate.threshold or 0.0) / (len(family) - rank):
            break
        survivors.add(gate.name)
    return [g for g in family if not g.passed and g.name not in survivors]


def decide_verdict(
    design: str,
    headline: Headline | None,
    gates: Sequence[GateResult],
    panels: Sequence[SensitivityPanel] = (),
) -> Verdict:
    """GO / CAUTION / HOLD for the analysis, with passed, failed and untestable assumptions."""
    untestable = list(UNTESTABLE.get(design, ()))  # type: ignore[call-overload]
    # Passed data gates are bookkeeping, not assumptions; a failed one (attrition) still counts.
    judged = [g for g in gates if g.severity != "info" and (g.category == "causal" or not g.passed)]
    passed = [assumption(g) for g in judged if g.passed]
    if headline is None:
        return Verdict(
            level="HOLD",
            summary="HOLD: no method produced a usable estimate, so there is no answer to act on.",
            passed=passed,
            failed=[f"{assumption(g)}: {g.message}" for g in judged if not g.passed],
            untestable=untestable,
        )
    failed = [g for g in judged if not g.passed]
    against = [g for g in failed if _doubts_headline(g, headline)]
    elsewhere = [g for g in failed if not _doubts_headline(g, headline)]
    chance = _chance_refuter_failures(judged, headline)
    against = [g for g in against if g not in chance]
    failed_text = (
        [f"{assumption(g)}: {g.message}" for g in against]
        + [
            f"{assumption(g)} — not counted against the headline: with {_family_size(judged, headline)} "
            "placebo checks on its methods, one this small is expected by chance (Holm)"
            for g in chance
        ]
        + [
            f"{assumption(g)} — casts doubt on {', '.join(g.applies_to)}, not on the headline's methods"
            for g in elsewhere
        ]
    )
    panel = next((p for p in panels if p.headline), None)
    robustness = (
        panel.summary
        if panel is not None and panel.summary
        else "No sensitivity measure applies to the headline: "
        + (panel.notes[0] if panel is not None and panel.notes else "it is identified by the design.")
    )
    shown = f"{headline.estimand} {headline.estimate:.4g} ({headline.method})"
    if any(g.severity == "error" for g in against):
        level = "HOLD"
        names = ", ".join(g.name for g in against if g.severity == "error")
        summary = f"HOLD: {names} failed and undermines the headline {shown}; fix the data or design first."
    elif against or set(headline.methods) <= set(headline.flagged):
        level = "CAUTION"
        names = ", ".join(g.name for g in against) or "the gates flagging every method of the estimand"
        summary = (
            f"CAUTION: the headline {shown} rests on assumptions a check found doubtful ({names}); "
            "read the reasons before acting on it."
        )
    else:
        level = "GO"
        summary = (
            f"GO: the headline {shown} passed every testable check that applies to it "
            f"({len(passed)} passed); the untestable assumptions below still need arguing."
        )
    return Verdict(
        level=level,
        summary=summary,
        passed=passed,
        failed=failed_text,
        untestable=untestable,
        robustness=robustness,
    )
