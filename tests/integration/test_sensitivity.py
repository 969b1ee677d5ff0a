"""Sensitivity panels, robustness gates and the verdict through the upload API (issue 14)."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.conftest import EXAMPLES, upload, wait_done

pytestmark = pytest.mark.integration


def test_panels_verdict_and_per_analysis_thresholds(api: httpx.Client) -> None:
    spec = {
        "methods": ["diff_in_means", "ols", "aipw", "psm"],
        "sensitivity": ["psm"],
        "thresholds": {"min_e_value": 100},
        "seed": 1,
    }
    created = upload(api, EXAMPLES / "customers.csv", name="customers-sensitivity", spec=spec)
    analysis = wait_done(api, created["analysis_id"], timeout=180)
    assert analysis["status"] == "completed", analysis["error"]
    assert analysis["spec"]["sensitivity"] == ["psm"]
    panels = analysis["sensitivity"]
    # The headline (an ATE: overlap holds) first, then the requested matching estimate.
    assert panels[0]["headline"] and panels[0]["estimand"] == "ATE"
    assert panels[-1]["method"] == "psm" and panels[-1]["rosenbaum"]["critical_gamma"] > 1
    headline_panel = panels[0]
    assert headline_panel["e_value"]["point"] > 2
    if headline_panel["omitted_variable_bias"] is not None:  # a regression-adjusted headline
        ovb = headline_panel["omitted_variable_bias"]
        assert 0 < ovb["robustness_value"] < 1
        # it says which regression its figures are and whether that is the headline's estimate
        itself = headline_panel["method"] == "ols"
        assert ("estimate itself" in ovb["regression"]) is itself, ovb["regression"]
    gates = {g["name"]: g for g in analysis["gates"]}
    # The analysis's own threshold replaces the deployment's and is said.
    assert gates["e_value"]["threshold"] == 100 and not gates["e_value"]["passed"]
    assert "min_e_value=100" in gates["analysis_thresholds"]["message"]
    assert {"vif", "weak_overlap_share", "effective_sample_size"} <= gates.keys()
    verdict = analysis["verdict"]
    assert verdict["level"] == "CAUTION", verdict
    assert any("e_value" in reason for reason in verdict["failed"])
    assert any("unmeasured confounding" in u for u in verdict["untestable"])
    html = api.get(f"/v1/analyses/{created['analysis_id']}/report").text
    assert "CAUTION" in html and "Sensitivity to hidden confounding" in html
    names = {a["name"] for a in analysis["report"]["artifacts"]}
    assert "rosenbaum_curve" in names


def test_unknown_threshold_falls_back_to_the_deployments(api: httpx.Client) -> None:
    spec = {"methods": ["ols"], "thresholds": {"min_e_valu": 3}, "seed": 1}
    created = upload(api, EXAMPLES / "customers.csv", name="customers-bad-threshold", spec=spec)
    analysis = wait_done(api, created["analysis_id"], timeout=120)
    gates = {g["name"]: g for g in analysis["gates"]}
    assert gates["e_value"]["threshold"] == 2.0
    assert "min_e_valu" in gates["analysis_thresholds"]["message"]
    # An OLS headline: the OVB regression is its own, and its RV from t and dof comes too.
    panel = analysis["sensitivity"][0]
    assert (
        panel["method"] == "ols"
        and "is ols's estimate itself" in panel["omitted_variable_bias"]["regression"]
    )
    assert "β̃ is ols's estimate itself" in panel["oster"]["regression"]
    own = panel["estimate_robustness"]
    assert own["dof"] > 0 and 0 < own["robustness_value"] < 1 and "HC1" in own["source"]
    assert analysis["verdict"]["level"] in ("GO", "CAUTION")
