"""Consensus, flags, headline and number formatting."""

from __future__ import annotations

import math

import pytest

from cqox_contracts.v1.models import EstimateResult, GateResult, Headline
from cqox_visualization.domain import (
    consensus,
    failed_gates,
    flagged_methods,
    format_count,
    format_interval,
    format_level,
    format_number,
    format_p_value,
    headline,
)


def estimate(
    method: str,
    value: float,
    half_width: float | None = 0.2,
    *,
    estimand: str = "ATE",
    p_value: float | None = 0.01,
) -> EstimateResult:
    return EstimateResult(
        method=method,
        estimand=estimand,
        estimate=value,
        std_error=None if half_width is None else half_width / 1.96,
        ci_lower=None if half_width is None else value - half_width,
        ci_upper=None if half_width is None else value + half_width,
        p_value=p_value,
        n=1000,
        inference="HC1 robust",
    )


def gate(
    name: str,
    *,
    passed: bool,
    severity: str = "warning",
    applies_to: list[str] | None = None,
) -> GateResult:
    return GateResult(
        name=name,
        category="causal",
        passed=passed,
        severity=severity,  # type: ignore[arg-type]
        applies_to=applies_to or [],
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "—"),
        (0.0, "0"),
        (2.0, "2.000"),
        (-1.23456, "-1.235"),
        (12345.678, "12,345.678"),
        (0.1, "0.100"),
        (0.0123, "0.0123"),
        (0.08, "0.08"),
        (0.00012345, "0.000123"),
        (1e-6, "1e-06"),
        (2.5e9, "2.5e+09"),
        (math.nan, "NaN"),
        (math.inf, "inf"),
    ],
)
def test_format_number(value: float | None, expected: str) -> None:
    assert format_number(value) == expected


@pytest.mark.parametrize(
    ("p_value", "expected"),
    [(0.0, "< 0.001"), (0.0009, "< 0.001"), (0.001, "0.001"), (0.0456, "0.046"), (None, "—")],
)
def test_format_p_value(p_value: float | None, expected: str) -> None:
    assert format_p_value(p_value) == expected


def test_format_small_helpers() -> None:
    assert format_count(1234567) == "1,234,567"
    assert format_level(0.95) == "95%"
    assert format_level(0.975) == "97.5%"
    assert format_interval(estimate("ols", 2.0)) == "[1.800, 2.200] (95%)"
    assert format_interval(estimate("forest", 2.0, None)) == "—"


def test_flagged_methods_come_from_failed_gates_only() -> None:
    gates = [
        gate("balance_smd", passed=False, applies_to=["ipw", "psm"]),
        gate("agreement", passed=False, applies_to=["ipw"]),
        gate("overlap", passed=True, applies_to=["psm"]),
        gate("completeness", passed=False),
    ]
    assert flagged_methods(gates) == {"ipw": ["balance_smd", "agreement"], "psm": ["balance_smd"]}


def test_failed_gates_put_errors_first() -> None:
    gates = [
        gate("a", passed=False, severity="info"),
        gate("b", passed=False, severity="warning"),
        gate("c", passed=True, severity="error"),
        gate("d", passed=False, severity="error"),
    ]
    assert [g.name for g in failed_gates(gates)] == ["d", "b", "a"]


def test_consensus_counts_agreement_among_methods_with_a_ci() -> None:
    estimates = [
        estimate("ols", 2.0),
        estimate("aipw", 2.1),
        estimate("ipw", 3.0),
        estimate("forest", 2.05, None),
        estimate("broken", math.nan),
    ]
    summary = consensus(estimates)
    assert summary is not None
    assert summary.median == pytest.approx(2.075)
    assert (summary.low, summary.high) == (2.0, 3.0)
    assert (summary.n_methods, summary.n_with_ci, summary.n_agree) == (4, 3, 2)
    assert summary.estimand_label == "ATE"


def test_consensus_is_none_without_finite_estimates() -> None:
    assert consensus([]) is None
    assert consensus([estimate("broken", math.inf)]) is None


def test_headline_names_median_range_agreement_and_failed_gates() -> None:
    estimates = [estimate("ols", 2.0), estimate("aipw", 2.1), estimate("ipw", 3.0)]
    gates = [
        gate("balance_smd", passed=False, applies_to=["ipw"]),
        gate("overlap", passed=True),
    ]
    text = headline(estimates, gates)
    assert text == (
        "Median ATE across 3 methods: 2.100 (range 2.000 to 3.000); 2 of 3 methods agree "
        "(their CI covers the median); 1 method flagged by gates; "
        "1 of 2 quality gates failed (balance_smd)."
    )
    assert "\n" not in text


def test_headline_mixed_estimands_and_many_failed_gates() -> None:
    estimates = [estimate("ols", 1.0), estimate("psm", 1.1, estimand="ATT")]
    gates = [gate(f"gate_{i}", passed=False) for i in range(6)]
    text = headline(estimates, gates)
    assert text.startswith("Median estimate (ATE, ATT) across 2 methods: 1.050")
    assert "6 of 6 quality gates failed (gate_0, gate_1, gate_2, gate_3, +2 more)" in text


def test_headline_single_method_and_no_estimates() -> None:
    single = headline([estimate("ols", 2.0)], [gate("overlap", passed=True)])
    assert single == (
        "ATE = 2.000 from a single method (ols, CI [1.800, 2.200] (95%)); the one quality gate passed."
    )
    assert headline([], []) == "No method produced an estimate; no quality gates were run."


def test_headline_without_any_ci() -> None:
    text = headline([estimate("a", 1.0, None), estimate("b", 2.0, None)], [])
    assert "agreement is not assessed" in text


def test_headline_follows_the_quality_gates_lead_estimand() -> None:
    """The sentence speaks for one estimand, never a median across ATE and ATT."""
    lead = Headline(
        estimand="ATT",
        method="psm",
        estimate=1271.0,
        ci_lower=100.0,
        ci_upper=2442.0,
        reason="Propensity overlap fails for the ATE; the treated have comparable controls.",
        methods=["psm", "entropy_balancing"],
        n_agreeing=2,
    )
    estimates = [estimate("ols", -3101.0, 500.0), estimate("psm", 1271.0, 1171.0, estimand="ATT")]
    text = headline(estimates, [], lead)
    assert text.startswith(f"ATT = {format_number(1271.0)} (median of 2 ATT methods (psm, 95% CI")
    assert "2 of 2 agree" in text and "treated have comparable controls" in text
    assert "-3.1" not in text
    assert consensus(estimates, "ATT") is not None and consensus(estimates, "ATT").n_methods == 1  # type: ignore[union-attr]
