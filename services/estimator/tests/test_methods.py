"""Method-specific checks of the selection-on-observables and CATE family."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cqox_contracts.v1 import EstimateRequested, RoleMapping
from cqox_estimator.domain import estimate, run
from cqox_estimator.estimators import (
    REGISTRY,
    EntropyBalancing,
    EstimationError,
    InteractedRegression,
    PropensityScoreMatching,
    methods_by_cost,
)
from cqox_estimator.handlers import _store_tables
from cqox_estimator.simulation import confounded, heterogeneous

TRUE_EFFECT = 1.5
ROLES = RoleMapping(treatment="treated", outcome="y", covariates=["x1", "x2", "segment"])
UNIT_ROLES = ROLES.model_copy(update={"unit": "id"})


def simulate(n: int = 2000, seed: int = 0, *, confounded_: bool = True) -> pd.DataFrame:
    """The common suite's design: constant effect 1.5, confounded unless told otherwise."""
    return confounded(n, seed, effect=TRUE_EFFECT, randomised=not confounded_)


def test_registry_declares_cost_and_outputs() -> None:
    assert "causal_forest" in methods_by_cost("heavy")
    assert {"diff_in_means", "ols", "ipw", "aipw"} <= set(methods_by_cost("light"))
    assert set(methods_by_cost("light")) | set(methods_by_cost("heavy")) == set(REGISTRY)
    cate = {name for name, spec in REGISTRY.items() if spec.writes("effects")}
    assert {"causal_forest", "linear_dml", "dr_learner", "t_learner", "policy_tree"} <= cate
    assert [name for name, spec in REGISTRY.items() if spec.writes("policy")] == ["policy_tree"]


def test_interacted_regression_recovers_heterogeneity_and_writes_effects() -> None:
    frame = heterogeneous()
    method_run = run("ols_interacted", frame, UNIT_ROLES)
    result = method_run.result
    assert abs(result.estimate - 1.0) < 0.12
    assert method_run.effects is not None
    effects = method_run.effects
    assert list(effects.columns) == ["unit", "row", "cate"] and len(effects) == 3000
    assert np.corrcoef(effects["cate"], frame["x1"])[0, 1] > 0.95
    assert result.diagnostics["cate_top_drivers"].startswith("x1 (")  # type: ignore[union-attr]
    q1, q4 = result.diagnostics["cate_by_x1_q1"], result.diagnostics["cate_by_x1_q4"]
    assert q1 is not None and q4 is not None and q4 - q1 > 1.5  # type: ignore[operator]
    assert result.diagnostics["cate_p05"] < result.diagnostics["cate_p95"]  # type: ignore[operator]


def test_ols_coefficient_is_not_the_ate_under_heterogeneity_but_lin_is() -> None:
    frame = heterogeneous(seed=1)
    lin = estimate("ols_interacted", frame, ROLES)
    assert lin.ci_lower < 1.0 < lin.ci_upper  # type: ignore[operator]
    assert InteractedRegression().get_params() == {"cov_type": "HC2"}


@pytest.mark.parametrize("arm", [0, 1])
def test_interacted_regression_refuses_a_covariate_constant_within_an_arm(arm: int) -> None:
    frame = simulate(seed=4)
    # x2 varies overall (so [1, t, X] has full rank) but takes one value in one arm.
    frame.loc[frame["treated"] == arm, "x2"] = 0.25
    with pytest.raises(EstimationError, match=f"constant among rows with t={arm}"):
        estimate("ols_interacted", frame, ROLES)
    assert estimate("ols", frame, ROLES).n == len(frame)  # the plain regression is unaffected


@pytest.mark.parametrize("method", ["linear_dml", "dr_learner"])
def test_cate_methods_find_the_driver(method: str) -> None:
    frame = heterogeneous(seed=2)
    method_run = run(method, frame, UNIT_ROLES, options={"outcome_model": "linear"})
    assert abs(method_run.result.estimate - 1.0) < 0.15
    assert method_run.effects is not None
    assert np.corrcoef(method_run.effects["cate"], frame["x1"])[0, 1] > 0.8
    assert str(method_run.result.diagnostics["cate_top_drivers"]).startswith("x1 (")


