"""A three-arm campaign through the running services: per-arm contrasts, per-arm gates."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.integration.conftest import upload, wait_done

pytestmark = pytest.mark.integration

EFFECTS = {"B": 1.0, "C": 2.0}  # against arm A


def three_arm_campaign(path: Path, n: int = 1500) -> Path:
    """Customers randomised to A, B or C (older ones a little more often to C)."""
    rng = np.random.default_rng(8)
    age = rng.normal(40, 10, n)
    share_c = np.clip(0.25 + 0.01 * (age - 40), 0.05, 0.6)
    u = rng.random(n)
    arm = np.where(u < share_c, "C", np.where(u < share_c + (1 - share_c) / 2, "B", "A"))
    effect = pd.Series(arm).map({"A": 0.0, **EFFECTS}).to_numpy()
    spend = 10 + 0.1 * age + effect + rng.normal(0, 1, n)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "variant": arm,
            "age": age.round(1),
            "spend": spend.round(3),
        }
    )
    frame.to_csv(path, index=False)
    return path


def test_each_arm_is_compared_with_the_reference_and_binary_methods_are_not_planned(
    api: httpx.Client, tmp_path: Path
) -> None:
    # No roles given: the mapper reads the A/B/C column named "variant" as the treatment.
    created = upload(api, three_arm_campaign(tmp_path / "campaign.csv"), name="three-arms")
    analysis = wait_done(api, created["analysis_id"], timeout=180)
    assert analysis["status"] == "completed", analysis["error"]
    assert (analysis["roles"]["treatment"], analysis["roles"]["covariates"]) == ("variant", ["age"])
    assert analysis["failures"] == []
    methods = {e["method"]: e for e in analysis["estimates"]}
    assert methods.keys() == {"diff_in_means", "ols", "ipw", "aipw", "linear_dml"}
    assert "psm" not in methods and "causal_forest" not in methods
    for name, estimate in methods.items():
        contrasts = {c["arm"]: c for c in estimate["contrasts"]}
        assert contrasts.keys() == {"B", "C"}, name
        for arm, truth in EFFECTS.items():
            contrast = contrasts[arm]
            assert contrast["reference"] == "A"
            if name != "diff_in_means":  # the raw difference is confounded by age for C
                assert contrast["ci_lower"] < truth < contrast["ci_upper"], (name, arm, contrast)
    gates = {g["name"]: g for g in analysis["gates"]}
    assert gates["treatment_arms"]["passed"]
    assert {"balance_smd[B vs A]", "balance_smd[C vs A]"} <= gates.keys()

    # The user picks B as the reference: a new analysis compares A and C with B.
    changed = api.put(
        f"/v1/datasets/{created['dataset_id']}/mapping", json={"roles": {"reference_level": "B"}}
    )
    assert changed.status_code == 202, changed.text
    rerun = wait_done(api, changed.json()["analysis_id"], timeout=180)
    assert rerun["status"] == "completed", rerun["error"]
    assert rerun["roles"]["treatment_coding"] == {"B": 0}
    ols = next(e for e in rerun["estimates"] if e["method"] == "ols")
    by_arm = {c["arm"]: c for c in ols["contrasts"]}
    assert by_arm.keys() == {"A", "C"} and {c["reference"] for c in by_arm.values()} == {"B"}
    assert by_arm["A"]["ci_lower"] < -EFFECTS["B"] < by_arm["A"]["ci_upper"]


def test_a_level_override_that_is_not_a_string_is_refused(api: httpx.Client, tmp_path: Path) -> None:
    created = upload(api, three_arm_campaign(tmp_path / "campaign2.csv", n=300), name="three-arms-bad")
    refused = api.put(f"/v1/datasets/{created['dataset_id']}/mapping", json={"roles": {"treated_level": 3}})
    assert refused.status_code == 422
    assert "'treated_level' must be a level of the treatment column" in refused.json()["detail"]
