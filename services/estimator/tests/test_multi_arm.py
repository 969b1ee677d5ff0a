"""Multi-valued treatments: every arm against the reference arm, in the methods that allow it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cqox_contracts.v1 import EstimateResult, RoleMapping
from cqox_estimator.domain import estimate
from cqox_estimator.estimators import REGISTRY, EstimationError, prepare
from cqox_estimator.estimators.base import holm_adjust

EFFECTS = {"B": 1.0, "C": 2.0}  # against arm A
ROLES = RoleMapping(treatment="arm", outcome="y", covariates=["x1", "x2"])
MULTI_ARM = ["diff_in_means", "ols", "ipw", "aipw", "linear_dml"]


def three_arms(n: int = 3000, seed: int = 0, *, confounded: bool = True) -> pd.DataFrame:
    """Arms A/B/C with effects +1 (B) and +2 (C) over A; x1 and x2 drive both arm and outcome."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    strength = 1.0 if confounded else 0.0
    logits = strength * np.column_stack([np.zeros(n), 0.8 * x1, -0.6 * x1 + 0.5 * x2])
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    arm = (probabilities.cumsum(axis=1) > rng.uniform(size=n)[:, None]).argmax(axis=1)
    effect = np.array([0.0, EFFECTS["B"], EFFECTS["C"]])[arm]
    y = 1 + 2 * x1 + x2 + effect + rng.normal(size=n)
    return pd.DataFrame({"arm": np.array(["A", "B", "C"])[arm], "y": y, "x1": x1, "x2": x2})


def test_the_registry_flags_the_multi_arm_methods() -> None:
    assert sorted(name for name, spec in REGISTRY.items() if spec.estimator.multi_arm) == sorted(MULTI_ARM)


@pytest.mark.parametrize("method", MULTI_ARM)
def test_each_multi_arm_method_recovers_both_contrasts(method: str) -> None:
    # The unadjusted contrast is only unbiased when the arms are randomised.
    frame = three_arms(seed=0, confounded=method != "diff_in_means")
    result = estimate(method, frame, ROLES, ci_level=0.99)
    assert [(c.arm, c.reference) for c in result.contrasts] == [("B", "A"), ("C", "A")]
    for contrast in result.contrasts:
        truth = EFFECTS[contrast.arm]
        assert (
            contrast.std_error is not None and contrast.ci_lower is not None and contrast.ci_upper is not None
        )
        assert abs(contrast.estimate - truth) < 3 * contrast.std_error, (contrast, truth)
        assert contrast.ci_lower < truth < contrast.ci_upper
        assert contrast.p_value is not None and contrast.p_value < 1e-6
        assert contrast.p_value_adjusted is not None and contrast.p_value <= contrast.p_value_adjusted < 1e-6
    assert result.diagnostics["multiple_comparisons"] == "Holm (family-wise), 2 contrasts"
    # The headline is the first non-reference arm, and says so.
    first = result.contrasts[0]
    assert result.estimate == pytest.approx(first.estimate)
    assert (result.ci_lower, result.ci_upper) == pytest.approx((first.ci_lower, first.ci_upper))
    assert result.ci_level == 0.99
    assert result.diagnostics["headline_contrast"] == "B vs A"
    assert result.diagnostics["reference_arm"] == "A" and result.diagnostics["n_arms"] == 3
    counts = frame["arm"].value_counts()
    assert [c.n_arm for c in result.contrasts] == [counts["B"], counts["C"]]
    assert (result.n_control, result.n_treated) == (counts["A"], counts["B"] + counts["C"])


def hand_holm(p_values: list[float]) -> list[float]:
    """Holm by hand: sorted p times (k - rank), running maximum, capped at 1, in the original order."""
    k = len(p_values)
    order = sorted(range(k), key=lambda i: p_values[i])
    adjusted, running = [0.0] * k, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, p_values[i] * (k - rank)))
        adjusted[i] = running
    return adjusted


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([0.01, 0.04, 0.03], [0.03, 0.06, 0.06]),  # 0.01*3, 0.03*2, max(0.06, 0.04*1)
        ([0.5, 0.6, 0.02], [1.0, 1.0, 0.06]),  # 0.02*3, min(1, 0.5*2), max(1, 0.6*1)
        ([0.2], [0.2]),  # one contrast: nothing to adjust
        ([], []),
    ],
)
def test_holm_adjustment_matches_the_hand_computation(raw: list[float], expected: list[float]) -> None:
    assert holm_adjust(raw) == pytest.approx(expected)
    assert hand_holm(raw) == pytest.approx(expected)


