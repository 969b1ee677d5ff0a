"""Pure quality-gate logic (no I/O): the functions the handlers call.

The implementation lives in `cqox_quality_gate.gates` (one module per family); this module is the
stable import point for the service layer.
"""

from cqox_quality_gate.gates import (
    PROPENSITY_METHODS,
    UNADJUSTED_METHODS,
    GateThresholds,
    TreatmentCoding,
    causal_gates,
    code_treatment,
    data_gates,
    rejection_reason,
)

__all__ = [
    "PROPENSITY_METHODS",
    "UNADJUSTED_METHODS",
    "GateThresholds",
    "TreatmentCoding",
    "causal_gates",
    "code_treatment",
    "data_gates",
    "rejection_reason",
]
