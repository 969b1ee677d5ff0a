"""The read-model projection on one event at a time against the `ingest` schema (handler harness)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from cqox_contracts.v1 import AnalysisFailed
from cqox_ingest.app import IngestSettings, build_runtime
from cqox_ingest.db.models import Analysis, AnalysisEvent
from cqox_shared.harness import HandlerHarness, scratch_database

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def database_url(infra) -> str:  # type: ignore[no-untyped-def]
    return scratch_database(infra.database_url, "ingest")


def _failed(analysis_id: str) -> AnalysisFailed:
    return AnalysisFailed(
        correlation_id=analysis_id,
        producer="mapping",
        analysis_id=analysis_id,
        stage="mapping",
        reason="no outcome",
    )


async def test_a_failure_lands_in_the_timeline_and_the_status(database_url: str, tmp_path: Path) -> None:
    settings = IngestSettings(database_url=database_url, artifact_url=f"file://{tmp_path}")
    async with HandlerHarness(build_runtime(settings)) as harness:
        async with harness.transaction() as session:
            session.add(
                Analysis(
                    id="an_rm",
                    tenant_id="default",
                    dataset_id="ds",
                    dataset_version=1,
                    status="ingested",
                    spec={},
                )
            )
        event = _failed("an_rm")
        run = await harness.run(event)
        assert harness.subscription_for(event).durable("ingest") == "ingest-analysis-all"
        (analysis,) = await harness.rows(
            sa.select(Analysis.status, Analysis.error).where(Analysis.id == "an_rm")
        )
        timeline = await harness.rows(
            sa.select(AnalysisEvent.event_type, AnalysisEvent.producer, AnalysisEvent.summary)
        )
    assert run.outcome == "ok" and run.emitted == []  # the read model says nothing
    assert analysis.status == "failed" and "no outcome" in (analysis.error or "")
    assert [(t.event_type, t.producer) for t in timeline] == [("analysis.failed", "mapping")]
    assert "no outcome" in timeline[0].summary


async def test_an_event_ahead_of_its_analysis_is_retried_not_lost(database_url: str, tmp_path: Path) -> None:
    settings = IngestSettings(database_url=database_url, artifact_url=f"file://{tmp_path}")
    async with HandlerHarness(build_runtime(settings)) as harness:
        event = _failed("an_later")
        with pytest.raises(RuntimeError, match="not in the read model yet"):
            await harness.run(event)
        claimed = await harness.rows(
            sa.select(harness.runtime.processed).where(
                harness.runtime.processed.c.event_id == str(event.event_id)
            )
        )
    assert claimed == []  # rolled back with the failure, so the redelivery is handled