def test_policy_tree_writes_a_policy_and_an_honest_gain() -> None:
    frame = heterogeneous(seed=3)  # effect 1 + x1 < 0 for x1 < -1: those should not be treated
    method_run = run("policy_tree", frame, UNIT_ROLES, options={"outcome_model": "linear", "n_folds": 3})
    assert method_run.policy is not None
    policy = method_run.policy
    assert list(policy.columns) == ["unit", "row", "recommended_arm", "expected_gain"]
    withheld = policy.loc[policy["recommended_arm"] == "control", "row"]
    assert 0 < len(withheld) < len(policy) / 2
    assert frame.loc[withheld, "x1"].mean() < -1
    result = method_run.result
    assert result.estimand == "policy gain"
    # treating only those with a positive effect beats treating everyone
    assert result.estimate > float(result.diagnostics["gain_treat_everyone"])  # type: ignore[arg-type]
    assert 0.5 < float(result.diagnostics["share_recommended_treatment"]) < 1  # type: ignore[arg-type]
    names = [name for name, _, _ in method_run.files()]
    assert names == ["cate_policy_tree.parquet", "policy_policy_tree.csv"]


def test_psm_with_and_without_replacement() -> None:
    frame = simulate(n=3000, seed=4)
    with_replacement = estimate("psm", frame, ROLES)
    without = estimate("psm", frame, ROLES, options={"replace": False})
    for result in (with_replacement, without):
        assert result.estimand == "ATT"
        assert abs(result.estimate - TRUE_EFFECT) < 0.2
        assert result.ci_lower < TRUE_EFFECT < result.ci_upper  # type: ignore[operator]
    assert without.diagnostics["max_control_reuse"] == 1
    assert with_replacement.diagnostics["max_control_reuse"] > 1  # type: ignore[operator]
    assert without.diagnostics["n_controls_used"] == without.diagnostics["n_matched_treated"]
    tight = estimate("psm", frame, ROLES, options={"caliper": 0.0005, "replace": False})
    assert tight.diagnostics["n_unmatched_treated"] > 0  # type: ignore[operator]


def test_psm_abadie_imbens_se_tracks_the_sampling_sd() -> None:
    draws, ses, covered = [], [], 0
    for seed in range(30):
        y, t, X = _arrays(simulate(n=1000, seed=100 + seed))
        fitted = PropensityScoreMatching().fit(y, t, X=X)
        draws.append(fitted.ate_)
        ses.append(fitted.ate_stderr_)
        lower, upper = fitted.ate_interval(alpha=0.05)
        covered += lower < TRUE_EFFECT < upper
    # The SE (adjusted for the estimated propensity, Abadie & Imbens 2016) must track the sampling
    # SD, and 95 % intervals must cover the known ATT in (almost) every one of the 30 samples
    # (26 or more: binomial 5th percentile).
    assert 0.85 < np.mean(ses) / np.std(draws, ddof=1) < 1.7
    assert covered >= 26
    assert "estimated propensity" in fitted.inference_


def _arrays(frame: pd.DataFrame) -> tuple[Any, Any, Any]:
    X = pd.get_dummies(frame[["x1", "x2", "segment"]], drop_first=True, dtype=float).to_numpy()
    return frame["y"].to_numpy(), frame["treated"].to_numpy(), X


def test_psm_rejects_bad_options() -> None:
    with pytest.raises(EstimationError, match="without replacement supports n_neighbors=1"):
        estimate("psm", simulate(), ROLES, options={"replace": False, "n_neighbors": 2})


def test_weighting_methods_balance_the_covariates() -> None:
    frame = simulate(seed=5)
    ato = estimate("overlap_weights", frame, ROLES)
    assert ato.estimand == "ATO" and float(ato.diagnostics["max_abs_smd_after"]) < 1e-3  # type: ignore[arg-type]
    ebal = estimate("entropy_balancing", frame, ROLES)
    assert float(ebal.diagnostics["max_abs_smd_after"]) < 1e-6  # type: ignore[arg-type]
    assert ebal.inference.startswith("M-estimation sandwich")
    boot = estimate("entropy_balancing", frame, ROLES, options={"se": "bootstrap", "n_bootstrap": 200})
    assert boot.inference.startswith("bootstrap (B=200") and boot.diagnostics["bootstrap_reps"] == 200
    # The stacked-equations SE and the bootstrap agree (the bootstrap's own noise is about 5 %).
    assert ebal.std_error == pytest.approx(boot.std_error, rel=0.15)
    assert boot.estimate == ebal.estimate


def test_entropy_balancing_without_overlap_fails_readably() -> None:
    frame = simulate(seed=6)
    frame.loc[frame["treated"] == 1, "x1"] += 50  # treated far outside the controls' range
    y, t, X = _arrays(frame)
    with pytest.raises(EstimationError, match="no overlap: entropy balancing found no control weights"):
        EntropyBalancing(n_bootstrap=20).fit(y, t, X=X)


