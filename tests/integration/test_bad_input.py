"""Bad input gets a clear 4xx or a failed analysis with the reason, and nothing half-written."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from cqox_stack.stack import Stack
from tests.integration.conftest import EXAMPLES, upload, wait_done

pytestmark = pytest.mark.integration


def _counts(stack: Stack) -> tuple[int, int, int]:
    engine = sa.create_engine(stack.database_url)
    with engine.connect() as conn:
        counts = tuple(
            conn.execute(sa.text(f"SELECT count(*) FROM ingest.{table}")).scalar_one()
            for table in ("datasets", "dataset_versions", "analyses")
        )
    engine.dispose()
    files = sum(1 for p in stack.artifacts.rglob("*") if p.is_file()) if stack.artifacts.exists() else 0
    return (*counts[:2], files)  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("content", "status", "fragment"),
    [
        (b"", 400, "empty"),
        (b"treated,outcome\n", 422, "no data rows"),
        (b"\x00\x01\x02\x03binary\x00junk" * 50, 415, "binary"),
        (b"<!DOCTYPE html><html><body>login</body></html>", 415, "HTML"),
        (b"a,a,b\n1,2,3\n4,5,6\n", 422, "duplicate column"),
    ],
)
def test_refused_upload_says_why_and_leaves_nothing(
    api: httpx.Client, stack: Stack, tmp_path: Path, content: bytes, status: int, fragment: str
) -> None:
    before = _counts(stack)
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with path.open("rb") as handle:
        response = api.post("/v1/datasets", files={"file": ("bad.csv", handle, "text/csv")})
    assert response.status_code == status, response.text
    assert fragment.lower() in response.json()["detail"].lower()
    assert _counts(stack) == before


def test_malformed_requests_get_actionable_4xx(api: httpx.Client) -> None:
    with (EXAMPLES / "customers.csv").open("rb") as handle:
        bad_spec = api.post("/v1/datasets", files={"file": ("c.csv", handle)}, data={"analysis": "{not json"})
    assert bad_spec.status_code == 422 and "not valid JSON" in bad_spec.json()["detail"]
    for analysis, fragment in (
        ('{"method": "auto"}', "unknown key(s) in 'analysis': method; known: methods, roles"),
        ('{"options": {"ipw": 3}}', "invalid analysis spec (options.ipw)"),
        ('{"ci_level": 95}', "invalid analysis spec (ci_level)"),
        ('{"seed": -1}', "invalid analysis spec (seed): -1 is outside 0 to 4294967295"),
    ):
        with (EXAMPLES / "customers.csv").open("rb") as handle:
            refused = api.post("/v1/datasets", files={"file": ("c.csv", handle)}, data={"analysis": analysis})
        assert refused.status_code == 422 and fragment in refused.json()["detail"], refused.text
    assert api.post("/v1/analyses", json={"dataset_id": "nope"}).status_code == 404
    assert api.get("/v1/analyses/nope").status_code == 404
    assert api.get("/v1/datasets/nope").status_code == 404
    missing_file = api.post("/v1/datasets", data={"name": "x"})
    assert missing_file.status_code == 422


def test_unknown_method_and_unknown_column_fail_the_analysis_with_the_reason(api: httpx.Client) -> None:
    unknown_method = upload(
        api, EXAMPLES / "customers.csv", name="bad-method", spec={"methods": ["no_such_method"]}
    )
    analysis = wait_done(api, unknown_method["analysis_id"])
    assert analysis["status"] == "failed" and "no_such_method" in analysis["error"]

    unknown_column = upload(
        api,
        EXAMPLES / "customers.csv",
        name="bad-role",
        spec={"methods": "auto", "roles": {"treatment": "not_a_column"}},
    )
    analysis = wait_done(api, unknown_column["analysis_id"])
    assert analysis["status"] == "failed" and "not_a_column" in analysis["error"]


def test_single_arm_data_is_rejected_by_a_named_gate(api: httpx.Client, tmp_path: Path) -> None:
    rows = "\n".join(f"{i},{20 + i % 30},1,{i % 7 + 0.5}" for i in range(200))
    path = tmp_path / "one_arm.csv"
    path.write_text("customer_id,age,received_coupon,spend\n" + rows + "\n")
    created = upload(
        api, path, spec={"methods": "auto", "roles": {"treatment": "received_coupon", "outcome": "spend"}}
    )
    analysis = wait_done(api, created["analysis_id"])
    assert analysis["status"] == "rejected"
    failed = [g["name"] for g in analysis["gates"] if not g["passed"]]
    assert "treatment_arms" in failed
    assert "arm" in analysis["error"].lower()
