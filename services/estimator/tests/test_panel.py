"""Two-way fixed effects: equal to the dummy-variable regression, honest about its weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from cqox_contracts.v1 import RoleMapping
from cqox_estimator.domain import estimate
from cqox_estimator.estimators import EstimationError, TwoWayFixedEffects

ROLES = RoleMapping(treatment="treated", outcome="y", unit="unit", time="period", covariates=["x"])


def panel(
    n_units: int = 60,
    n_periods: int = 8,
    seed: int = 0,
    *,
    cohorts: tuple[int, ...] = (4,),
    dynamic: float = 0.0,
) -> pd.DataFrame:
    """Half the units adopt at one of `cohorts`, the rest never; effect 1 + dynamic * years treated."""
    rng = np.random.default_rng(seed)
    adopt = np.where(rng.random(n_units) < 0.5, rng.choice(cohorts, size=n_units), n_periods + 1)
    unit = np.repeat(np.arange(n_units), n_periods)
    period = np.tile(np.arange(n_periods), n_units)
    exposure = period - adopt[unit]
    treated = (exposure >= 0).astype(int)
    x = rng.normal(size=unit.size)
    effect = (1.0 + dynamic * exposure) * treated
    y = rng.normal(size=n_units)[unit] + 0.3 * period + effect + 0.5 * x + rng.normal(size=unit.size)
    return pd.DataFrame({"unit": unit, "period": period, "treated": treated, "x": x, "y": y})


def test_equals_the_dummy_variable_regression_with_unit_clustered_errors() -> None:
    frame = panel(seed=3)
    result = estimate("twfe", frame, ROLES)
    lsdv = smf.ols("y ~ treated + x + C(unit) + C(period)", data=frame).fit(
        cov_type="cluster", cov_kwds={"groups": frame["unit"]}
    )
    assert result.estimate == pytest.approx(lsdv.params["treated"], rel=1e-8)
    # Same small-sample scaling as the dummy-variable regression: G/(G-1) * (N-1)/(N-K).
    assert result.std_error == pytest.approx(lsdv.bse["treated"], rel=1e-8)
    assert result.inference == "cluster"
    assert result.estimand == "ATT"
    assert result.diagnostics["n_clusters"] == 60 and result.diagnostics["n_periods"] == 8


def test_describes_the_adoption_pattern() -> None:
    result = estimate("twfe", panel(seed=1, cohorts=(3, 5)), ROLES)
    diagnostics = result.diagnostics
    assert diagnostics["balanced"] == 1.0
    assert diagnostics["n_adoption_cohorts"] == 2
    assert (diagnostics["n_switching_units"] or 0) + (diagnostics["n_never_treated_units"] or 0) == 60
    assert diagnostics["n_always_treated_units"] == 0
    assert "Staggered adoption (2 cohorts)" in str(diagnostics["warning"])


def test_flags_negative_weights_when_late_adopters_are_compared_with_early_ones() -> None:
    # Everyone is treated eventually and effects grow with exposure: the textbook failure.
    rng = np.random.default_rng(0)
    frame = panel(n_units=80, n_periods=10, seed=2, cohorts=(2, 7), dynamic=0.5)
    frame = frame[frame.groupby("unit")["treated"].transform("max") == 1]
    frame = frame.assign(x=rng.normal(size=len(frame)))
    result = estimate("twfe", frame, ROLES)
    assert (result.diagnostics["negative_weight_share"] or 0) > 0
    assert "negative weight" in str(result.diagnostics["warning"])


def test_recovers_a_constant_effect_under_staggered_adoption() -> None:
    runs = [estimate("twfe", panel(n_units=200, seed=s, cohorts=(3, 5)), ROLES) for s in range(20)]
    # 20 runs with SE about 0.1 each: the mean is within 0.07 of the truth (3 SE of the mean).
    assert np.mean([r.estimate for r in runs]) == pytest.approx(1.0, abs=0.07)
    assert np.mean([r.ci_lower < 1.0 < r.ci_upper for r in runs]) >= 0.85


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda f: f.assign(treated=(f["unit"] % 2)), "never changes within a unit"),
        (lambda f: pd.concat([f, f.head(3)]), "3 rows repeat a \\(unit, time\\) pair"),
        (lambda f: f[f["period"] == 5], "at least two periods"),
        (lambda f: f.drop(columns="period"), "the time column 'period' is not in the data"),
    ],
)
def test_panels_twfe_cannot_use_are_refused_with_the_reason(corrupt, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EstimationError, match=message):
        estimate("twfe", corrupt(panel(seed=4)), ROLES)


def test_rows_with_a_missing_unit_or_period_are_dropped_and_counted() -> None:
    frame = panel(seed=5).astype({"period": float})
    frame.loc[frame.index[:3], "period"] = np.nan
    result = estimate("twfe", frame, ROLES)
    assert result.n_dropped == 3 and "period (3)" in result.dropped_reason


def test_unit_and_time_are_required_by_fit() -> None:
    frame = panel()
    with pytest.raises(EstimationError, match="twfe is a panel method"):
        TwoWayFixedEffects().fit(frame["y"], frame["treated"], X=frame[["x"]])


def test_the_confirmed_treatment_coding_is_used_for_text_labels() -> None:
    frame = panel(seed=6)
    numeric = estimate("twfe", frame, ROLES)
    labelled = frame.assign(treated=frame["treated"].map({1: "配信あり", 0: "配信なし"}))
    coded = ROLES.model_copy(update={"treatment_coding": {"配信なし": 0, "配信あり": 1}})
    result = estimate("twfe", labelled, coded)
    assert result.estimate == pytest.approx(numeric.estimate)
    assert result.diagnostics["treatment_coding"] == "配信あり=1, 配信なし=0"
    with pytest.raises(EstimationError, match="cannot tell which level"):
        estimate("twfe", labelled, ROLES)
    partial = ROLES.model_copy(update={"treatment_coding": {"配信あり": 1}})
    with pytest.raises(EstimationError, match="'配信なし' that the coding"):
        estimate("twfe", labelled, partial)


def test_classic_did_layout_uses_the_treated_group_in_its_post_periods() -> None:
    # Group marked for every period of a treated unit, plus a post indicator: D = group x post.
    frame = panel(seed=7, cohorts=(4,))
    group = frame.groupby("unit")["treated"].transform("max")
    layout = frame.assign(group=group.map({1: "対象", 0: "対照"}), post=(frame["period"] >= 4).astype(int))
    roles = ROLES.model_copy(
        update={"treatment": "group", "post": "post", "treatment_coding": {"対象": 1, "対照": 0}}
    )
    did = estimate("twfe", layout.drop(columns="treated"), roles)
    direct = estimate("twfe", frame, ROLES)
    assert did.estimate == pytest.approx(direct.estimate)
    assert did.diagnostics["treatment_definition"].startswith("treatment = group x post")  # type: ignore[union-attr]
    with pytest.raises(EstimationError, match="post-period indicator 'post' must be 0/1"):
        estimate("twfe", layout.assign(post="later"), roles)


def test_pretrend_test_passes_parallel_trends_and_catches_a_diverging_group() -> None:
    parallel = [estimate("twfe", panel(n_units=80, seed=s, cohorts=(4, 5)), ROLES) for s in range(10)]
    p_values = [r.diagnostics["pretrend_p_value"] for r in parallel]
    assert all(isinstance(p, float) for p in p_values)
    assert sum(p < 0.05 for p in p_values) <= 2  # type: ignore[operator]
    assert "event-study leads" in str(parallel[0].diagnostics["pretrend_test"])

    # Treated units trend upwards by 0.5 a period from the start: the leads pick it up.
    frame = panel(n_units=80, seed=1, cohorts=(4, 5))
    ever = frame.groupby("unit")["treated"].transform("max")
    diverging = frame.assign(y=frame["y"] + 0.5 * ever * frame["period"])
    result = estimate("twfe", diverging, ROLES)
    assert (result.diagnostics["pretrend_p_value"] or 1) < 0.001  # type: ignore[operator]


def test_pretrend_test_is_skipped_with_reasons_it_cannot_run() -> None:
    frame = panel(seed=2, cohorts=(1,))  # adoption in the second period: no lead beyond -1
    result = estimate("twfe", frame, ROLES)
    assert "not run" in str(result.diagnostics["pretrend_test"])
    assert "pretrend_p_value" not in result.diagnostics


def test_standard_errors_cluster_on_the_mapped_cluster_column() -> None:
    frame = panel(seed=3).assign(region=lambda f: f["unit"] // 6)  # 10 regions of 6 units
    roles = ROLES.model_copy(update={"cluster": "region"})
    result = estimate("twfe", frame, roles)
    lsdv = smf.ols("y ~ treated + x + C(unit) + C(period)", data=frame).fit(
        cov_type="cluster", cov_kwds={"groups": frame["region"]}
    )
    assert result.std_error == pytest.approx(lsdv.bse["treated"], rel=1e-8)
    assert result.diagnostics["n_clusters"] == 10 and result.diagnostics["cluster"] == "cluster column"
    assert "Only 10 clusters" in str(result.diagnostics["warning"])
    same_as_unit = ROLES.model_copy(update={"cluster": "unit"})
    assert estimate("twfe", frame, same_as_unit).std_error == estimate("twfe", frame, ROLES).std_error


@pytest.mark.parametrize(
    "label",
    [
        lambda p: f"2023年{p + 1}月",
        lambda p: f"{2020 + p // 4}Q{p % 4 + 1}",
        lambda p: ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug"][p] + " 2023",
    ],
    ids=["japanese-months", "quarters", "month-names"],
)
def test_text_periods_are_put_in_time_order(label) -> None:  # type: ignore[no-untyped-def]
    frame = panel(seed=8, cohorts=(3, 5))
    numeric = estimate("cs_did", frame, ROLES)
    texted = estimate("cs_did", frame.assign(period=frame["period"].map(label)), ROLES)
    assert texted.estimate == pytest.approx(numeric.estimate)
    twfe = estimate("twfe", frame.assign(period=frame["period"].map(label)), ROLES)
    assert twfe.diagnostics["pretrend_p_value"] == pytest.approx(
        estimate("twfe", frame, ROLES).diagnostics["pretrend_p_value"]
    )
