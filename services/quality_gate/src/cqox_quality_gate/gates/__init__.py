"""Quality gates: data gates before estimation, causal gates after it."""

from cqox_quality_gate.gates.causal import (
    causal_gates,
    fit_propensity,
    standardized_differences,
)
from cqox_quality_gate.gates.data import data_gates, rejection_reason
from cqox_quality_gate.gates.headline import choose_headline, disagreement_gates
from cqox_quality_gate.gates.robustness import Assessment, assess_robustness
from cqox_quality_gate.gates.thresholds import GateThresholds
from cqox_quality_gate.gates.treatment import TreatmentCoding, code_treatment
from cqox_quality_gate.gates.verdict import decide_verdict

__all__ = [
    "Assessment",
    "GateThresholds",
    "TreatmentCoding",
    "assess_robustness",
    "causal_gates",
    "choose_headline",
    "code_treatment",
    "data_gates",
    "decide_verdict",
    "disagreement_gates",
    "fit_propensity",
    "rejection_reason",
    "standardized_differences",
]
