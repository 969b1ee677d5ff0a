"""The domain module is the service layer's single import point for gate logic."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cqox_contracts.v1 import GateResult, RoleMapping
from cqox_quality_gate import domain


def test_public_names() -> None:
    for name in ("GateThresholds", "data_gates", "causal_gates", "rejection_reason"):
        assert hasattr(domain, name)


def test_data_then_causal_gates_on_one_dataset() -> None:
    rng = np.random.default_rng(3)
    n = 500
    x = rng.normal(size=n)
    t = rng.binomial(1, 0.5, size=n)
    df = pd.DataFrame({"t": t, "y": t + x + rng.normal(size=n), "x": x})
    roles = RoleMapping(treatment="t", outcome="y", covariates=["x"])
    thresholds = domain.GateThresholds.from_env({})
    gates = domain.data_gates(df, roles, thresholds)
    assert domain.rejection_reason(gates) is None
    gates += domain.causal_gates(df, roles, [], thresholds)
    assert all(gate.passed for gate in gates)
    assert len({gate.name for gate in gates}) == len(gates)
    for gate in gates:
        assert isinstance(gate, GateResult)
        assert gate.message.endswith(".")


def test_rejection_reason_lists_only_failed_errors() -> None:
    gates = [
        GateResult(name="a", category="data", passed=False, severity="warning", message="Warn."),
        GateResult(name="b", category="data", passed=True, severity="error", message="Fine."),
        GateResult(name="c", category="data", passed=False, severity="error", message="Broken."),
    ]
    reason = domain.rejection_reason(gates)
    assert reason is not None
    assert "c: Broken" in reason and "a:" not in reason and "b:" not in reason
    assert domain.rejection_reason(gates[:2]) is None
