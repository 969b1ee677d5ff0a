"""Published reference data through the upload API: the LaLonde NSW experiment (ATE about $1,794)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import upload, wait_done

pytestmark = pytest.mark.integration

NSW_ATE = 1794.34  # treated minus control mean of re78 in the experimental sample (Dehejia-Wahba)


def test_lalonde_nsw_experiment_is_reproduced(api: httpx.Client, tmp_path: Path) -> None:
    causaldata = pytest.importorskip("causaldata")
    nsw = causaldata.nsw_mixtape.load_pandas().data.drop(columns="data_id")
    path = tmp_path / "nsw.csv"
    nsw.to_csv(path, index=False)
    spec = {
        "methods": ["diff_in_means", "ols", "ols_interacted", "aipw", "ipw", "cuped"],
        "roles": {
            "treatment": "treat",
            "outcome": "re78",
            "covariates": ["age", "educ", "black", "hisp", "marr", "nodegree", "re74", "re75"],
        },
        "seed": 1,
    }
    analysis = wait_done(api, upload(api, path, name="lalonde-nsw", spec=spec)["analysis_id"], timeout=180)
    assert analysis["status"] == "completed", analysis["error"]
    estimates = {e["method"]: e for e in analysis["estimates"]}
    # cuped needs an experiment design; the mapping decides the design, so it may be skipped
    assert {"diff_in_means", "ols", "ols_interacted", "aipw", "ipw"} <= estimates.keys()
    assert estimates["diff_in_means"]["estimate"] == pytest.approx(NSW_ATE, abs=1.0)
    assert estimates["diff_in_means"]["n"] == 445
    for method, estimate in estimates.items():
        # randomised: every adjusted estimate is near the experimental benchmark, CI covers it
        assert abs(estimate["estimate"] - NSW_ATE) < 400, (method, estimate["estimate"])
        assert estimate["ci_lower"] < NSW_ATE < estimate["ci_upper"], method