@pytest.mark.parametrize("method", ["diff_in_means", "ols"])
def test_contrasts_carry_holm_adjusted_p_values_when_only_one_of_four_arms_works(method: str) -> None:
    rng = np.random.default_rng(11)
    n = 2000
    arm = rng.choice(np.array(["A", "B", "C", "D"]), size=n)  # randomised; only B has an effect
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    y = 1 + x1 + 0.5 * x2 + np.where(arm == "B", 1.0, 0.0) + rng.normal(size=n)
    frame = pd.DataFrame({"arm": arm, "y": y, "x1": x1, "x2": x2})
    result = estimate(method, frame, ROLES)
    assert [c.arm for c in result.contrasts] == ["B", "C", "D"]
    raw = [c.p_value for c in result.contrasts]
    adjusted = [c.p_value_adjusted for c in result.contrasts]
    assert all(p is not None for p in raw) and all(p is not None for p in adjusted)
    assert adjusted == pytest.approx(hand_holm([p for p in raw if p is not None]))
    effect, *nulls = result.contrasts
    assert effect.p_value_adjusted is not None and effect.p_value_adjusted < 1e-6
    for contrast in nulls:
        assert contrast.p_value is not None and contrast.p_value_adjusted is not None
        assert contrast.p_value <= contrast.p_value_adjusted <= 1.0
    assert result.diagnostics["multiple_comparisons"] == "Holm (family-wise), 3 contrasts"


def test_the_unadjusted_contrast_is_biased_under_confounding() -> None:
    result = estimate("diff_in_means", three_arms(seed=0), ROLES)
    assert abs(result.contrasts[0].estimate - EFFECTS["B"]) > 5 * (result.contrasts[0].std_error or 0)


@pytest.mark.parametrize("method", ["diff_in_means", "ipw"])
def test_contrast_intervals_cover_at_about_the_nominal_rate(method: str) -> None:
    covered = []
    for seed in range(20):
        frame = three_arms(n=600, seed=100 + seed, confounded=method == "ipw")
        for contrast in estimate(method, frame, ROLES).contrasts:
            assert contrast.ci_lower is not None and contrast.ci_upper is not None
            covered.append(contrast.ci_lower < EFFECTS[contrast.arm] < contrast.ci_upper)
    assert sum(covered) >= 34  # of 40 at 95 %: fewer than 34 has probability below 1 %


def test_binary_treatments_report_no_contrasts() -> None:
    frame = three_arms(seed=2)
    binary = frame[frame["arm"] != "C"]  # two levels: the binary path, which needs the coding of text
    result = estimate("ipw", binary, ROLES.model_copy(update={"treatment_coding": {"A": 0, "B": 1}}))
    assert result.contrasts == [] and "headline_contrast" not in result.diagnostics
    assert abs(result.estimate - EFFECTS["B"]) < 4 * (result.std_error or 0)


def test_results_are_reproducible_and_survive_serialisation() -> None:
    frame = three_arms(n=1500, seed=3)
    result = estimate("aipw", frame, ROLES, seed=7)
    again = estimate("aipw", frame, ROLES, seed=7)
    assert again.model_copy(update={"runtime_s": result.runtime_s}) == result
    restored = EstimateResult.model_validate_json(result.model_dump_json())
    assert restored == result and len(restored.contrasts) == 2
    assert restored.contrasts[1].arm == "C" and restored.contrasts[1].n_arm == result.contrasts[1].n_arm


