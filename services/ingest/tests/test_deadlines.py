"""An analysis that waits too long at a stage, or in all, fails with the stage and the reason
(ADR 0021): the deadline logic alone, then the watchdog's sweep against the `ingest` schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from cqox_contracts.v1 import AnalysisFailed
from cqox_ingest.app import IngestSettings, build_runtime
from cqox_ingest.db.models import Analysis, AnalysisEvent
from cqox_ingest.domain import Deadlines, overdue, project
from cqox_ingest.handlers import fail_overdue
from cqox_shared.bus import HandlerContext
from cqox_shared.harness import HandlerHarness, scratch_database

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
DEADLINES = Deadlines.configured({"mapping": 60, "visualization": 30}, analysis_s=600)


def _ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def test_a_stage_without_progress_past_its_deadline_is_overdue_with_stage_and_reason() -> None:
    assert overdue("accepted", _ago(59), _ago(59), NOW, DEADLINES) is None
    stage, reason = overdue("accepted", _ago(61), _ago(61), NOW, DEADLINES) or ("", "")
    assert stage == "mapping" and "no progress for 61 s while waiting on mapping" in reason
    assert "stage deadline is 60 s" in reason
    stage, _ = overdue("assessed", _ago(100), _ago(31), NOW, DEADLINES) or ("", "")
    assert stage == "visualization"
    # the defaults stay for the stages not configured
    assert DEADLINES.stage_s["estimator"] == 1800 and DEADLINES.shortest_s == 30


def test_the_analysis_deadline_counts_from_the_start_even_while_stages_progress() -> None:
    assert overdue("estimating", _ago(599), _ago(1), NOW, DEADLINES) is None
    stage, reason = overdue("estimating", _ago(601), _ago(1), NOW, DEADLINES) or ("", "")
    assert stage == "estimator" and "not finished 601 s after it started (deadline 600 s)" in reason


def test_finished_analyses_and_a_person_s_confirmation_have_no_deadline() -> None:
    for status in ("completed", "failed", "rejected", "awaiting_confirmation"):
        assert overdue(status, _ago(10**6), _ago(10**6), NOW, DEADLINES) is None
    assert overdue("accepted", _ago(10**6), _ago(10**6), NOW, Deadlines({}, 0)) is None


def test_a_deadline_failure_projects_like_any_failure() -> None:
    failed = AnalysisFailed(
        correlation_id="a", producer="ingest", analysis_id="a", stage="mapping", reason="late"
    )
    assert project({"status": "accepted"}, failed) == {"status": "failed", "error": "mapping: late"}


@pytest.fixture(scope="module")
def database_url(infra) -> str:  # type: ignore[no-untyped-def]
    return scratch_database(infra.database_url, "ingest_deadlines")


@pytest.mark.integration
async def test_the_watchdog_fails_a_stalled_analysis_once_and_records_it_in_its_timeline(
    database_url: str, tmp_path: Path
) -> None:
    settings = IngestSettings(database_url=database_url, artifact_url=f"file://{tmp_path}")
    runtime = build_runtime(settings)
    async with HandlerHarness(runtime) as harness:
        async with harness.transaction() as session:
            for analysis_id, status in (
                ("an_stalled", "mapped"),
                ("an_fresh", "mapped"),
                ("an_done", "completed"),
            ):
                session.add(
                    Analysis(
                        id=analysis_id,
                        tenant_id="acme",
                        dataset_id="ds",
                        dataset_version=1,
                        status=status,
                        spec={},
                    )
                )
        async with harness.transaction() as session:
            await session.execute(
                sa.update(Analysis)
                .where(Analysis.id.in_(["an_stalled", "an_done"]))
                .values(
                    created_at=sa.func.now() - timedelta(hours=1),
                    updated_at=sa.func.now() - timedelta(hours=1),
                )
            )
        deadlines = Deadlines.configured({"quality-gate": 120}, analysis_s=0)

        async def sweep() -> list[AnalysisFailed]:
            async with harness.transaction() as session:
                ctx = HandlerContext(
                    session=session,
                    outbox=runtime.outbox,
                    producer="ingest",
                    publishes=frozenset({AnalysisFailed}),
                    flow="deadline watchdog",
                )
                return await fail_overdue(ctx, deadlines)

        (failed,) = await sweep()
        assert await sweep() == []  # failed is final: the next sweep finds nothing
        rows = await harness.rows(
            sa.select(Analysis.id, Analysis.status, Analysis.error).order_by(Analysis.id)
        )
        timeline = await harness.rows(
            sa.select(AnalysisEvent.analysis_id, AnalysisEvent.event_type, AnalysisEvent.event_id)
        )
        queued = await harness.rows(sa.select(runtime.outbox.c.event_id, runtime.outbox.c.subject))
    assert (
        failed.analysis_id == "an_stalled" and failed.stage == "quality-gate" and failed.tenant_id == "acme"
    )
    assert "while waiting on quality-gate (status mapped)" in failed.reason
    assert [(r.id, r.status) for r in rows] == [
        ("an_done", "completed"),
        ("an_fresh", "mapped"),
        ("an_stalled", "failed"),
    ]
    assert rows[2].error == f"quality-gate: {failed.reason}"
    # in the timeline at once (the SSE stream shows it, then ends) and queued for the other services
    assert [(t.analysis_id, t.event_type, t.event_id) for t in timeline] == [
        ("an_stalled", "analysis.failed", str(failed.event_id))
    ]
    assert [(q.event_id, q.subject) for q in queued] == [(str(failed.event_id), "cqox.v1.analysis.failed")]
