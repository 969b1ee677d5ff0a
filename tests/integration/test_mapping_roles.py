"""Mapping through the running services: Japanese names in a Shift-JIS file, confirmation, overrides."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.integration.conftest import EXAMPLES, upload, wait_done

pytestmark = pytest.mark.integration


# examples/store_panel_sjis.csv (written by examples/generate_sample.py): 40 stores x 12 months,
# Japanese names, Shift-JIS; about half the stores run a campaign from month 7 that adds 150.
STORE_PANEL = EXAMPLES / "store_panel_sjis.csv"
CAMPAIGN_EFFECT = json.loads((EXAMPLES / "store_panel_sjis.meta.json").read_text())["true_ate"]


def opaque_names(path: Path, n: int = 600) -> Path:
    """A confounded coupon study whose columns are called k, a, b, c, d: the mapper cannot know."""
    rng = np.random.default_rng(21)
    x = rng.normal(size=n)
    b = (rng.random(n) < 1 / (1 + np.exp(-x))).astype(int)
    pd.DataFrame(
        {
            "k": [f"K{i:04d}" for i in range(n)],
            "a": rng.integers(0, 2, n),
            "b": b,
            "c": np.round(3 + 2 * b + x + rng.normal(0, 1, n), 3),
            "d": np.round(x, 3),
        }
    ).to_csv(path, index=False)
    return path


def wait_status(api: httpx.Client, analysis_id: str, status: str, timeout: float = 60) -> dict[str, Any]:
    """Poll until the analysis reaches ``status``."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = api.get(f"/v1/analyses/{analysis_id}").json()
        if body["status"] == status:
            return body
        time.sleep(0.2)
    raise AssertionError(f"analysis {analysis_id} never reached {status}: {body.get('status')}")


def event_types(api: httpx.Client, analysis_id: str) -> list[str]:
    """Event types of the analysis so far, in order (the SSE stream ends with the analysis)."""
    seen = []
    with api.stream("GET", f"/v1/analyses/{analysis_id}/events", timeout=60) as response:
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
                if event == "end":
                    break
                seen.append(event)
    return seen


def test_japanese_shift_jis_panel_is_mapped_by_its_japanese_names(api: httpx.Client) -> None:
    with STORE_PANEL.open("rb") as handle:  # no analysis spec at all
        response = api.post("/v1/datasets", files={"file": ("store_panel.csv", handle, "text/csv")})
    assert response.status_code == 202, response.text
    created = response.json()
    assert {c["name"] for c in created["columns"]} >= {"店舗ID", "年月", "キャンペーン配信", "売上高"}

    analysis = wait_done(api, created["analysis_id"])
    assert analysis["design"] == "panel"
    assert not analysis["needs_confirmation"]
    roles = analysis["roles"]
    assert (roles["unit"], roles["time"], roles["treatment"], roles["outcome"]) == (
        "店舗ID",
        "年月",
        "キャンペーン配信",
        "売上高",
    )
    confidences = {a["role"]: a for a in analysis["mapping"]}
    for role in ("unit", "time", "treatment", "outcome"):
        assert confidences[role]["confidence"] >= 0.6, confidences[role]
        assert confidences[role]["language"] == "ja"
    # The read model keeps every design the mapping considered, with its reason.
    designs = {d["design"]: d for d in analysis["designs"]}
    assert designs["panel"]["supported"] and designs["panel"]["reason"]
    assert not designs["iv"]["supported"] and designs["iv"]["reason"]
    assert analysis["confidence_threshold"] and "ja:" in analysis["dictionary_version"]
    # The planner picks the panel methods: two-way fixed effects and Callaway-Sant'Anna.
    assert analysis["status"] == "completed", analysis["error"]
    estimates = {e["method"]: e for e in analysis["estimates"]}
    assert set(estimates) == {"twfe", "cs_did"}
    twfe = estimates["twfe"]
    # One adoption date, so both agree; cs_did compares the treated stores with never-treated ones.
    cs = estimates["cs_did"]
    assert cs["ci_lower"] < CAMPAIGN_EFFECT < cs["ci_upper"]
    assert cs["diagnostics"]["control_group"] == "never treated"
    assert twfe["ci_lower"] < CAMPAIGN_EFFECT < twfe["ci_upper"]
    assert abs(twfe["estimate"] - CAMPAIGN_EFFECT) < 20
    assert twfe["inference"] == "cluster" and twfe["diagnostics"]["n_clusters"] == 40
    assert twfe["n"] == 480 and twfe["n_treated"] > 0 and twfe["n_treated"] % 6 == 0  # 6 months each
    # Stores moved in parallel before the campaign: the pre-trend gate passes.
    trends = next(g for g in analysis["gates"] if g["name"] == "parallel_trends")
    # A panel is judged on pre-trends, not on cross-sectional balance between rows.
    assert not {"balance_smd", "raw_balance_smd", "propensity_overlap"} & {
        g["name"] for g in analysis["gates"]
    }
    pretrend = [twfe["diagnostics"]["pretrend_p_value"], cs["diagnostics"]["pretrend_p_value"]]
    assert trends["passed"] and trends["value"] == min(pretrend)

    dataset = api.get(f"/v1/datasets/{created['dataset_id']}").json()
    assert dataset["mapping"]["design"] == "panel"
    assert dataset["mapping"]["roles"]["treatment"] == "キャンペーン配信"
    assert dataset["mapping"]["designs"] == analysis["designs"]