@pytest.mark.parametrize("method", ["psm", "ps_stratification", "overlap_weights", "dr_learner"])
def test_methods_without_multi_arm_support_refuse_naming_the_method_and_levels(method: str) -> None:
    with pytest.raises(EstimationError) as caught:
        estimate(method, three_arms(n=600, seed=4), ROLES)
    reason = caught.value.reason
    assert reason.startswith(f"{method} needs a binary treatment")
    assert "3 distinct values ('A', 'B', 'C')" in reason
    assert "accept a multi-valued treatment: diff_in_means, ols, ipw, aipw, linear_dml" in reason


@pytest.mark.parametrize(
    ("labels", "coding", "reference", "order"),
    [
        (["A", "B", "C"], {}, "A", ["A", "B", "C"]),  # first in sorted text order
        (["sms", "email", "control"], {}, "control", ["control", "email", "sms"]),  # control label
        (["push", "none", "No"], {}, "No", ["No", "none", "push"]),
        ([3, 1, 2], {}, "1", ["1", "2", "3"]),  # smallest number
        ([10.0, 2.0, 0.0], {}, "0", ["0", "2", "10"]),
        (["10", "9", "2"], {}, "2", ["2", "9", "10"]),  # numbers written as text compare as numbers
        (["A", "B", "C"], {"C": 0, "A": 1}, "C", ["C", "A", "B"]),  # the confirmed coding's 0
        ([1, 2, 3], {"2": 0}, "2", ["2", "1", "3"]),
    ],
)
def test_the_reference_arm_is_chosen_and_recorded(labels, coding, reference, order) -> None:  # type: ignore[no-untyped-def]
    frame = three_arms(n=600, seed=5)
    frame["arm"] = frame["arm"].map(dict(zip(["A", "B", "C"], labels, strict=True)))
    roles = ROLES.model_copy(update={"treatment_coding": coding})
    design = prepare(frame, roles, multi_arm=True)
    assert design.arms == order and design.arms[0] == reference
    assert design.treatment_coding == {label: code for code, label in enumerate(order)}
    assert design.describe()["reference_arm"] == reference
    expected = frame["arm"].map(lambda v: order.index(str(int(v)) if isinstance(v, float) else str(v)))
    assert design.t.tolist() == expected.tolist()


def test_the_mapping_must_name_a_level_that_exists_and_arms_must_not_be_thin() -> None:
    frame = three_arms(n=600, seed=6)
    with pytest.raises(EstimationError, match="gives 0 to 'Z', which is not a level"):
        prepare(frame, ROLES.model_copy(update={"treatment_coding": {"Z": 0}}), multi_arm=True)
    thin = frame.drop(index=frame.index[frame["arm"] == "C"][5:])
    with pytest.raises(EstimationError, match=r"too few rows per arm of treatment 'arm': 'C' \(5\)"):
        estimate("ols", thin, ROLES)


def test_a_confirmed_coding_that_covers_every_level_pools_them_into_two_arms() -> None:
    frame = three_arms(n=900, seed=7)
    pooled = ROLES.model_copy(update={"treatment_coding": {"A": 0, "B": 1, "C": 1}})
    for method in ("ols", "psm"):  # with or without multi-arm support
        result = estimate(method, frame, pooled)
        assert result.contrasts == [] and result.n_control == (frame["arm"] == "A").sum()
    partial = ROLES.model_copy(update={"treatment_coding": {"A": 0, "B": 1}})
    assert [c.arm for c in estimate("ols", frame, partial).contrasts] == ["B", "C"]
    with pytest.raises(EstimationError, match="psm needs a binary treatment"):
        estimate("psm", frame, partial)


@pytest.mark.parametrize(
    ("method", "options"),
    [("ipw", {"trimming": "drop", "trim": 0.05}), ("aipw", {"propensity_model": "lightgbm", "n_folds": 3})],
)
def test_multi_arm_options_still_recover_the_contrasts(method: str, options: dict[str, object]) -> None:
    result = estimate(method, three_arms(seed=8), ROLES, options=options)
    for contrast in result.contrasts:
        assert contrast.ci_lower is not None and contrast.ci_upper is not None
        assert contrast.ci_lower < EFFECTS[contrast.arm] < contrast.ci_upper
    if method == "ipw":
        assert result.diagnostics["trimming"] == "drop" and (result.diagnostics["n_trimmed"] or 0) > 0
