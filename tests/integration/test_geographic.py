"""Units with locations: the mapper picks the geographic design, and the observational family still
runs (the coordinates are covariates); until spatial methods exist this must not be a dead end."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from cqox_estimator.simulation import confounded
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
