"""Dataset versions and the schema registry through the HTTP API on the running stack."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

NO_ANALYSIS = json.dumps({"methods": ["diff_in_means"]})


def _post(api: httpx.Client, tmp_path: Path, text: str, **form: str) -> httpx.Response:
    path = tmp_path / "v.csv"
    path.write_text(text)
    with path.open("rb") as handle:
        return api.post(
            "/v1/datasets", files={"file": ("v.csv", handle)}, data={"analysis": NO_ANALYSIS, **form}
        )


def test_versions_schema_registry_and_breaking_changes(api: httpx.Client, tmp_path: Path) -> None:
    name = "registry-versions"
    first = _post(api, tmp_path, "unit,treated,y\na,1,1.5\nb,0,2.5\nc,1,3.0\n", name=name)
    assert first.status_code == 202, first.text
    dataset_id = first.json()["dataset_id"]

    added = _post(api, tmp_path, "unit,treated,y,地域\na,1,1.5,東京\nb,0,2.5,大阪\n", name=name)
    assert added.status_code == 202, added.text
    assert added.json()["version"] == 2 and added.json()["schema_diff"]["added"] == ["地域"]

    breaking = _post(api, tmp_path, "unit,treated\na,yes\nb,no\n", name=name)
    assert breaking.status_code == 409
    refusal = breaking.json()
    assert "removes 'y'" in refusal["detail"] and "retypes 'treated' (int64 → bool)" in refusal["detail"]
    assert "allow_breaking" in refusal["detail"]
    assert refusal["diff"]["removed"] == ["y", "地域"] and refusal["diff"]["breaking"] is True

    accepted = _post(api, tmp_path, "unit,treated\na,yes\nb,no\n", name=name, allow_breaking="true")
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["version"] == 3

    versions = api.get(f"/v1/datasets/{dataset_id}/versions").json()
    assert [v["version"] for v in versions["versions"]] == [1, 2, 3]
    assert [v["schema_diff"]["breaking"] for v in versions["versions"]] == [False, False, True]

    v1 = api.get(f"/v1/datasets/{dataset_id}/versions/1/schema").json()
    assert [c["name"] for c in v1["columns"]] == ["unit", "treated", "y"]
    assert v1["profile"]["n_rows"] == 3
    y = next(c for c in v1["profile"]["columns"] if c["name"] == "y")
    assert (y["min"], y["max"], y["missing_share"]) == (1.5, 3.0, 0.0)
    latest = api.get(f"/v1/datasets/{dataset_id}/schema").json()
    assert latest["version"] == 3 and [c["dtype"] for c in latest["columns"]] == ["string", "bool"]
    assert api.get(f"/v1/datasets/{dataset_id}/versions/9/schema").status_code == 404
    assert api.get("/v1/datasets/nope/versions").status_code == 404
