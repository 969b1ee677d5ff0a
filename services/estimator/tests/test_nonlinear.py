"""Nuisances chosen by out-of-fold fit, and the heavy methods on hard data (known answers).

Coverage over many draws is measured in bench/coverage (`--design nonlinear`); these tests check
single draws with a known truth, so they stay fast.
"""

from __future__ import annotations

import numpy as np
import pytest

from cqox_contracts.v1 import RoleMapping
from cqox_estimator.domain import estimate
from cqox_estimator.estimators import EstimationError
from cqox_estimator.estimators.design import prepare
from cqox_estimator.estimators.nuisance import crossfit
from cqox_estimator.simulation import confounded, many_covariates, nonlinear

NONLINEAR_ROLES = RoleMapping(treatment="treated", outcome="y", covariates=["x1", "x2", "x3", "segment"])
LINEAR_ROLES = RoleMapping(treatment="treated", outcome="y", covariates=["x1", "x2", "segment"])


def _crossfit(frame, roles):  # type: ignore[no-untyped-def]
    design = prepare(frame, roles)
    return crossfit(
        design.y, design.t, design.X, outcome_model="auto", propensity_model="auto", n_folds=5, seed=0
    )


def test_auto_keeps_linear_nuisances_on_linear_data() -> None:
    fit = _crossfit(confounded(2000, 3), LINEAR_ROLES)
    assert (fit.outcome_model, fit.propensity_model) == ("linear", "linear")
    # Trees add nothing a linear model misses: their out-of-fold fit is no better.
    assert fit.diagnostics["linear_misfit_outcome_r2"] < 0.01
    assert fit.diagnostics["linear_misfit_propensity"] < 0.01


def test_auto_chooses_boosted_outcome_model_on_nonlinear_data() -> None:
    fit = _crossfit(nonlinear(2000, 3), NONLINEAR_ROLES)
    assert fit.outcome_model == "linear+lightgbm"
    assert fit.diagnostics["outcome_r2_oof_linear+lightgbm"] > fit.diagnostics["outcome_r2_oof_linear"] + 0.03
    assert fit.diagnostics["outcome_model_selection"].startswith("auto")


def test_aipw_default_recovers_a_nonlinear_ate_that_linear_nuisances_miss() -> None:
    frame = nonlinear(2000, 5)
    default = estimate("aipw", frame, NONLINEAR_ROLES, seed=1)
    linear = estimate(
        "aipw",
        frame,
        NONLINEAR_ROLES,
        seed=1,
        options={"outcome_model": "linear", "propensity_model": "linear"},
    )
    assert abs(default.estimate - 1.5) < 2.5 * default.std_error
    assert linear.estimate - 1.5 > 2 * linear.std_error  # the linear model's bias on this design
    assert default.diagnostics["estimate_linear_nuisances"] == pytest.approx(linear.estimate)
    assert default.diagnostics["linear_nuisance_shift_se"] > 1.5  # what the gate judges


def test_linear_methods_say_their_models_are_linear() -> None:
    frame = confounded(500, 1)
    assert estimate("ols", frame, LINEAR_ROLES).diagnostics["model_form"] == "linear"
    assert estimate("ipw", frame, LINEAR_ROLES).diagnostics["model_form"] == "linear"
    assert "model_form" not in estimate("aipw", frame, LINEAR_ROLES).diagnostics


def test_unknown_nuisance_model_is_refused() -> None:
    with pytest.raises(EstimationError, match="outcome_model must be one of auto"):
        estimate("aipw", confounded(300, 1), LINEAR_ROLES, options={"outcome_model": "forest"})


def _hard_roles(frame):  # type: ignore[no-untyped-def]
    covariates = [c for c in frame.columns if c not in ("treated", "y", "tau")]
    return RoleMapping(treatment="treated", outcome="y", covariates=covariates)


@pytest.mark.parametrize("overlap", ["good", "poor"])
def test_linear_dml_on_many_text_and_correlated_covariates(overlap: str) -> None:
    """52 correlated numeric columns on mixed scales and three text categories (ATE 2.5): the
    doubly robust average stays near the truth and two seeds agree within an SE."""
    frame = many_covariates(2000, 7, overlap=overlap)
    roles = _hard_roles(frame)
    # A seed given as an option: no second-seed refit inside (the test compares the two itself).
    first = estimate("linear_dml", frame, roles, options={"random_state": 1})
    second = estimate("linear_dml", frame, roles, options={"random_state": 2})
    for result in (first, second):
        assert abs(result.estimate - 2.5) < 3 * result.std_error
        assert result.std_error < 0.6  # poor overlap leaves less information, honestly wider
        assert "ate_mean_cate" in result.diagnostics
    assert abs(first.estimate - second.estimate) < max(first.std_error, second.std_error)


def test_causal_forest_on_poor_overlap_with_many_covariates() -> None:
    """No leaf without treatment variation: the forest's doubly robust ATE stays finite and near
    the truth on the poor-overlap file, and two seeds agree within an SE."""
    frame = many_covariates(1500, 11, overlap="poor")
    roles = _hard_roles(frame)
    # Seeds given as options: no seed-stability refits inside (the test compares the two itself).
    first = estimate("causal_forest", frame, roles, options={"n_estimators": 48, "random_state": 1})
    second = estimate("causal_forest", frame, roles, options={"n_estimators": 48, "random_state": 2})
    for result in (first, second):
        assert abs(result.estimate - 2.5) < 3 * result.std_error
        assert result.std_error < 0.5
    assert abs(first.estimate - second.estimate) < max(first.std_error, second.std_error)
    assert np.isfinite(first.estimate)