def test_an_uncertain_mapping_waits_and_a_confirmation_lets_it_finish(
    api: httpx.Client, tmp_path: Path
) -> None:
    created = upload(api, opaque_names(tmp_path / "opaque.csv"), name="opaque-confirm")
    waiting = wait_status(api, created["analysis_id"], "awaiting_confirmation")
    assert waiting["needs_confirmation"]
    uncertain = [a for a in waiting["mapping"] if a["role"] in ("treatment", "outcome")]
    assert all(a["confidence"] < 0.6 and a["alternatives"] for a in uncertain)
    time.sleep(1.0)  # nothing moves while it waits
    assert api.get(f"/v1/analyses/{created['analysis_id']}").json()["status"] == "awaiting_confirmation"

    confirmed = api.put(
        f"/v1/datasets/{created['dataset_id']}/mapping",
        json={"roles": {"treatment": "b", "outcome": "c", "unit": "k"}},
    )
    assert confirmed.status_code == 202, confirmed.text
    assert confirmed.json()["analysis_id"] == created["analysis_id"]
    assert confirmed.json()["continues"] is True

    analysis = wait_done(api, created["analysis_id"])
    assert analysis["status"] == "completed", analysis["error"]
    assert analysis["roles"]["treatment"] == "b" and analysis["roles"]["outcome"] == "c"
    assert not analysis["needs_confirmation"]
    assert analysis["estimates"]
    seen = event_types(api, created["analysis_id"])
    assert seen.count("dataset.mapped") == 2
    assert seen.index("dataset.confirmed") < len(seen) - 1 - seen[::-1].index("dataset.mapped")


def test_an_override_after_the_fact_re_emits_mapped_and_re_plans(api: httpx.Client, tmp_path: Path) -> None:
    created = upload(
        api,
        opaque_names(tmp_path / "opaque2.csv"),
        name="opaque-override",
        spec={"methods": "auto", "roles": {"treatment": "b", "outcome": "c"}},
    )
    first = wait_done(api, created["analysis_id"])
    assert first["status"] == "completed", first["error"]
    assert "a" in first["roles"]["covariates"]

    rerun = api.put(
        f"/v1/datasets/{created['dataset_id']}/mapping",
        json={"roles": {"treatment": "b", "outcome": "c", "covariates": ["d"]}},
    )
    assert rerun.status_code == 202, rerun.text
    body = rerun.json()
    assert body["continues"] is False and body["replaces_analysis_id"] == created["analysis_id"]
    second = wait_done(api, body["analysis_id"])
    assert second["status"] == "completed", second["error"]
    assert second["roles"]["covariates"] == ["d"]
    assert {"dataset.confirmed", "dataset.mapped", "estimate.requested"} <= set(
        event_types(api, body["analysis_id"])
    )
    # the first analysis is left as it was
    assert api.get(f"/v1/analyses/{created['analysis_id']}").json()["roles"]["covariates"] != ["d"]


def test_a_mapping_naming_a_missing_column_is_refused(api: httpx.Client, tmp_path: Path) -> None:
    created = upload(api, opaque_names(tmp_path / "opaque3.csv"), name="opaque-refused")
    wait_status(api, created["analysis_id"], "awaiting_confirmation")
    refused = api.put(f"/v1/datasets/{created['dataset_id']}/mapping", json={"roles": {"treatment": "nope"}})
    assert refused.status_code == 422
    assert "nope" in refused.json()["detail"]
    assert api.put("/v1/datasets/no-such-dataset/mapping", json={"roles": {}}).status_code == 404
