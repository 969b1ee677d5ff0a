"""GateThresholds: documented defaults, validation and `CQOX_GATE_*` environment overrides."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cqox_quality_gate.domain import GateThresholds


def test_defaults_match_adr() -> None:
    thresholds = GateThresholds()
    assert thresholds.max_missing_share == 0.2
    assert thresholds.min_arm_size == 20
    assert thresholds.max_abs_smd == 0.1
    assert (thresholds.propensity_lower, thresholds.propensity_upper) == (0.05, 0.95)
    assert thresholds.min_overlap_share == 0.9
    assert thresholds.overlap_error_share == 0.5


def test_from_env_reads_prefixed_variables() -> None:
    thresholds = GateThresholds.from_env(
        {
            "CQOX_GATE_MAX_ABS_SMD": "0.2",
            "CQOX_GATE_MIN_ARM_SIZE": " 50 ",
            "CQOX_GATE_PROPENSITY_LOWER": "0.1",
            "CQOX_GATE_PROPENSITY_UPPER": "",  # blank keeps the default
            "CQOX_GATE_UNKNOWN": "1",  # not a threshold: ignored
            "MAX_ABS_SMD": "0.9",  # no prefix: ignored
        }
    )
    assert thresholds.max_abs_smd == 0.2
    assert thresholds.min_arm_size == 50
    assert thresholds.propensity_lower == 0.1
    assert thresholds.propensity_upper == 0.95
    assert thresholds.max_missing_share == 0.2


def test_from_env_defaults_to_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CQOX_GATE_MAX_MISSING_SHARE", "0.35")
    assert GateThresholds.from_env().max_missing_share == 0.35


@pytest.mark.parametrize(
    "environ",
    [
        {"CQOX_GATE_MAX_ABS_SMD": "not-a-number"},
        {"CQOX_GATE_MAX_MISSING_SHARE": "1.5"},
        {"CQOX_GATE_MIN_ARM_SIZE": "0"},
        {"CQOX_GATE_PROPENSITY_LOWER": "0.6"},
        {"CQOX_GATE_OVERLAP_ERROR_SHARE": "0.95"},
    ],
)
def test_from_env_rejects_invalid_values(environ: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        GateThresholds.from_env(environ)


def test_thresholds_are_frozen() -> None:
    with pytest.raises(ValidationError):
        GateThresholds().max_abs_smd = 0.5  # type: ignore[misc]
