"""For every registered method: which causal gates can cast doubt on it, and why.

The gates decide from what each result declares (adjustment, relies_on_overlap, estimand), which the
estimator fills from the method's class. This table is the one place a reader sees the outcome for
every method; a new method must be added here, and a changed declaration fails here.
"""

from __future__ import annotations

import pytest

from cqox_contracts.v1 import EstimateResult
from cqox_estimator.estimators import REGISTRY
from cqox_quality_gate.gates.causal import (
    leans_on_propensity,
    needs_treated_overlap,
    needs_two_sided_overlap,
    unadjusted,
)

RAW = "raw_balance_smd"  # an unadjusted contrast is confounded by raw imbalance
WEIGHTED = "balance_smd"  # residual imbalance after weighting undermines propensity-based methods
OVERLAP = "propensity_overlap"  # ATE-type estimands need counterparts on both sides
TREATED = "treated_overlap"  # the ATT needs comparable controls for the treated only

EXPECTED: dict[str, set[str]] = {
    "diff_in_means": {RAW},
    "ols": {OVERLAP},  # the outcome model extrapolates across regions without counterparts
    "ols_interacted": {OVERLAP},
    "cuped": {OVERLAP},
    "ipw": {WEIGHTED, OVERLAP},
    "psm": {WEIGHTED, TREATED},
    "ps_stratification": {WEIGHTED, OVERLAP},
    "aipw": {WEIGHTED, OVERLAP},
    "overlap_weights": {WEIGHTED},  # targets the overlap population: poor overlap is its premise
    "entropy_balancing": {WEIGHTED, TREATED},
    "linear_dml": {WEIGHTED, OVERLAP},
    "causal_forest": {WEIGHTED, OVERLAP},
    "s_learner": {OVERLAP},
    "t_learner": {OVERLAP},
    "x_learner": {OVERLAP},
    "dr_learner": {WEIGHTED, OVERLAP},
    "policy_tree": {WEIGHTED, OVERLAP},
    # Design-based methods are judged by the tests they report (pre-trends, first stage, density).
    "twfe": set(),
    "cs_did": set(),
    "iv_2sls": set(),
    "rd_robust": set(),
    "synthetic_control": set(),
    "spatial_spillover": {OVERLAP},
    "did_regression": set(),
    "drdid_rc": set(),
    # Bounds under attrition in an experiment: an unadjusted contrast, judged on raw balance.
    "lee_bounds": {RAW},
}
PREDICATES = {
    RAW: unadjusted,
    WEIGHTED: leans_on_propensity,
    OVERLAP: needs_two_sided_overlap,
    TREATED: needs_treated_overlap,
}


def declared_result(name: str) -> EstimateResult:
    """A result carrying what the method's class declares, as the estimator fills it."""
    cls = REGISTRY[name].estimator
    return EstimateResult(
        method=name,
        estimand=str(cls.estimand),
        estimate=1.0,
        std_error=0.1,
        ci_lower=0.8,
        ci_upper=1.2,
        p_value=0.01,
        n=100,
        inference="test",
        adjustment=cls.adjustment_kind.value,
        relies_on_overlap=cls.relies_on_overlap,
    )


def test_every_registered_method_is_in_the_table() -> None:
    assert set(EXPECTED) == set(REGISTRY)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_gates_that_apply_to_each_method(name: str) -> None:
    result = declared_result(name)
    applies = {gate for gate, predicate in PREDICATES.items() if predicate(result)}
    assert applies == EXPECTED[name]
