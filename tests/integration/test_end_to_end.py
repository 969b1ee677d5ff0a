"""One analysis through all six services on the real bus, as a user sees it."""

from __future__ import annotations

import json

import httpx
import pytest

from cqox_stack.stack import Stack
from tests.integration.conftest import EXAMPLES, metric, upload, wait_done

pytestmark = pytest.mark.integration

ESTIMATE_FIELDS = {"method", "estimand", "estimate", "std_error", "ci_lower", "ci_upper", "p_value", "n"}
# every registered method that supports observational data ("auto" runs them all)
OBSERVATIONAL_METHODS = {
    "diff_in_means", "ols", "ols_interacted", "ipw", "psm", "ps_stratification", "aipw",
    "overlap_weights", "entropy_balancing", "linear_dml", "causal_forest", "s_learner",
    "t_learner", "x_learner", "dr_learner", "policy_tree",
}  # fmt: skip
GATE_FIELDS = {"name", "category", "threshold", "value", "passed", "severity"}


def test_sample_upload_runs_every_stage_and_recovers_the_true_effect(
    api: httpx.Client, stack: Stack, truth: float
) -> None:
    created = upload(api, EXAMPLES / "customers.csv", name="customers-e2e")
    assert {"dataset_id", "version", "analysis_id"} <= created.keys()

    # the SSE stream shows the whole flow in order and ends by itself
    seen: list[str] = []
    with api.stream("GET", f"/v1/analyses/{created['analysis_id']}/events", timeout=120) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        event = ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
                seen.append(event)
            if event == "end":
                break
    for expected in (
        "dataset.ingested",
        "dataset.mapped",
        "dataset.qualified",
        "estimate.requested",
        "estimate.completed",
        "analysis.estimated",
        "analysis.assessed",
        "report.generated",
        "end",
    ):
        assert expected in seen, (expected, seen)
    assert seen.index("dataset.mapped") < seen.index("analysis.estimated") < seen.index("report.generated")

    analysis = wait_done(api, created["analysis_id"])
    assert analysis["status"] == "completed", analysis["error"]
    methods = {e["method"]: e for e in analysis["estimates"]}
    assert set(methods) == OBSERVATIONAL_METHODS, analysis["failures"]
    for estimate in methods.values():
        assert estimate.keys() >= ESTIMATE_FIELDS
        # The sample's effect is constant, so ATE = ATT = ATO = the gain of the best policy (treat all).
        assert abs(estimate["estimate"] - truth) < 0.3, estimate
        assert estimate["ci_lower"] < estimate["estimate"] < estimate["ci_upper"]
        assert estimate["n"] == 4000
    for adjusted in ("ols", "ipw", "aipw", "overlap_weights", "linear_dml"):
        assert methods[adjusted]["ci_lower"] <= truth <= methods[adjusted]["ci_upper"]
    # CATE methods put per-unit effects in the store; the policy tree also a policy CSV
    for name in ("causal_forest", "linear_dml", "dr_learner", "t_learner", "policy_tree"):
        artifacts = {a["name"]: a for a in methods[name]["artifacts"]}
        cate = artifacts[f"cate_{name}"]
        # a download link, never the object's URI
        assert (
            cate["url"] == f"/v1/analyses/{created['analysis_id']}/artifacts/cate_{name}"
            and "uri" not in cate
        )
        assert api.get(cate["url"]).content[:4] == b"PAR1"
        assert "cate_top_drivers" in methods[name]["diagnostics"]
    policy = api.get(
        next(a for a in methods["policy_tree"]["artifacts"] if a["media_type"] == "text/csv")["url"]
    )
    assert policy.text.splitlines()[0] == "unit,row,recommended_arm,expected_gain"
    assert len(policy.text.splitlines()) == 4001
    gates = {g["name"]: g for g in analysis["gates"]}
    assert {"raw_balance_smd", "balance_smd", "propensity_overlap", "treatment_arms"} <= gates.keys()
    assert all(g.keys() >= GATE_FIELDS for g in gates.values())
    # the naive comparison is confounded in this sample: a failed, named gate flags it
    assert not gates["raw_balance_smd"]["passed"]
    assert gates["raw_balance_smd"]["applies_to"] == ["diff_in_means"]
    assert gates["balance_smd"]["passed"] and gates["balance_smd"]["applies_to"] == []

    report = analysis["report"]
    assert report["url"] == f"/v1/analyses/{created['analysis_id']}/report" and "path" not in report
    html = api.get(f"/v1/analyses/{created['analysis_id']}/report")
    assert html.status_code == 200 and "received_coupon" in html.text
    assert api.get(f"/v1/analyses/{created['analysis_id']}/artifacts/forest_plot").content[:4] == b"\x89PNG"
    # the same report as PDF, next to the HTML; report_uri stays the HTML
    names = {a["name"]: a for a in report["artifacts"]}
    assert names["report_pdf"]["media_type"] == "application/pdf"
    assert names["report_pdf"]["url"] == f"/v1/analyses/{created['analysis_id']}/artifacts/report_pdf"
    pdf = api.get(f"/v1/analyses/{created['analysis_id']}/artifacts/report_pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and len(pdf.content) > 20_000

    dataset = api.get(f"/v1/datasets/{created['dataset_id']}").json()
    assert dataset["mapping"]["roles"]["treatment"] == "received_coupon"
    confidences = {a["role"]: a["confidence"] for a in dataset["mapping"]["assignments"]}
    assert confidences["treatment"] >= 0.6 and confidences["outcome"] >= 0.6


def test_every_service_logs_json_and_exposes_metrics(api: httpx.Client, stack: Stack) -> None:
    created = upload(api, EXAMPLES / "customers.csv", name="customers-metrics")
    assert wait_done(api, created["analysis_id"])["status"] == "completed"
    for service in stack.services.values():
        assert httpx.get(f"{service.url}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"{service.url}/readyz", timeout=5).json()["ready"] is True
        assert metric(service.url, "cqox_messages_total", outcome="ok") > 0, service.name
        lines = [line for line in service.process.log_path.read_text().splitlines() if line.startswith("{")]
        assert lines, f"{service.name} wrote no JSON log lines"
        assert all(json.loads(line)["service"] for line in lines[:20])
    assert metric(stack.services["estimator"].url, "cqox_estimates_total", outcome="completed") > 0
    # The estimator reads a dataset version once per process, not once per method.
    assert metric(stack.services["estimator"].url, "cqox_estimator_frame_reads_total", source="cache") > 0


def test_new_analysis_of_a_stored_dataset_with_chosen_methods_and_roles(
    api: httpx.Client, truth: float
) -> None:
    created = upload(api, EXAMPLES / "customers.csv", name="customers-reanalysis")
    wait_done(api, created["analysis_id"])
    response = api.post(
        "/v1/analyses",
        json={
            "dataset_id": created["dataset_id"],
            "methods": ["ols"],
            "roles": {
                "treatment": "received_coupon",
                "outcome": "spend_next_90d",
                "covariates": ["age", "income"],
            },
        },
    )
    assert response.status_code == 202, response.text
    analysis = wait_done(api, response.json()["analysis_id"])
    assert analysis["status"] == "completed", analysis["error"]
    assert [e["method"] for e in analysis["estimates"]] == ["ols"]
    assert analysis["roles"]["covariates"] == ["age", "income"]
    assert {a["source"] for a in analysis["mapping"] if a["role"] in ("treatment", "outcome")} == {"override"}


def test_the_same_file_gives_the_same_estimates_and_a_seed_in_the_spec_changes_them(
    api: httpx.Client,
) -> None:
    """No seed given: the random steps (aipw's cross-fitting folds) are seeded from the file's
    content, so a second upload of it, under another name, gives the very same numbers; a `seed`
    in the spec draws other folds (which shows the estimate depends on them)."""
    roles = {
        "treatment": "received_coupon",
        "outcome": "spend_next_90d",
        "covariates": ["age", "income", "tenure_months", "prior_purchases", "region"],
    }
    spec = {"methods": ["aipw"], "roles": roles}
    first = upload(api, EXAMPLES / "customers.csv", name="customers-seed-1", spec=spec)
    again = upload(api, EXAMPLES / "customers.csv", name="customers-seed-2", spec=spec)
    seeded = api.post("/v1/analyses", json={"dataset_id": first["dataset_id"], **spec, "seed": 12345})
    assert seeded.status_code == 202, seeded.text
    results, seeds = [], []
    for analysis_id in (first["analysis_id"], again["analysis_id"], seeded.json()["analysis_id"]):
        analysis = wait_done(api, analysis_id)
        assert analysis["status"] == "completed", analysis["error"]
        (estimate,) = analysis["estimates"]
        results.append((estimate["estimate"], estimate["std_error"]))
        seeds.append(analysis["seed"])  # the read model says which seed was used
    assert results[0] == results[1] and seeds[0] == seeds[1] and isinstance(seeds[0], int)
    assert results[2] != results[0] and seeds[2] == 12345
