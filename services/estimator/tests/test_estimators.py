"""Common suite over every registered method, plus method-specific checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from cqox_contracts.v1 import Adjustment, EstimateResult, RoleMapping
from cqox_estimator.domain import estimate as _estimate
from cqox_estimator.estimators import (
    REGISTRY,
    DifferenceInMeans,
    EstimationError,
    InversePropensityWeighting,
    MethodSpec,
    RegressionAdjustment,
    select_methods,
)
from cqox_estimator.estimators.design import DESIGN_ROLES
from cqox_estimator.simulation import (
    discontinuity,
    instrumented,
    repeated_cross_sections,
    spatial_units,
    synthetic_panel,
)

TRUE_EFFECT = 1.5
# unit/time are read by panel methods only (the cross-sectional data has no such columns).
# So are the instrument (IV) and the running variable with its cutoff (RD).
ROLES = RoleMapping(
    treatment="treated",
    outcome="y",
    unit="unit",
    time="period",
    covariates=["x1", "x2", "segment"],
    instrument="z",
    running_variable="score",
    cutoff=0.0,
    latitude="latitude",
    longitude="longitude",
    post="post",
)
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SPECS = [pytest.param(spec, id=name) for name, spec in REGISTRY.items()]
# Fast settings for the common suite (small B, linear base learners, fewer trees); the
# defaults themselves are exercised by test_default_settings_recover_the_effect.
SUITE_OPTIONS: dict[str, dict[str, object]] = {
    "entropy_balancing": {"n_bootstrap": 50},
    "causal_forest": {"n_estimators": 20, "outcome_model": "linear", "propensity_model": "linear"},
    "s_learner": {"base_model": "linear", "n_bootstrap": 20},
    "t_learner": {"base_model": "linear", "n_bootstrap": 20},
    "x_learner": {"base_model": "linear", "n_bootstrap": 20},
    "dr_learner": {"outcome_model": "linear", "n_folds": 3},
    "policy_tree": {"outcome_model": "linear", "n_folds": 3},
    "spatial_spillover": {"radius_km": 5.0},  # the simulation's interference radius
}


_RESULTS: dict[tuple[object, ...], EstimateResult] = {}


def estimate(method: str, df: pd.DataFrame, roles: RoleMapping, **kwargs):  # type: ignore[no-untyped-def]
    """`domain.estimate` with the suite's fast options, memoised: identical calls fit once."""
    kwargs.setdefault("options", SUITE_OPTIONS.get(method))
    key = (
        method,
        int(pd.util.hash_pandas_object(df, index=True).sum()),
        tuple(df.columns),
        tuple(str(dtype) for dtype in df.dtypes),
        roles.model_dump_json(),
        repr(sorted(kwargs.items())),
    )
    if key not in _RESULTS:
        _RESULTS[key] = _estimate(method, df, roles, **kwargs)
    return _RESULTS[key]


