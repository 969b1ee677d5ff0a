"""Pure quality-gate logic (no I/O): the functions the handlers call.

The implementation lives in `cqox_quality_gate.gates` (one module per family); this module is the
stable import point for the service layer.
"""

from cqox_quality_gate.gates import (
    GateThresholds,
    TreatmentCoding,
    assess_robustness,
    causal_gates,
    choose_headline,
    code_treatment,
    data_gates,
    decide_verdict,
    disagreement_gates,
    rejection_reason,
)

__all__ = [
    "GateThresholds",
    "TreatmentCoding",
    "assess_robustness",
    "causal_gates",
    "choose_headline",
    "code_treatment",
    "data_gates",
    "decide_verdict",
    "disagreement_gates",
    "rejection_reason",
]
