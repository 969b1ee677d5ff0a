"""Ingest domain: one-line summaries and the read-model projection of every event."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cqox_contracts.v1 import (
    EVENT_TYPES,
    AnalysisAssessed,
    AnalysisEstimated,
    AnalysisFailed,
    AnalysisRequested,
    Artifact,
    AuditRecorded,
    ColumnSchema,
    DatasetConfirmed,
    DatasetIngested,
    DatasetMapped,
    DatasetQualified,
    DatasetRef,
    DatasetRejected,
    EstimateCompleted,
    EstimateFailed,
    EstimateRequested,
    EstimateResult,
    Event,
    GateResult,
    KeyIssued,
    KeyRevoked,
    KeyRotated,
    MessageDeadLettered,
    MethodFailure,
    NotificationDelivered,
    NotificationFailed,
    Refutation,
    RefutationCompleted,
    RefutationFailed,
    RefutationRequested,
    ReportGenerated,
    RoleAssignment,
    RoleMapping,
    SensitivityPanel,
    Verdict,
)
from cqox_ingest.domain import STATUS_RANK, project, sse_poll_delay, summarize

# ---- sample events ----------------------------------------------------------------------------

AID = "an-0001"
ENV: dict[str, Any] = {"correlation_id": AID, "producer": "test", "tenant_id": "tenant-a"}
DATASET = DatasetRef(
    dataset_id="ds-1",
    version=1,
    name="sales.csv",
    parquet_uri="file:///tmp/a/tenant-a/ds-1/1/data.parquet",
    n_rows=500,
    columns=[
        ColumnSchema(name="store", dtype="string"),
        ColumnSchema(name="promo", dtype="int64"),
        ColumnSchema(name="sales", dtype="double"),
        ColumnSchema(name="size", dtype="double"),
    ],
)
ROLES = RoleMapping(treatment="promo", outcome="sales", unit="store", covariates=["size"])
ASSIGNMENTS = [
    RoleAssignment(role="treatment", column="promo", confidence=0.92),
    RoleAssignment(role="outcome", column="sales", confidence=0.81),
    RoleAssignment(role="unit", column="store", confidence=0.7),
]
DATA_GATES = [
    GateResult(name="required_roles", category="data", passed=True, severity="error"),
    GateResult(name="arm_size", category="data", threshold=30, value=240, passed=True, severity="error"),
]
CAUSAL_GATES = [
    GateResult(
        name="balance_smd", category="causal", threshold=0.1, value=0.04, passed=True,
        severity="warning",
    ),
    GateResult(
        name="overlap", category="causal", threshold=0.05, value=0.01, passed=False,
        severity="warning", applies_to=["ipw"],
    ),
]  # fmt: skip


def _estimate(method: str, value: float) -> EstimateResult:
    return EstimateResult(
        method=method, estimand="ATE", estimate=value, std_error=0.3, ci_lower=value - 0.6,
        ci_upper=value + 0.6, p_value=0.001, n=500, n_treated=240, n_control=260,
        inference="HC1 robust",
    )  # fmt: skip


OLS, IPW = _estimate("ols", 1.2), _estimate("ipw", 1.35)
FAILURE = MethodFailure(method="did", reason="no time column")


def mapped(needs_confirmation: bool = False) -> DatasetMapped:
    return DatasetMapped(
        **ENV, dataset=DATASET, analysis_id=AID, spec={}, roles=ROLES, assignments=ASSIGNMENTS,
        design="observational", needs_confirmation=needs_confirmation,
    )  # fmt: skip


def qualified() -> DatasetQualified:
    return DatasetQualified(
        **ENV, dataset=DATASET, analysis_id=AID, spec={}, roles=ROLES, design="observational",
        gates=DATA_GATES,
    )  # fmt: skip


def requested(method: str) -> EstimateRequested:
    return EstimateRequested(
        **ENV, analysis_id=AID, method=method, dataset=DATASET, roles=ROLES,
        design="observational", seed=7,
    )  # fmt: skip


def completed(result: EstimateResult) -> EstimateCompleted:
    return EstimateCompleted(**ENV, analysis_id=AID, method=result.method, result=result)


def estimated() -> AnalysisEstimated:
    return AnalysisEstimated(
        **ENV, analysis_id=AID, dataset=DATASET, roles=ROLES, design="observational",
        planned_methods=["ipw", "ols", "did"], estimates=[OLS, IPW], failures=[FAILURE], seed=2851372334,
    )  # fmt: skip


def assessed() -> AnalysisAssessed:
    return AnalysisAssessed(
        **ENV, analysis_id=AID, dataset=DATASET, roles=ROLES, design="observational",
        estimates=[OLS, IPW], failures=[FAILURE], gates=DATA_GATES + CAUSAL_GATES,
    )  # fmt: skip


def report() -> ReportGenerated:
    return ReportGenerated(
        **ENV, analysis_id=AID, report_uri="file:///tmp/a/tenant-a/analyses/an-0001/report.html",
        artifacts=[Artifact(name="forest.png", uri="file:///tmp/a/f.png", media_type="image/png")],
        headline="promo raised sales by 1.2 (95% CI 0.6 to 1.8)",
    )  # fmt: skip


def failed(stage: str = "estimation", reason: str = "dead-lettered") -> AnalysisFailed:
    return AnalysisFailed(**ENV, analysis_id=AID, stage=stage, reason=reason)


def sample_events() -> dict[str, Event]:
    """One instance of every v1 event type."""
    events: list[Event] = [
        DatasetIngested(**ENV, dataset=DATASET, raw_uri="file:///tmp/raw.csv", analysis_id=AID),
        AnalysisRequested(**ENV, dataset=DATASET, analysis_id=AID),
        DatasetConfirmed(**ENV, dataset=DATASET, analysis_id=AID, roles={"treatment": "promo"}),
        mapped(needs_confirmation=True),
        qualified(),
        DatasetRejected(
            **ENV, dataset=DATASET, analysis_id=AID, reason="only one arm", gates=DATA_GATES
        ),
        requested("ols"),
        completed(OLS),
        EstimateFailed(**ENV, analysis_id=AID, method="did", reason="no time column"),
        estimated(),
        assessed(),
        report(),
        failed(),
        NotificationDelivered(
            **ENV, analysis_id=AID, subscription_id="sub-1", channel="webhook",
            target="https://hooks.example.com/x", attempts=1, status_code=200,
        ),
        NotificationFailed(
            **ENV, analysis_id=AID, subscription_id="sub-1", channel="webhook",
            target="https://hooks.example.com/x", attempts=5, reason="HTTP 500",
        ),
        MessageDeadLettered(
            **ENV, original_subject="cqox.v1.dataset.mapped", consumer="quality-gate",
            deliveries=5, reason="handler error", payload="{}",
        ),
        RefutationRequested(
            **ENV, analysis_id=AID, method="ols", dataset=DATASET, roles=ROLES, design="observational", seed=1,
        ),
        RefutationCompleted(
            **ENV, analysis_id=AID, method="ols",
            refutations=[Refutation(method="ols", refuter="placebo_treatment", expectation="zero")],
        ),
        RefutationFailed(**ENV, analysis_id=AID, method="ols", reason="singular design"),
        AuditRecorded(
            **ENV, entry_id=1, at="2026-01-01T00:00:00Z", actor="config-0123456789ab", role="viewer",
            client="127.0.0.1", action="analysis.read", target=AID, outcome="ok",
        ),
        *(
            cls(**ENV, key_id="0123456789abcdef", role="viewer", digest="ab" * 32, **extra)
            for cls, extra in ((KeyIssued, {}), (KeyRotated, {"replaced_by": "fedcba9876543210"}), (KeyRevoked, {}))
        ),
    ]  # fmt: skip
    return {e.event_type: e for e in events}


# ---- summarize --------------------------------------------------------------------------------


def test_summarize_covers_every_event_type() -> None:
    samples = sample_events()
    assert set(samples) == set(EVENT_TYPES)
    for event_type, event in samples.items():
        line = summarize(event)
        assert isinstance(line, str)
        assert line.strip(), event_type
        assert "\n" not in line, event_type


def test_summarize_content() -> None:
    samples = sample_events()
    assert summarize(samples["dataset.ingested"]) == "stored sales.csv v1: 500 rows × 4 columns"
    mapped_line = summarize(samples["dataset.mapped"])
    assert "treatment=promo (0.92)" in mapped_line
    assert "outcome=sales (0.81)" in mapped_line
    assert mapped_line.endswith("; needs confirmation")
    assert summarize(samples["dataset.qualified"]) == "data gates passed (2/2)"
    assert summarize(samples["estimate.completed"]) == "ols: ATE 1.2 (95% CI 0.6 to 1.8), n=500"
    assert summarize(samples["analysis.estimated"]) == "2 of 3 methods estimated"
    assert summarize(samples["analysis.assessed"]) == "3/4 gates passed; failed: overlap"
    assert summarize(samples["report.generated"]).startswith("report ready: promo raised")
    assert summarize(samples["analysis.failed"]) == "failed in estimation: dead-lettered"
    assert "attempt 1" in summarize(samples["notification.delivered"])


def test_summarize_missing_ci_and_timeouts() -> None:
    result = EstimateResult(
        method="rd", estimand="LATE", estimate=0.5, std_error=None, ci_lower=None, ci_upper=None,
        p_value=None, n=80, inference="none",
    )  # fmt: skip
    assert "n/a to n/a" in summarize(completed(result))
    timed_out = AnalysisEstimated(
        **ENV, analysis_id=AID, dataset=DATASET, roles=ROLES, design="observational",
        planned_methods=["ols", "ipw"], estimates=[OLS], timed_out=["ipw"],
    )  # fmt: skip
    assert summarize(timed_out) == "1 of 2 methods estimated, timed out: ipw"


# ---- project ----------------------------------------------------------------------------------


def _run(events: list[Event], state: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    states = []
    current = dict(state or {"analysis_id": AID, "status": "accepted"})
    for event in events:
        current = project(current, event)
        states.append(current)
    return states


def test_project_full_flow() -> None:
    flow: list[Event] = [
        mapped(), qualified(), requested("ols"), requested("ipw"), completed(OLS), completed(IPW),
        estimated(), assessed(), report(),
    ]  # fmt: skip
    states = _run(flow)
    assert [s["status"] for s in states] == [
        "mapped", "qualified", "estimating", "estimating", "estimating", "estimating",
        "estimated", "assessed", "completed",
    ]  # fmt: skip
    final = states[-1]
    assert final["analysis_id"] == AID
    assert final["roles"]["treatment"] == "promo"
    assert final["design"] == "observational"
    assert final["needs_confirmation"] is False
    assert [a["column"] for a in final["assignments"]] == ["promo", "sales", "store"]
    assert final["planned_methods"] == ["ipw", "ols", "did"]
    assert final["seed"] == 2851372334  # beyond 32 bits signed: the column is a bigint
    assert [e["method"] for e in final["estimates"]] == ["ols", "ipw"]
    assert final["estimates"][0]["estimate"] == 1.2
    assert final["failures"] == [{"method": "did", "reason": "no time column", "error_type": "error"}]
    assert [g["name"] for g in final["gates"]] == [
        "required_roles", "arm_size", "balance_smd", "overlap",
    ]  # fmt: skip
    assert final["report"] == {
        "uri": "file:///tmp/a/tenant-a/analyses/an-0001/report.html",
        "headline": "promo raised sales by 1.2 (95% CI 0.6 to 1.8)",
        "artifacts": [{"name": "forest.png", "uri": "file:///tmp/a/f.png", "media_type": "image/png"}],
    }
    assert "error" not in final


def test_project_intermediate_values() -> None:
    states = _run([mapped(), qualified(), requested("ols"), requested("ipw"), completed(OLS)])
    assert states[1]["gates"] == [g.model_dump(mode="json") for g in DATA_GATES]
    assert states[3]["planned_methods"] == ["ipw", "ols"]
    assert states[4]["estimates"] == [OLS.model_dump(mode="json")]
    # a redelivered completion replaces, never duplicates
    again = project(states[4], completed(_estimate("ols", 1.25)))
    assert [e["estimate"] for e in again["estimates"]] == [1.25]


def test_project_is_pure() -> None:
    state = {"analysis_id": AID, "status": "accepted"}
    snapshot = dict(state)
    new = project(state, mapped())
    assert state == snapshot
    assert new is not state
    assert project({}, mapped())["status"] == "mapped"


def test_project_awaiting_confirmation_then_confirmed() -> None:
    states = _run([mapped(needs_confirmation=True), mapped(needs_confirmation=False), qualified()])
    assert [s["status"] for s in states] == ["awaiting_confirmation", "mapped", "qualified"]


def test_project_estimate_failures_upsert() -> None:
    fail = EstimateFailed(**ENV, analysis_id=AID, method="did", reason="x", error_type="value")
    states = _run([requested("did"), fail, fail])
    assert states[-1]["failures"] == [{"method": "did", "reason": "x", "error_type": "value"}]
    assert states[-1]["status"] == "estimating"


def test_project_report_before_assessed_never_goes_back() -> None:
    states = _run([mapped(), qualified(), estimated(), report(), assessed(), completed(OLS)])
    assert [s["status"] for s in states] == [
        "mapped", "qualified", "estimated", "completed", "completed", "completed",
    ]  # fmt: skip
    final = states[-1]
    assert final["report"]["headline"].startswith("promo raised")
    assert len(final["gates"]) == 4  # the late assessment still fills in its gates


@pytest.mark.parametrize("late", [mapped(), qualified(), requested("ols"), completed(OLS), estimated()])
def test_project_late_events_never_move_status_backwards(late: Event) -> None:
    state = _run([mapped(), qualified(), estimated(), assessed()])[-1]
    assert project(state, late)["status"] == "assessed"
    done = project(state, report())
    assert project(done, late)["status"] == "completed"


def test_project_status_is_monotonic_for_every_ordering_of_the_flow() -> None:
    flow: list[Event] = [mapped(), qualified(), requested("ols"), estimated(), assessed(), report()]
    rng = np.random.default_rng(0)
    for _ in range(50):
        order = [flow[i] for i in rng.permutation(len(flow))]
        ranks = [STATUS_RANK[s["status"]] for s in _run(order)]
        assert ranks == sorted(ranks)
        assert ranks[-1] == STATUS_RANK["completed"]


def test_project_late_qualified_keeps_causal_gates() -> None:
    final = _run([mapped(), estimated(), assessed(), report(), qualified()])[-1]
    assert [g["name"] for g in final["gates"]] == [
        "required_roles", "arm_size", "balance_smd", "overlap",
    ]  # fmt: skip


def test_project_failed_after_completed_stays_completed() -> None:
    done = _run([mapped(), qualified(), estimated(), assessed(), report()])[-1]
    after = project(done, failed("visualization", "timeout"))
    assert after["status"] == "completed"
    assert "error" not in after
    assert after["report"] == done["report"]


def test_project_failed_is_terminal() -> None:
    states = _run([mapped(), qualified(), failed("estimation", "all methods failed"), report()])
    assert [s["status"] for s in states][-2:] == ["failed", "failed"]
    assert states[-1]["error"] == "estimation: all methods failed"
    second = project(states[-1], failed("report", "other"))
    assert second["error"] == "estimation: all methods failed"


def test_project_rejected_is_terminal() -> None:
    rejected = DatasetRejected(
        **ENV, dataset=DATASET, analysis_id=AID, reason="only one arm", gates=DATA_GATES
    )
    states = _run([mapped(), rejected, qualified(), requested("ols")])
    assert [s["status"] for s in states] == ["mapped", "rejected", "rejected", "rejected"]
    assert states[1]["error"] == "only one arm"


def test_project_notifications_append_without_status_change() -> None:
    done = _run([mapped(), qualified(), estimated(), assessed(), report()])[-1]
    samples = sample_events()
    state = project(done, samples["notification.failed"])
    state = project(state, samples["notification.delivered"])
    assert state["status"] == "completed"
    assert state["notifications"] == [
        {"subscription_id": "sub-1", "target": "https://hooks.example.com/x", "attempts": 5,
         "status": "failed"},
        {"subscription_id": "sub-1", "target": "https://hooks.example.com/x", "attempts": 1,
         "status": "delivered"},
    ]  # fmt: skip


@pytest.mark.parametrize("event_type", ["dataset.ingested", "analysis.requested", "message.deadlettered"])
def test_project_ignores_events_without_read_model_effect(event_type: str) -> None:
    state = {"analysis_id": AID, "status": "mapped", "design": "observational"}
    assert project(state, sample_events()[event_type]) == state


def test_late_method_result_does_not_change_a_closed_analysis() -> None:
    from cqox_contracts.v1 import EstimateCompleted, EstimateResult
    from cqox_ingest.domain import project

    closed = {"status": "completed", "estimates": [{"method": "ols", "estimate": 2.0}], "failures": []}
    late = EstimateCompleted(
        correlation_id="a", producer="estimator", analysis_id="a", method="ipw",
        result=EstimateResult(method="ipw", estimand="ATE", estimate=1.0, std_error=0.1, ci_lower=0.8,
                              ci_upper=1.2, p_value=0.01, n=10, inference="x"),
    )  # fmt: skip
    assert project(closed, late) == closed


def test_sse_polls_back_off_while_idle_and_reset_when_events_flow() -> None:
    delays = [sse_poll_delay(k) for k in range(1, 10)]
    assert delays[0] == 0.25  # the first empty poll waits as before
    assert delays == sorted(delays) and delays[-1] == 2.0  # grows, capped at 2 s
    assert sse_poll_delay(0) == 0.25
    # Over a long idle stretch the stream queries the database 0.5 times a second instead of 4.
    assert 1 / sse_poll_delay(60) == pytest.approx(0.5)


def test_project_assessed_keeps_sensitivity_and_verdict() -> None:
    panel = SensitivityPanel(method="ols", estimand="ATE", estimate=1.2, headline=True, summary="robust")
    verdict = Verdict(level="CAUTION", summary="CAUTION: e_value", failed=["e_value"], untestable=["NUC"])
    event = assessed().model_copy(update={"sensitivity": [panel], "verdict": verdict})
    final = _run([mapped(), qualified(), estimated(), event])[-1]
    assert final["sensitivity"][0]["summary"] == "robust" and final["sensitivity"][0]["headline"]
    assert final["verdict"]["level"] == "CAUTION"
    assert summarize(event).endswith("verdict CAUTION")
