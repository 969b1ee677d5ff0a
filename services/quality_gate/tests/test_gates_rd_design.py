"""RD gates for a weak fuzzy first stage and a discrete running variable (issue 12), fed the
diagnostics rd_robust reports on Fetter's mortgages file (services/estimator/tests/
test_discontinuity_real.py measures them there): at the data-driven bandwidth, 4 quarters a side
and F 0.85; at the published 12 quarters, 12 a side and F 359."""

from __future__ import annotations

import pandas as pd
import pytest

from cqox_contracts.v1 import EstimateResult, GateResult, RoleMapping
from cqox_quality_gate.domain import GateThresholds, causal_gates

FRAME = pd.DataFrame({"vet_wwko": [0, 1] * 50, "home_ownership": [0, 1] * 50})
ROLES = RoleMapping(treatment="vet_wwko", outcome="home_ownership", running_variable="qob_minus_kw")
DATA_DRIVEN = {"rd_design": "fuzzy", "rd_first_stage_f": 0.849, "rd_support_points": 4.0}
PUBLISHED = {"rd_design": "fuzzy", "rd_first_stage_f": 359.4, "rd_support_points": 12.0}


def rd(diagnostics: dict[str, float | str | None], method: str = "rd_robust") -> EstimateResult:
    """An RD estimate (a LATE) reporting the given diagnostics."""
    return EstimateResult(
        method=method,
        estimand="LATE",
        estimate=1.222,
        std_error=1.79,
        ci_lower=-1.25,
        ci_upper=5.74,
        p_value=0.2,
        n=214_144,
        inference="rdrobust fuzzy RD",
        diagnostics=diagnostics,
    )


def gates(estimates: list[EstimateResult], **thresholds: float) -> dict[str, GateResult]:
    """The causal gates of an RD analysis, by name."""
    return {g.name: g for g in causal_gates(FRAME, ROLES, estimates, GateThresholds(**thresholds), "rd")}


def test_the_data_driven_fit_on_fetter_is_flagged_for_both_reasons() -> None:
    found = gates([rd(DATA_DRIVEN)])
    weak, discrete = found["rd_weak_first_stage"], found["rd_mass_points"]
    assert not weak.passed and weak.applies_to == ["rd_robust"]
    assert weak.value == pytest.approx(0.849) and weak.threshold == 10.0
    assert "bandwidth" in weak.message and "intention-to-treat" in weak.message
    assert not discrete.passed and discrete.applies_to == ["rd_robust"]
    assert "only 4 distinct value(s)" in discrete.message
    assert "rd_robust's option `bandwidth`" in discrete.message


def test_the_published_twelve_quarters_pass_both() -> None:
    found = gates([rd(PUBLISHED)])
    assert found["rd_weak_first_stage"].passed and found["rd_mass_points"].passed
    assert "F = 359" in found["rd_weak_first_stage"].message


def test_only_the_method_that_reports_the_weakness_is_named() -> None:
    found = gates([rd(PUBLISHED, "rd_stated"), rd(DATA_DRIVEN, "rd_auto")])
    assert found["rd_weak_first_stage"].applies_to == ["rd_auto"]
    assert found["rd_mass_points"].details == {
        "rd_support_points[rd_auto]": 4.0,
        "rd_support_points[rd_stated]": 12.0,
    }


def test_a_sharp_design_reports_no_first_stage_and_gets_no_first_stage_gate() -> None:
    found = gates([rd({"rd_design": "sharp", "rd_support_points": 40.0})])
    assert "rd_weak_first_stage" not in found and found["rd_mass_points"].passed


def test_the_thresholds_are_configurable() -> None:
    found = gates([rd(DATA_DRIVEN)], min_first_stage_f=0.5, min_rd_support_points=3)
    assert found["rd_weak_first_stage"].passed and found["rd_mass_points"].passed
    with pytest.raises(ValueError):
        GateThresholds(min_rd_support_points=1)
    env = GateThresholds.from_env({"CQOX_GATE_MIN_RD_SUPPORT_POINTS": "6"})
    assert env.min_rd_support_points == 6
