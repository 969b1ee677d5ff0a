"""Refutation gates: one per refuter and method, judged against the configurable thresholds."""

from __future__ import annotations

import pytest

from cqox_contracts.v1 import Refutation
from cqox_quality_gate.gates.refutation import refutation_gates, rejects
from cqox_quality_gate.gates.thresholds import GateThresholds


def _refutation(refuter: str, **values: object) -> Refutation:
    expectation = "unchanged" if refuter in ("random_common_cause", "data_subset") else "zero"
    base: dict[str, object] = {
        "method": "ipw",
        "refuter": refuter,
        "expectation": expectation,
        "estimate": 1.5,
        "std_error": 0.1,
        "change": "treated permuted across 1000 rows",
        "seed": 7,
    }
    return Refutation.model_validate({**base, **values})


@pytest.mark.parametrize(
    ("refuter", "values", "fails"),
    [
        ("placebo_treatment", {"refuted_estimate": 0.01, "refuted_std_error": 0.1, "p_value": 0.9}, False),
        ("placebo_treatment", {"refuted_estimate": 0.3, "refuted_std_error": 0.1, "p_value": 0.003}, True),
        ("placebo_outcome", {"refuted_estimate": 0.6, "refuted_std_error": 0.1, "p_value": 1e-9}, True),
        ("placebo_adoption", {"refuted_estimate": 0.05, "refuted_std_error": 0.1, "p_value": 0.6}, False),
        ("random_common_cause", {"refuted_estimate": 1.51, "shift_se": 0.1}, False),
        ("random_common_cause", {"refuted_estimate": 1.6, "shift_se": 1.0}, True),
        ("data_subset", {"refuted_estimate": 1.5, "shift_se": 0.6, "p_value": 0.4}, False),
        ("data_subset", {"refuted_estimate": 1.9, "shift_se": 4.0, "p_value": 1e-5}, True),
    ],
)
def test_each_refuter_is_judged_by_its_threshold(
    refuter: str, values: dict[str, object], fails: bool
) -> None:
    refutation = _refutation(refuter, **values)
    (gate,) = refutation_gates([refutation], GateThresholds())
    assert gate.name == f"{refuter}[ipw]" and gate.applies_to == ["ipw"] and gate.category == "causal"
    assert gate.passed is not fails and rejects(refutation, GateThresholds()) is fails
    assert gate.severity == "warning"
    assert gate.value is not None and gate.threshold is not None
    assert "ipw" in gate.message and len(gate.message) > 60


def test_thresholds_are_configurable() -> None:
    refutation = _refutation("placebo_treatment", refuted_estimate=0.2, p_value=0.03)
    assert not refutation_gates([refutation], GateThresholds())[0].passed
    (gate,) = refutation_gates([refutation], GateThresholds(min_placebo_p=0.01))
    assert gate.passed and gate.threshold == 0.01
    shift = _refutation("random_common_cause", refuted_estimate=1.56, shift_se=0.6)
    assert refutation_gates([shift], GateThresholds(max_random_cause_shift_se=1.0))[0].passed
    assert GateThresholds.from_env({"CQOX_GATE_MIN_SUBSET_P": "0.01"}).min_subset_p == 0.01


def test_a_refuter_that_could_not_run_says_why_and_flags_nothing() -> None:
    refutation = _refutation("placebo_adoption", error="a placebo adoption needs two periods")
    (gate,) = refutation_gates([refutation], GateThresholds())
    assert not gate.passed and gate.severity == "info" and "two periods" in gate.message
    assert not rejects(refutation, GateThresholds())


def test_messages_say_what_to_do() -> None:
    (outcome,) = refutation_gates(
        [
            _refutation(
                "placebo_outcome", refuted_estimate=0.6, p_value=1e-9, change="outcome replaced by y_pre"
            )
        ],
        GateThresholds(),
    )
    assert "hidden confounding" in outcome.message and "pre-treatment" in outcome.message
    (subset,) = refutation_gates(
        [_refutation("data_subset", refuted_estimate=1.9, shift_se=4.0, p_value=1e-5, draws=[1.8, 2.0, 1.9])],
        GateThresholds(),
    )
    assert "influential rows" in subset.message and subset.details["draw_3"] == 1.9


def test_synthetic_control_refuters_are_gates_like_any_other() -> None:
    """A synthetic control's donor placebos come in the same contract and give the same gates: the
    in-time placebo that finds a gap before adoption fails with what to do about it."""
    in_time = _refutation(
        "placebo_adoption",
        method="synthetic_control",
        refuted_estimate=2.4,
        refuted_std_error=0.6,
        p_value=0.0013,
        change="every treated unit's adoption moved 9 period(s) before the first real adoption",
    )
    one_donor = _refutation(
        "data_subset",
        method="synthetic_control",
        refuted_estimate=-2.2,
        shift_se=4.8,
        p_value=3.8e-6,
        change="each of the 2 donors with weight above 1% left out in turn: donor005 (0.98), ...",
    )
    gates = refutation_gates([in_time, one_donor], GateThresholds())
    assert [g.name for g in gates] == [
        "placebo_adoption[synthetic_control]",
        "data_subset[synthetic_control]",
    ]
    assert not any(g.passed for g in gates)
    assert "stops tracking" in gates[0].message and "adoption date" in gates[0].message
    assert "donor" in gates[1].message and "donor005" in gates[1].message


def test_a_check_that_does_not_apply_is_no_gate() -> None:
    """The estimator reports checks it did not run (`not_applicable`) for the report; none is a gate."""
    skipped = Refutation(
        method="ipw",
        refuter="placebo_outcome",
        expectation="zero",
        not_applicable="no pre-treatment outcome: map one as the pre_outcome role",
    )
    ran = _refutation("placebo_treatment", refuted_estimate=0.01, refuted_std_error=0.1, p_value=0.9)
    assert [g.name for g in refutation_gates([skipped, ran], GateThresholds())] == ["placebo_treatment[ipw]"]
