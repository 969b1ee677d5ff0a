"""An experiment with 40 % missing outcomes through the upload API (issue 12): it runs on the
complete cases instead of being rejected, the attrition gate says how many outcomes each arm lost,
and Lee (2009) bounds cover the experimental benchmark.

The file is the LaLonde NSW experiment (causaldata.nsw_mixtape, ATE $1,794) with re78 punched
out at random: 30 % of the treated and 47 % of the controls (40 % overall), seeded. The
treatment column is named `assigned`, as a user's randomised-assignment column would be, so the
mapper reads the design as an experiment.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.integration.conftest import upload, wait_done

pytestmark = pytest.mark.integration

NSW_ATE = 1794.34


def test_experiment_with_forty_percent_missing_outcomes_is_bounded_not_rejected(
    api: httpx.Client, tmp_path: Path
) -> None:
    causaldata = pytest.importorskip("causaldata")
    nsw = causaldata.nsw_mixtape.load_pandas().data.drop(columns="data_id")
    rng = np.random.default_rng(11)
    lost = rng.random(len(nsw)) < np.where(nsw["treat"] == 1, 0.30, 0.47)
    frame = nsw.assign(re78=nsw["re78"].astype(float).where(~lost)).rename(columns={"treat": "assigned"})
    path = tmp_path / "nsw_attrition.csv"
    frame.to_csv(path, index=False)
    spec = {
        "methods": ["diff_in_means", "lee_bounds"],
        "roles": {"treatment": "assigned", "outcome": "re78"},
        "seed": 1,
    }
    analysis = wait_done(api, upload(api, path, name="nsw-attrition", spec=spec)["analysis_id"], timeout=180)
    assert analysis["status"] == "completed", analysis["error"]
    assert analysis["design"] == "experiment"
    gates = {g["name"]: g for g in analysis["gates"]}
    assert gates["completeness:re78"]["severity"] == "warning" and not gates["completeness:re78"]["passed"]
    assert gates["complete_cases"]["passed"]
    attrition = gates["attrition"]
    assert not attrition["passed"] and attrition["severity"] == "warning"
    assert attrition["details"]["differential_attrition"] > 0.1
    assert "lee_bounds" in attrition["message"]
    estimates = {e["method"]: e for e in analysis["estimates"]}
    bounds = estimates["lee_bounds"]
    assert bounds["estimand"] == "bounds" and bounds["n"] == 445
    assert bounds["diagnostics"]["lower_bound"] < bounds["diagnostics"]["upper_bound"]
    assert bounds["ci_lower"] < NSW_ATE < bounds["ci_upper"]
    assert estimates["diff_in_means"]["n"] == 445 - int(lost.sum())  # complete cases
