"""Units with locations: the mapper picks the geographic design, and the observational family still
runs (the coordinates are covariates); until spatial methods exist this must not be a dead end."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from cqox_estimator.simulation import confounded, spatial_units
from tests.integration.conftest import upload, wait_done

pytestmark = pytest.mark.integration


def test_a_file_with_coordinates_is_estimated_like_an_observational_one(
    api: httpx.Client, tmp_path: Path
) -> None:
    frame = confounded(1500, 21, effect=1.5)
    rng = np.random.default_rng(21)
    frame["latitude"] = rng.uniform(31, 44, len(frame)).round(5)
    frame["longitude"] = rng.uniform(130, 145, len(frame)).round(5)
    path = tmp_path / "stores.csv"
    frame.to_csv(path, index=False)
    spec = {"methods": ["ols", "aipw"]}
    analysis = wait_done(api, upload(api, path, name="geo", spec=spec)["analysis_id"], timeout=180)
    assert analysis["status"] == "completed", analysis["error"]
    assert analysis["design"] == "geographic"
    assert {e["method"] for e in analysis["estimates"]} == {"ols", "aipw"}
    for estimate in analysis["estimates"]:
        assert abs(estimate["estimate"] - 1.5) < 3 * estimate["std_error"], estimate


def test_spillovers_between_neighbours_are_estimated_with_the_radius_the_user_sets(
    api: httpx.Client, tmp_path: Path
) -> None:
    """Per-method options travel from the upload's analysis spec to the method."""
    units = spatial_units(2000, 4, direct=1.5, spillover=0.8, radius_km=5.0).drop(
        columns=["exposure", "town"]
    )
    path = tmp_path / "villages.csv"
    units.to_csv(path, index=False)
    spec = {
        "methods": ["spatial_spillover", "ols"],
        "options": {"spatial_spillover": {"radius_km": 5}},
    }
    analysis = wait_done(api, upload(api, path, name="spill", spec=spec)["analysis_id"], timeout=180)
    assert analysis["status"] == "completed", analysis["error"]
    assert analysis["design"] == "geographic"
    spatial = next(e for e in analysis["estimates"] if e["method"] == "spatial_spillover")
    assert spatial["diagnostics"]["radius_km"] == 5.0
    assert abs(spatial["estimate"] - 1.5) < 3 * spatial["std_error"], spatial
    spill, spill_se = spatial["diagnostics"]["spillover_effect"], spatial["diagnostics"]["spillover_se"]
    assert abs(spill - 0.8) < 3 * spill_se


def test_an_unknown_option_fails_that_method_with_the_accepted_list(
    api: httpx.Client, tmp_path: Path
) -> None:
    frame = confounded(600, 5)
    path = tmp_path / "plain.csv"
    frame.to_csv(path, index=False)
    spec = {"methods": ["ols", "ipw"], "options": {"ipw": {"radious": 3}}}
    analysis = wait_done(api, upload(api, path, name="bad-option", spec=spec)["analysis_id"], timeout=180)
    assert [e["method"] for e in analysis["estimates"]] == ["ols"]
    [failure] = analysis["failures"]
    assert failure["method"] == "ipw" and "unknown option(s) for ipw: radious" in failure["reason"]
    assert "accepted:" in failure["reason"]
