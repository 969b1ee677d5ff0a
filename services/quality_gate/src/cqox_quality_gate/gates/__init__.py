"""Quality gates: data gates before estimation, causal gates after it."""

from cqox_quality_gate.gates.causal import (
    PROPENSITY_METHODS,
    UNADJUSTED_METHODS,
    causal_gates,
    fit_propensity,
    standardized_differences,
)
from cqox_quality_gate.gates.data import data_gates, rejection_reason
from cqox_quality_gate.gates.thresholds import GateThresholds
from cqox_quality_gate.gates.treatment import TreatmentCoding, code_treatment

__all__ = [
    "PROPENSITY_METHODS",
    "UNADJUSTED_METHODS",
    "GateThresholds",
    "TreatmentCoding",
    "causal_gates",
    "code_treatment",
    "data_gates",
    "fit_propensity",
    "rejection_reason",
    "standardized_differences",
]
