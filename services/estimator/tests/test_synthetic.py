"""Synthetic control: recovers a known effect on factor-model panels, placebo inference, refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from cqox_contracts.v1 import RoleMapping
from cqox_estimator.domain import estimate
from cqox_estimator.estimators import REGISTRY, EstimationError
from cqox_estimator.estimators.synthetic import SyntheticControl, simplex_weights
from cqox_estimator.simulation import synthetic_panel

ROLES = RoleMapping(treatment="treated", outcome="y", unit="unit", time="period")


def fit(frame: pd.DataFrame, **params: int) -> SyntheticControl:
    """Fit on a long panel frame with columns unit, period, treated, y."""
    model = SyntheticControl(**params)
    return model.fit(frame["y"], frame["treated"], unit=frame["unit"], time=frame["period"])


def test_recovers_a_known_effect_within_its_interval() -> None:
    model = fit(synthetic_panel(effect=2.0, seed=3))
    lower, upper = model.ate_interval()
    assert abs(model.ate_ - 2.0) < 0.3
    assert lower < 2.0 < upper
    assert model.ate_stderr_ > 0 and model.dof_ is None
    assert "placebo" in model.inference_ and "donors'" in model.inference_
    diagnostics = model.diagnostics_
    assert diagnostics["n_donors"] == 30 and diagnostics["n_placebos"] == 30
    assert diagnostics["n_pre_periods"] == 20 and diagnostics["n_post_periods"] == 10
    assert float(diagnostics["pre_rmspe"]) < 0.6 < float(diagnostics["post_rmspe"])
    gaps = [f"att_event_{k}" for k in range(-5, 10)]
    assert all(key in diagnostics for key in gaps) and "att_event_-6" not in diagnostics
    assert all(float(diagnostics[f"se_event_{k}"]) > 0 for k in range(-5, 10))  # type: ignore[arg-type]
    assert np.mean([diagnostics[f"att_event_{k}"] for k in range(10)]) == pytest.approx(model.ate_)


def test_recovers_the_effect_on_average_over_panels() -> None:
    estimates = [fit(synthetic_panel(effect=1.0, seed=seed)).ate_ for seed in range(10)]
    assert abs(np.mean(estimates) - 1.0) < 0.15


def test_weights_are_a_simplex_point_and_optimal() -> None:
    model = fit(synthetic_panel(seed=5))
    weights = model.weights_
    assert weights.shape == (1, 30)
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert str(model.diagnostics_["top_donor_weights"]).count(":") == 5
    # The same problem solved by a general-purpose constrained optimiser is no better.
    rng = np.random.default_rng(0)
    pool, target = rng.normal(size=(20, 30)), rng.normal(size=20)
    w = simplex_weights(target, pool)
    slsqp = minimize(
        lambda v: np.sum((target - pool @ v) ** 2),
        np.full(30, 1 / 30),
        method="SLSQP",
        bounds=[(0, None)] * 30,
        constraints=[{"type": "eq", "fun": lambda v: v.sum() - 1}],
        options={"ftol": 1e-12, "maxiter": 1000},
    )
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.sum((target - pool @ w) ** 2) <= slsqp.fun + 1e-8


def test_treated_unit_equal_to_a_donor_gets_that_donor() -> None:
    frame = synthetic_panel(effect=0.0, seed=2)
    donor = frame[frame["unit"] == "donor007"]["y"].to_numpy()
    frame.loc[frame["unit"] == "treated1", "y"] = donor
    model = fit(frame)
    assert model.weights_[0].max() == pytest.approx(1.0, abs=1e-9)
    assert model.ate_ == pytest.approx(0.0, abs=1e-9)


def test_placebo_p_value_small_with_a_large_effect_large_without() -> None:
    assert float(fit(synthetic_panel(effect=3.0, seed=1)).diagnostics_["placebo_p_value"]) < 0.05
    # Without an effect the rank p-value is roughly uniform over panels: large on average.
    null = [
        float(fit(synthetic_panel(effect=0.0, seed=seed)).diagnostics_["placebo_p_value"])
        for seed in range(10)
    ]
    assert null[0] > 0.1
    assert np.mean(null) > 0.3 and np.mean(np.array(null) > 0.1) >= 0.7


def test_three_treated_units_average_their_gaps() -> None:
    model = fit(synthetic_panel(n_donors=20, effect=2.0, seed=4, n_treated=3))
    lower, upper = model.ate_interval()
    assert abs(model.ate_ - 2.0) < 0.3 and lower < 2.0 < upper
    assert model.weights_.shape == (3, 20)
    assert np.allclose(model.weights_.sum(axis=1), 1.0)
    assert model.diagnostics_["n_placebos"] == 1140  # all sets of 3 of 20 donors
    assert float(model.diagnostics_["placebo_p_value"]) < 0.01


def test_many_placebo_sets_are_sampled_reproducibly() -> None:
    frame = synthetic_panel(n_donors=60, effect=1.0, seed=6, n_treated=3)  # C(60, 3) = 34,220 sets
    first, again, other = fit(frame), fit(frame), fit(frame, random_state=1)
    assert first.diagnostics_["n_placebos"] == 20_000
    assert first.ate_stderr_ == again.ate_stderr_
    assert first.ate_ == other.ate_
    assert first.ate_stderr_ == pytest.approx(other.ate_stderr_, rel=0.05)


def test_donors_with_missing_periods_are_dropped_and_counted() -> None:
    frame = synthetic_panel(seed=0)
    frame = frame[~((frame["unit"] == "donor004") & (frame["period"] == 3))]
    model = fit(frame)
    assert model.diagnostics_["n_donors"] == 29
    assert model.diagnostics_["n_donors_dropped_incomplete"] == 1


def _switch(frame: pd.DataFrame, unit: str, start: int, stop: int | None = None) -> pd.DataFrame:
    """Treat `unit` from period `start` (until before `stop`, if given)."""
    frame = frame.copy()
    rows = frame["unit"] == unit
    on = frame["period"] >= start
    if stop is not None:
        on &= frame["period"] < stop
    frame.loc[rows, "treated"] = on[rows].astype(int)
    return frame


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: _switch(f, "donor001", 15), "staggered adoption"),
        (lambda f: _switch(f, "treated1", 20, 25), "switch it off"),
        (lambda f: _switch(f, "treated1", 1), "at least 2 pre-treatment periods"),
        (lambda f: f[f["unit"].isin(["treated1", "donor001", "donor002", "donor003"])], "too few donors"),
        (
            lambda f: f[~((f["unit"] == "treated1") & (f["period"] == 4))],
            "observed in every period",
        ),
        (
            lambda f: pd.concat(
                [_switch(f[f["unit"] == "donor001"], "donor001", 20), f[f["unit"] == "treated1"]]
            ),
            "there are none",
        ),
        (
            lambda f: _switch(_switch(_switch(f, "donor001", 20), "donor002", 20), "donor003", 20),
            "serves 1 to 3 treated units",
        ),
    ],
    ids=[
        "staggered",
        "switch-off",
        "one-pre-period",
        "few-donors",
        "treated-gap",
        "no-donors",
        "four-treated",
    ],
)
def test_refuses_designs_it_cannot_serve(change: object, message: str) -> None:
    frame = change(synthetic_panel(n_donors=10, seed=0))  # type: ignore[operator]
    with pytest.raises(EstimationError, match=message):
        fit(frame)


def test_rejects_a_bad_random_state() -> None:
    with pytest.raises(EstimationError, match="random_state"):
        fit(synthetic_panel(seed=0), random_state=-1)


def test_needs_unit_and_time() -> None:
    frame = synthetic_panel(seed=0)
    with pytest.raises(EstimationError, match="panel method"):
        SyntheticControl().fit(frame["y"], frame["treated"])


@pytest.mark.skipif("synthetic_control" not in REGISTRY, reason="synthetic_control is not registered yet")
def test_through_the_domain_api() -> None:
    result = estimate("synthetic_control", synthetic_panel(effect=2.0, seed=3), ROLES)
    assert result.method == "synthetic_control" and result.estimand == "ATT"
    assert abs(result.estimate - 2.0) < 0.3 and result.ci_lower < 2.0 < result.ci_upper
    assert result.n_treated == 10 and result.n == 31 * 30
    assert result.diagnostics["placebo_p_value"] is not None


def test_one_treated_unit_with_five_post_periods_is_accepted_through_the_domain() -> None:
    """Five treated rows are below the ten rows per arm a cross-section needs: in a panel the
    treated arm is one unit followed over time, so the synthetic control and the TWFE DiD beside
    it both run, the DiD saying how thin its treated arm is (issue 12)."""
    frame = synthetic_panel(n_donors=20, n_periods=25, adoption=20, effect=2.0, seed=5)
    roles = RoleMapping(treatment="treated", outcome="y", unit="unit", time="period")
    result = estimate("synthetic_control", frame, roles)
    assert (result.n_treated, result.diagnostics["n_post_periods"]) == (5, 5.0)
    assert abs(result.estimate - 2.0) < 3 * result.std_error
    did = estimate("twfe", frame, roles)
    assert abs(did.estimate - 2.0) < 3 * did.std_error and did.diagnostics["n_treated_clusters"] == 1.0
    assert "1 treated unit(s) over 5 treated unit-period(s)" in str(did.diagnostics["thin_treated_arm"])


def test_donors_are_named_by_their_labels_through_the_domain() -> None:
    frame = synthetic_panel(n_donors=12, n_periods=20, adoption=14, effect=2.0, seed=9)
    roles = RoleMapping(treatment="treated", outcome="y", unit="unit", time="period")
    top = str(estimate("synthetic_control", frame, roles).diagnostics["top_donor_weights"])
    assert top.startswith("donor") and all(
        part.split(": ")[0].startswith("donor") for part in top.split(", ")
    )


def test_every_donors_placebo_gap_path_is_reported_for_the_spaghetti_plot() -> None:
    frame = synthetic_panel(effect=3.0, seed=1)
    model = fit(frame)
    d = model.diagnostics_
    assert [k for k in range(-30, 30) if f"gap_path_{k}" in d] == list(range(-20, 10))
    assert np.mean([d[f"gap_path_{k}"] for k in range(10)]) == pytest.approx(model.ate_)
    donors = [j for j in range(60) if f"placebo_gap_{j}_donor" in d]
    assert donors == list(range(30))
    # A donor's path is its own gap to the synthetic control the other donors give it.
    wide = frame.pivot(index="unit", columns="period", values="y")
    name = sorted(frame["unit"].unique())[int(str(d["placebo_gap_4_donor"]))]  # fitted without labels
    others = wide.drop(index=[name, "treated1"]).to_numpy()
    target = wide.loc[name].to_numpy()
    w = simplex_weights(target[:20], others[:, :20].T)
    expected = target - w @ others
    assert [d[f"placebo_gap_4_{k}"] for k in range(-20, 10)] == pytest.approx(expected.tolist())
    # The permutation p-value is the treated ratio's rank among the reported donor ratios.
    ratios = np.array([d[f"placebo_rmspe_ratio_{j}"] for j in donors])
    rank = (1 + int((ratios >= float(d["rmspe_ratio"])).sum())) / (1 + ratios.size)  # type: ignore[arg-type]
    assert d["placebo_p_value"] == pytest.approx(rank)
    assert float(d["placebo_p_value"]) < 0.05  # the effect of 3 leaves the bundle