def test_ipw_can_drop_instead_of_clip() -> None:
    frame = simulate(seed=7)
    dropped = estimate("ipw", frame, ROLES, options={"trim": 0.1, "trimming": "drop"})
    assert dropped.diagnostics["trimming"] == "drop" and float(dropped.diagnostics["n_trimmed"]) > 0  # type: ignore[arg-type]
    assert abs(dropped.estimate - TRUE_EFFECT) < 0.2
    with pytest.raises(EstimationError, match="trimming must be 'clip' or 'drop'"):
        estimate("ipw", frame, ROLES, options={"trimming": "cut"})


def test_cuped_reduces_variance_and_flags_sample_ratio_mismatch() -> None:
    frame = simulate(seed=8, confounded_=False)
    cuped = estimate("cuped", frame, ROLES)
    plain = estimate("diff_in_means", frame, ROLES)
    assert cuped.std_error < 0.8 * plain.std_error  # type: ignore[operator]
    assert float(cuped.diagnostics["variance_reduction"]) > 0.3  # type: ignore[arg-type]
    assert cuped.diagnostics["srm_flag"] == "ok"
    lopsided = frame.drop(index=frame.index[frame["treated"] == 1][:300])
    assert estimate("cuped", lopsided, ROLES).diagnostics["srm_flag"] == "mismatch"


def test_a_different_seed_changes_only_random_steps() -> None:
    frame = simulate(seed=9)
    first = estimate("aipw", frame, ROLES, seed=1)
    second = estimate("aipw", frame, ROLES, seed=2)
    assert first.estimate != second.estimate
    assert abs(first.estimate - second.estimate) < 0.05
    assert estimate("ols", frame, ROLES, seed=1).estimate == estimate("ols", frame, ROLES, seed=2).estimate


def test_dml_needs_covariates() -> None:
    roles = ROLES.model_copy(update={"covariates": []})
    with pytest.raises(EstimationError, match="linear_dml needs the covariates role"):
        estimate("linear_dml", simulate(), roles)


@pytest.mark.parametrize("method", ["causal_forest", "t_learner", "dr_learner"])
def test_default_settings_recover_the_effect(method: str) -> None:
    """The production defaults (LightGBM first stages) on a 2,000-row sample."""
    result = estimate(method, simulate(seed=10), ROLES)
    assert abs(result.estimate - TRUE_EFFECT) < 0.2
    assert result.ci_lower < TRUE_EFFECT < result.ci_upper  # type: ignore[operator]


class _MemoryStore:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        self.objects[key] = (data, content_type)
        return f"mem://{key}"


def test_worker_stores_cate_parquet_and_references_it() -> None:
    frame = heterogeneous(n=500)
    method_run = run("ols_interacted", frame, UNIT_ROLES)
    store = _MemoryStore()
    event = SimpleNamespace(tenant_id="acme", analysis_id="a1")
    result = _store_tables(SimpleNamespace(store=store), event, method_run)  # type: ignore[arg-type]
    assert [a.uri for a in result.artifacts] == ["mem://acme/analyses/a1/cate_ols_interacted.parquet"]
    data, media_type = store.objects["acme/analyses/a1/cate_ols_interacted.parquet"]
    assert media_type == "application/vnd.apache.parquet"
    assert pd.read_parquet(io.BytesIO(data))["cate"].tolist() == method_run.effects["cate"].tolist()  # type: ignore[index]
    plain = run("ols", frame, UNIT_ROLES)
    assert _store_tables(SimpleNamespace(store=store), event, plain).artifacts == []  # type: ignore[arg-type]
    assert EstimateRequested.model_fields  # the handler's input contract is importable


def test_roles_without_unit_key_rows_only() -> None:
    method_run = run(
        "ols_interacted", heterogeneous(n=300), RoleMapping(**{**ROLES.model_dump(), "unit": None})
    )
    assert method_run.effects is not None and list(method_run.effects.columns) == ["row", "cate"]


def test_roles_follow_from_each_class_tags() -> None:
    """Required roles come from the class (design roles, panel, needs_covariates), never a list."""
    needed = {name: spec.required_roles for name, spec in REGISTRY.items()}
    core = {"treatment", "outcome"}
    assert needed["diff_in_means"] == needed["ols"] == needed["cuped"] == core
    assert needed["ipw"] == needed["causal_forest"] == needed["policy_tree"] == core | {"covariates"}
    assert needed["twfe"] == needed["synthetic_control"] == core | {"unit", "time"}
    assert needed["iv_2sls"] == core | {"instrument"}
    assert needed["rd_robust"] == core | {"running_variable"}
    assert needed["spatial_spillover"] == core | {"latitude", "longitude"}
    assert needed["drdid_rc"] == core | {"post"}
    assert REGISTRY["ols"].optional_roles == {"covariates"}
    assert not REGISTRY["diff_in_means"].optional_roles and not REGISTRY["ipw"].optional_roles
