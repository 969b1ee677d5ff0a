"""Refuters through the upload API: an uploaded analysis shows one refutation gate per refuter and
refuted method, a planted hidden confounder fails the placebo outcome, a re-run with the same seed
gives the same refutations, and a panel whose treated units drift apart fails its placebo adoption."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from cqox_estimator.simulation import hidden_confounder, staggered_panel
from tests.integration.conftest import upload, wait_done

pytestmark = pytest.mark.integration

ROLES = {
    "treatment": "treated",
    "outcome": "y",
    "covariates": ["x1", "x2", "segment"],
    "pre_outcome": "y_pre",  # last period's outcome: the treatment cannot have moved it
}
METHODS = ["ols", "ipw", "psm"]
REFUTERS = ("placebo_treatment", "random_common_cause", "data_subset", "placebo_outcome")


def _refutation_gates(analysis: dict[str, object]) -> dict[str, dict[str, object]]:
    gates = analysis["gates"]
    assert isinstance(gates, list)
    return {g["name"]: g for g in gates if str(g["name"]).split("[")[0] in REFUTERS}


def test_an_uploaded_analysis_shows_the_refuter_gates(api: httpx.Client, tmp_path: Path) -> None:
    path = tmp_path / "hidden.csv"
    hidden_confounder(1500, seed=2, hidden=1.0).to_csv(path, index=False)  # u moves t, y and y_pre
    spec = {"methods": METHODS, "roles": ROLES, "seed": 1}
    created = upload(api, path, name="refuters", spec=spec)
    analysis = wait_done(api, created["analysis_id"], timeout=300)
    assert analysis["status"] == "completed", analysis["error"]
    gates = _refutation_gates(analysis)

    for method in ("ols", "ipw"):  # smooth methods: all four refuters
        for refuter in REFUTERS:
            gate = gates[f"{refuter}[{method}]"]
            assert gate["applies_to"] == [method] and gate["category"] == "causal"
            assert gate["threshold"] is not None and gate["value"] is not None and gate["message"]
        # the permuted treatment, a random covariate and subsamples find nothing wrong ...
        for refuter in ("placebo_treatment", "random_common_cause", "data_subset"):
            assert gates[f"{refuter}[{method}]"]["passed"], gates[f"{refuter}[{method}]"]
        # ... but the planted confounder shows on the pre-treatment outcome
        caught = gates[f"placebo_outcome[{method}]"]
        assert not caught["passed"] and caught["severity"] == "warning"
        assert "hidden confounding" in str(caught["message"])
    # matching is not smooth in the data: no subset or random-cause gate for it
    assert {n for n in gates if n.endswith("[psm]")} == {"placebo_treatment[psm]", "placebo_outcome[psm]"}

    rerun = api.post(
        "/v1/analyses",
        json={"dataset_id": created["dataset_id"], "methods": METHODS, "roles": ROLES, "seed": 1},
    )
    assert rerun.status_code == 202, rerun.text
    again = wait_done(api, rerun.json()["analysis_id"], timeout=300)
    assert again["status"] == "completed", again["error"]
    same = _refutation_gates(again)
    assert {n: g["value"] for n, g in same.items()} == {n: g["value"] for n, g in gates.items()}


def test_a_panel_gets_a_placebo_adoption_that_catches_diverging_trends(
    api: httpx.Client, tmp_path: Path
) -> None:
    panel = staggered_panel(80, 12, seed=5)
    ever = panel.groupby("unit")["treated"].transform("max") == 1
    panel["y"] = panel["y"] + np.where(ever, 0.4 * panel["period"], 0.0)  # treated units drift apart
    path = tmp_path / "drifting_panel.csv"
    panel.to_csv(path, index=False)
    roles = {"treatment": "treated", "outcome": "y", "unit": "unit", "time": "period", "covariates": ["x1"]}
    spec = {"methods": ["twfe", "cs_did"], "roles": roles, "seed": 2}
    analysis = wait_done(api, upload(api, path, name="drifting-panel", spec=spec)["analysis_id"], timeout=300)
    assert analysis["status"] == "completed", analysis["error"]
    gates = {g["name"]: g for g in analysis["gates"]}
    for method in ("twfe", "cs_did"):
        for refuter in ("placebo_treatment", "placebo_adoption", "placebo_outcome", "data_subset"):
            assert gates[f"{refuter}[{method}]"]["applies_to"] == [method]
    adoption = gates["placebo_adoption[twfe]"]
    assert not adoption["passed"] and "parallel trends" in str(adoption["message"])