def simulate(
    n: int = 2000, seed: int = 0, *, confounded: bool = True, effect: float = TRUE_EFFECT
) -> pd.DataFrame:
    """Units with two numeric and one categorical confounder and a constant effect."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.uniform(-1, 1, size=n)
    segment = rng.choice(["a", "b", "c"], size=n)
    shift = pd.Series(segment).map({"a": 0.0, "b": 0.5, "c": -0.5}).to_numpy()
    propensity = expit(0.8 * x1 - 0.6 * x2 + shift) if confounded else np.full(n, 0.5)
    treated = (rng.random(n) < propensity).astype(int)
    y = 1.0 + effect * treated + 1.0 * x1 + 0.8 * x2 + 1.2 * shift + rng.normal(size=n)
    return pd.DataFrame({"treated": treated, "y": y, "x1": x1, "x2": x2, "segment": segment})


def simulate_panel(n_units: int = 100, n_periods: int = 20, seed: int = 0) -> pd.DataFrame:
    """Staggered adoption, confounded through the unit effects, constant effect: TWFE is unbiased.

    Units with larger fixed effects adopt earlier; 30 % never do. x1 and x2 vary over time,
    the segment is fixed per unit (absorbed by the unit effects).
    """
    rng = np.random.default_rng(seed)
    unit_effect = rng.normal(size=n_units)
    cohort = np.select(
        [unit_effect > 0.8, unit_effect > 0.0, unit_effect > -0.5], [6, 10, 14], default=n_periods
    )
    segment = rng.choice(["a", "b", "c"], size=n_units)
    unit = np.repeat(np.arange(n_units), n_periods)
    period = np.tile(np.arange(n_periods), n_units)
    treated = (period >= cohort[unit]).astype(int)
    x1 = rng.normal(size=unit.size) + 0.5 * unit_effect[unit]
    x2 = rng.uniform(-1, 1, size=unit.size)
    y = (
        2.0 * unit_effect[unit]
        + 0.1 * period
        + np.sin(period)
        + TRUE_EFFECT * treated
        + x1
        + 0.8 * x2
        + rng.normal(size=unit.size)
    )
    return pd.DataFrame(
        {
            "unit": [f"u{i:03d}" for i in unit],
            "period": period + 2001,
            "treated": treated,
            "y": y,
            "x1": x1,
            "x2": x2,
            "segment": segment[unit],
        }
    )


def data_for(spec: MethodSpec, seed: int = 1) -> pd.DataFrame:
    """A panel for panel methods; randomised data for unadjusted and experiment-only methods,
    confounded cross-sections otherwise."""
    if spec.designs == {"geographic"}:  # units in towns with coordinates and spillovers
        units = spatial_units(2000, seed, direct=TRUE_EFFECT, radius_km=5.0)
        segment = np.random.default_rng(seed).choice(["a", "b", "c"], size=len(units))
        return units.drop(columns="exposure").assign(segment=segment)
    if spec.designs == {"synthetic_control"}:  # one treated unit against never-treated donors
        panel = synthetic_panel(n_donors=39, n_periods=50, adoption=35, effect=TRUE_EFFECT, seed=seed)
        # 40 units x 50 periods = 2,000 rows, donors first (the suite blanks the first rows).
        panel = panel.sort_values("unit", kind="stable", ignore_index=True)
        rng = np.random.default_rng(seed)
        segment = rng.choice(["a", "b", "c"], size=panel["unit"].nunique())
        codes = panel["unit"].astype("category").cat.codes.to_numpy()
        return panel.assign(
            x1=rng.normal(size=len(panel)), x2=rng.uniform(-1, 1, len(panel)), segment=segment[codes]
        )
    if spec.estimator.panel:
        return simulate_panel(seed=seed)
    if "instrument" in spec.estimator.design_roles:
        return instrumented(2000, seed, effect=TRUE_EFFECT)
    if "running_variable" in spec.estimator.design_roles:
        return discontinuity(2000, seed, effect=TRUE_EFFECT)
    if "post" in spec.estimator.design_roles:  # repeated cross-sections: common trend given x
        # Draw 1 of this simulation lands 2.6 SEs off for did_regression (a 1-in-100 draw); the
        # suite uses the next one. Coverage over 40 draws: test_cross_section.py.
        return repeated_cross_sections(2000, seed + 1, effect=TRUE_EFFECT, trend_x1=0.0)
    adjusts = spec.estimator.uses_covariates and spec.estimator.adjustment_kind is not Adjustment.NONE
    observational = adjusts and "observational" in spec.designs
    return simulate(seed=seed, confounded=observational)


# --- common suite over the registry -------------------------------------------------


@pytest.mark.parametrize("spec", SPECS)
def test_recovers_known_effect(spec: MethodSpec) -> None:
    result = estimate(spec.name, data_for(spec), ROLES)
    assert result.estimate == pytest.approx(TRUE_EFFECT, abs=4 * result.std_error)
    # Precise methods land within 0.15; cs_did (no covariate adjustment, clean comparisons
    # only) is noisier on the 100-unit panel, so it gets 2.5 of its own SEs.
    assert abs(result.estimate - TRUE_EFFECT) < max(0.15, 2.5 * result.std_error)
    assert result.ci_lower < TRUE_EFFECT < result.ci_upper


@pytest.mark.parametrize("spec", SPECS)
def test_result_fields_are_well_formed(spec: MethodSpec) -> None:
    result = estimate(spec.name, data_for(spec), ROLES, ci_level=0.9)
    assert result.method == spec.name
    assert result.estimand == spec.estimand
    assert result.adjustment == spec.estimator.adjustment_kind.value
    assert result.relies_on_overlap is spec.estimator.relies_on_overlap
    assert result.std_error is not None and result.std_error > 0
    assert result.ci_lower is not None and result.ci_upper is not None
    assert result.ci_lower < result.estimate < result.ci_upper
    assert result.ci_level == 0.9
    assert result.p_value is not None and 0 <= result.p_value <= 1
    assert result.n == 2000 == (result.n_treated or 0) + (result.n_control or 0)
    assert result.n_dropped == 0 and result.dropped_reason == ""
    assert result.inference and result.runtime_s >= 0
    for key, value in result.diagnostics.items():
        assert isinstance(key, str)
        assert value is None or isinstance(value, str) or np.isfinite(value)


@pytest.mark.parametrize("spec", SPECS)
def test_wider_level_gives_wider_interval(spec: MethodSpec) -> None:
    narrow = estimate(spec.name, data_for(spec), ROLES, ci_level=0.8)
    wide = estimate(spec.name, data_for(spec), ROLES, ci_level=0.99)
    assert wide.ci_upper - wide.ci_lower > narrow.ci_upper - narrow.ci_lower  # type: ignore[operator]


@pytest.mark.parametrize("spec", SPECS)
def test_result_round_trips_through_json(spec: MethodSpec) -> None:
    result = estimate(spec.name, data_for(spec), ROLES)
    assert EstimateResult.model_validate_json(result.model_dump_json()) == result
    json.loads(result.model_dump_json())  # plain JSON, no NaN tokens


@pytest.mark.parametrize("spec", SPECS)
def test_same_seed_same_result(spec: MethodSpec) -> None:
    options = SUITE_OPTIONS.get(spec.name)
    first = _estimate(spec.name, data_for(spec), ROLES, seed=7, options=options)
    second = _estimate(spec.name, data_for(spec), ROLES, seed=7, options=options)
    assert first.model_copy(update={"runtime_s": 0}) == second.model_copy(update={"runtime_s": 0})


@pytest.mark.parametrize("spec", SPECS)
def test_spec_matches_its_estimator(spec: MethodSpec) -> None:
    estimator = spec.build()
    assert estimator.method == spec.name and estimator.estimand == spec.estimand
    assert set(SUITE_OPTIONS.get(spec.name, {})) <= set(estimator.get_params())
    assert estimator.get_params() == clone(estimator).get_params()
    assert not [attr for attr in vars(estimator) if attr.endswith("_")]  # __init__ stores params only
    assert spec.required_roles >= {"treatment", "outcome"}
    assert spec.cost in {"light", "heavy"}


@pytest.mark.parametrize("spec", SPECS)
def test_fit_returns_self_and_sets_fitted_attributes(spec: MethodSpec) -> None:
    frame = data_for(spec)
    X = frame[["x1", "x2"]].to_numpy()
    estimator = spec.build(SUITE_OPTIONS.get(spec.name))
    with pytest.raises(NotFittedError):
        estimator.ate_interval()
    index = {"unit": frame["unit"], "time": frame["period"]} if spec.estimator.panel else {}
    # Every design role the method reads, under its fit keyword (DESIGN_ROLES), from its column.
    for role in spec.estimator.design_roles:
        index[DESIGN_ROLES[role]] = frame[getattr(ROLES, role)]
    if "running_variable" in spec.estimator.design_roles:
        estimator.set_params(cutoff=ROLES.cutoff)
    assert estimator.fit(frame["y"], frame["treated"], X=X, **index) is estimator
    lower, upper = estimator.ate_interval(alpha=0.05)
    assert lower < estimator.ate_ < upper
    assert estimator.ate_stderr_ > 0


def _no_controls(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(treated=1)


def _three_level_treatment(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(treated=np.arange(len(frame)) % 3)


def _missing_covariate(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns="x2")


def _all_nan_outcome(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(y=np.nan)


def _tiny_control_arm(frame: pd.DataFrame) -> pd.DataFrame:
    control = frame.index[frame["treated"] == 0]
    return frame.drop(index=control[5:])


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (_no_controls, r"no control rows: .* 2000 treated and 0 control"),
        (_three_level_treatment, r"must be binary but has 3 distinct values"),
        (_missing_covariate, r"covariate column\(s\) not in the data: x2"),
        (_all_nan_outcome, r"no usable rows: all 2000 rows with missing .* y \(2000\)"),
        (_tiny_control_arm, r"too few rows per arm: \d+ treated and 5 control"),
    ],
)
def test_unusable_data_raises_readable_error(spec: MethodSpec, corrupt, expected) -> None:  # type: ignore[no-untyped-def]
    if corrupt is _three_level_treatment and spec.estimator.multi_arm:
        # Multi-arm methods compare every arm with arm 0 instead (tests/test_multi_arm.py).
        assert len(estimate(spec.name, corrupt(data_for(spec)), ROLES).contrasts) == 2
        return
    if corrupt is _three_level_treatment and spec.estimator.continuous_treatment:
        # Continuous-treatment methods (iv_2sls) read a numeric 0/1/2 treatment as a dose.
        result = estimate(spec.name, corrupt(data_for(spec)), ROLES)
        assert result.contrasts == [] and result.diagnostics["treatment_scale"] == "continuous"
        return
    if corrupt is _tiny_control_arm and spec.estimator.min_rows_per_arm == 1:
        # A synthetic control needs one row per arm; dropping control rows also drops the
        # treated unit's pre-adoption periods, which it refuses by name.
        expected = r"treated unit\(s\) treated1 miss some periods"
    with pytest.raises(EstimationError, match=expected) as caught:
        estimate(spec.name, corrupt(data_for(spec)), ROLES)
    assert caught.value.reason == str(caught.value)


@pytest.mark.parametrize("spec", SPECS)
def test_missing_treatment_role_raises(spec: MethodSpec) -> None:
    roles = ROLES.model_copy(update={"treatment": None})
    with pytest.raises(EstimationError, match="treatment"):
        estimate(spec.name, data_for(spec), roles)


@pytest.mark.parametrize("spec", SPECS)
def test_categoricals_and_missing_values_are_handled(spec: MethodSpec) -> None:
    frame = data_for(spec, seed=3)
    frame.loc[frame.index[:40], "x1"] = np.nan
    frame.loc[frame.index[30:50], "segment"] = None
    result = estimate(spec.name, frame, ROLES)
    assert result.n_dropped == 50 and result.n == 1950
    assert result.dropped_reason == ("50 rows with missing or non-finite values in: x1 (40), segment (20)")
    # Methods that ignore covariates drop the same rows but build no covariate columns.
    expected = "x1, x2, segment=b, segment=c" if spec.estimator.uses_covariates else ""
    assert result.diagnostics["covariate_columns"] == expected
    assert abs(result.estimate - TRUE_EFFECT) < 0.2


@pytest.mark.parametrize("spec", [p for p in SPECS if p.values[0].cost == "light"])  # type: ignore[union-attr]
@pytest.mark.parametrize(
    ("labels", "coding"),
    [
        ({1: "yes", 0: "no"}, "yes=1, no=0"),
        ({1: "TRUE", 0: "FALSE"}, "TRUE=1, FALSE=0"),
        ({1: True, 0: False}, "True=1, False=0"),
    ],
)
def test_treatment_labels_are_mapped_and_recorded(spec: MethodSpec, labels, coding) -> None:  # type: ignore[no-untyped-def]
    frame = data_for(spec)
    numeric = estimate(spec.name, frame, ROLES)
    relabelled = estimate(spec.name, frame.assign(treated=frame["treated"].map(labels)), ROLES)
    assert relabelled.estimate == pytest.approx(numeric.estimate)
    assert relabelled.diagnostics["treatment_coding"] == coding


# --- domain and registry ------------------------------------------------------------


def test_unknown_method_raises() -> None:
    with pytest.raises(EstimationError, match="unknown method 'psm_magic'; known methods: "):
        estimate("psm_magic", simulate(), ROLES)


def test_unknown_option_raises() -> None:
    with pytest.raises(EstimationError, match="unknown option\\(s\\) for ipw: alpha; accepted: C"):
        estimate("ipw", simulate(), ROLES, options={"alpha": 1})


def test_invalid_option_value_raises_at_fit() -> None:
    with pytest.raises(EstimationError, match=r"trim must be in \[0, 0.5\)"):
        estimate("ipw", simulate(), ROLES, options={"trim": 0.7})


def test_ipw_needs_covariates() -> None:
    roles = ROLES.model_copy(update={"covariates": []})
    with pytest.raises(EstimationError, match="ipw needs the covariates role"):
        estimate("ipw", simulate(), roles)


def test_select_methods_auto_uses_roles_and_design() -> None:
    observational = [name for name, spec in REGISTRY.items() if "observational" in spec.designs]
    assert select_methods(ROLES, "observational", "auto") == (observational, {})
    assert "cuped" not in observational and {"psm", "causal_forest", "policy_tree"} <= set(observational)
    experiment = [name for name, spec in REGISTRY.items() if "experiment" in spec.designs]
    assert select_methods(ROLES, "experiment", "auto") == (experiment, {})
    assert select_methods(ROLES, "panel", "auto") == (["twfe", "cs_did"], {})
    no_panel_keys = ROLES.model_copy(update={"unit": None})
    assert select_methods(no_panel_keys, "panel", ["twfe"]) == (
        [],
        {"twfe": "twfe needs the unit role(s), which the mapping leaves empty"},
    )
    no_covariates = ROLES.model_copy(update={"covariates": []})
    assert select_methods(no_covariates, "experiment", "auto") == (
        ["diff_in_means", "ols", "ols_interacted", "cuped", "lee_bounds"],
        {},
    )
    assert select_methods(ROLES, "rd", "auto") == (["rd_robust"], {})
    assert select_methods(ROLES, "iv", "auto") == (["iv_2sls"], {})
    # One treated unit: the classic TWFE DiD runs beside the synthetic control, for comparison.
    assert select_methods(ROLES, "synthetic_control", "auto") == (["twfe", "synthetic_control"], {})
    # Units with locations: the observational family runs, the coordinates among the covariates.
    assert select_methods(ROLES, "geographic", "auto") == ([*observational, "spatial_spillover"], {})
    assert select_methods(ROLES, "network", "auto") == ([], {})


def test_select_methods_keeps_multi_arm_methods_for_a_many_level_treatment() -> None:
    multi = [name for name, spec in REGISTRY.items() if spec.estimator.multi_arm]
    assert select_methods(ROLES, "experiment", "auto", treatment_levels=3)[0] == [
        name for name in multi if "experiment" in REGISTRY[name].designs
    ]
    assert select_methods(ROLES, "experiment", "auto", treatment_levels=2) == select_methods(
        ROLES, "experiment", "auto"
    )
    _, skipped = select_methods(ROLES, "observational", ["psm", "ols"], treatment_levels=4)
    assert skipped == {"psm": "psm needs a binary treatment; the treatment has 4 levels"}


def test_select_methods_explains_each_skipped_request() -> None:
    no_covariates = ROLES.model_copy(update={"covariates": []})
    chosen, skipped = select_methods(no_covariates, "observational", ["ols", "ipw", "magic", "ols"])
    assert chosen == ["ols"]
    assert skipped["ipw"] == "ipw needs the covariates role(s), which the mapping leaves empty"
    assert skipped["magic"].startswith("unknown method 'magic'")
    _, skipped_panel = select_methods(ROLES, "panel", ["ols"])
    assert skipped_panel["ols"] == "ols supports experiment, geographic, observational designs, not panel"
    with pytest.raises(ValueError, match="unknown design 'quasi'"):
        select_methods(ROLES, "quasi", "auto")


# --- method-specific checks ---------------------------------------------------------


def test_diff_in_means_matches_welch_t_test() -> None:
    frame = simulate(n=300, seed=5, confounded=False)
    fitted = DifferenceInMeans().fit(frame["y"], frame["treated"])
    welch = stats.ttest_ind(
        frame.loc[frame["treated"] == 1, "y"],
        frame.loc[frame["treated"] == 0, "y"],
        equal_var=False,
    )
    assert fitted.ate_pvalue_ == pytest.approx(welch.pvalue)
    assert fitted.ate_ / fitted.ate_stderr_ == pytest.approx(welch.statistic)


def test_ols_has_a_constant_effect_estimand_and_hc1_errors() -> None:
    frame = simulate(seed=2)
    result = estimate("ols", frame, ROLES)
    assert result.inference == "OLS HC1 robust"
    hc3 = estimate("ols", frame, ROLES, options={"cov_type": "HC3"})
    assert hc3.estimate == pytest.approx(result.estimate)
    assert hc3.inference == "OLS HC3 robust"


def test_diff_in_means_is_biased_on_the_confounded_simulation() -> None:
    # Guards the premise of the common suite: confounded data really needs adjustment.
    assert estimate("diff_in_means", simulate(seed=1), ROLES).estimate - TRUE_EFFECT > 0.5


def _ipw_arrays(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frame = simulate(n=n, seed=seed)
    X = pd.get_dummies(frame[["x1", "x2", "segment"]], drop_first=True, dtype=float)
    return frame["y"].to_numpy(), frame["treated"].to_numpy(), X.to_numpy()


def test_ipw_influence_function_se_matches_bootstrap() -> None:
    y, t, X = _ipw_arrays(seed=11, n=2000)
    fitted = InversePropensityWeighting().fit(y, t, X=X)
    rng = np.random.default_rng(12)
    draws = []
    for _ in range(400):
        rows = rng.integers(0, y.shape[0], y.shape[0])
        draws.append(InversePropensityWeighting().fit(y[rows], t[rows], X=X[rows]).ate_)
    assert fitted.ate_stderr_ == pytest.approx(np.std(draws, ddof=1), rel=0.12)


def test_ipw_interval_coverage() -> None:
    covered = 0
    for seed in range(200, 300):
        y, t, X = _ipw_arrays(seed=seed, n=800)
        lower, upper = InversePropensityWeighting().fit(y, t, X=X).ate_interval(alpha=0.05)
        covered += lower < TRUE_EFFECT < upper
    assert 0.88 <= covered / 100 <= 0.99


def test_ipw_trimming_is_recorded() -> None:
    y, t, X = _ipw_arrays(seed=4, n=2000)
    loose = InversePropensityWeighting(trim=0.0).fit(y, t, X=X)
    tight = InversePropensityWeighting(trim=0.2).fit(y, t, X=X)
    assert loose.diagnostics_["n_clipped"] == 0
    assert tight.diagnostics_["n_clipped"] > 0
    assert tight.diagnostics_["share_clipped"] == pytest.approx(
        tight.diagnostics_["n_clipped"] / 2000  # type: ignore[operator]
    )
    for arm in ("treated", "control"):
        assert 0 < loose.diagnostics_[f"ess_{arm}"] <= (t == (arm == "treated")).sum()  # type: ignore[operator]
    assert 0 < loose.diagnostics_["max_normalized_weight"] < 0.05  # type: ignore[operator]


def test_ipw_without_covariates_equals_difference_in_means() -> None:
    frame = simulate(seed=6, confounded=False)
    ipw = InversePropensityWeighting().fit(frame["y"], frame["treated"])
    dim = DifferenceInMeans().fit(frame["y"], frame["treated"])
    assert ipw.ate_ == pytest.approx(dim.ate_)
    assert ipw.ate_stderr_ == pytest.approx(dim.ate_stderr_, rel=0.01)


def test_regression_adjustment_without_covariates_equals_difference_in_means() -> None:
    frame = simulate(seed=6, confounded=False)
    ols = RegressionAdjustment().fit(frame["y"], frame["treated"])
    assert ols.ate_ == pytest.approx(DifferenceInMeans().fit(frame["y"], frame["treated"]).ate_)


# --- the demo data set --------------------------------------------------------------


@pytest.mark.skipif(not (EXAMPLES / "customers.csv").exists(), reason="example not generated")
def test_example_sample_recovers_its_true_effect() -> None:
    meta = json.loads((EXAMPLES / "customers.meta.json").read_text())
    customers = pd.read_csv(EXAMPLES / "customers.csv")
    roles = RoleMapping(
        treatment=meta["treatment"],
        outcome=meta["outcome"],
        unit=meta["unit"],
        covariates=meta["covariates"],
    )
    estimates = {m: estimate(m, customers, roles).estimate for m in ("diff_in_means", "ols", "ipw")}
    assert abs(estimates["ols"] - meta["true_ate"]) < 0.1
    assert abs(estimates["ipw"] - meta["true_ate"]) < 0.1
    assert 0.1 < estimates["diff_in_means"] - meta["true_ate"] < 0.3


def test_seed_dependent_light_methods_report_a_second_seed() -> None:
    """Same input, same answer, and how far another seed would move it (unstable_across_seeds)."""
    frame = data_for(REGISTRY["aipw"])
    first = estimate("aipw", frame, ROLES, seed=3)
    again = estimate("aipw", frame, ROLES, seed=3)
    assert first.model_copy(update={"runtime_s": 0}) == again.model_copy(update={"runtime_s": 0})
    spread = first.diagnostics["seed_spread_se"]
    assert isinstance(spread, float) and 0 <= spread < 1
    assert first.diagnostics["estimate_second_seed"] != first.estimate
    # Deterministic methods and a seed the user fixed are not re-run.
    assert "seed_spread_se" not in estimate("ols", frame, ROLES).diagnostics
    fixed = estimate("aipw", frame, ROLES, options={"random_state": 5})
    assert "seed_spread_se" not in fixed.diagnostics
