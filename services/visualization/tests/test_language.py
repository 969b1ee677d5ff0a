"""The spec's report language, heard on dataset.qualified, decides the report's language."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from cqox_contracts.v1 import AnalysisAssessed, AnalysisSpec, DatasetQualified, ReportGenerated
from cqox_shared.harness import HandlerHarness, scratch_database
from cqox_shared.settings import Settings
from cqox_visualization.app import build_runtime

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def database_url(infra) -> str:  # type: ignore[no-untyped-def]
    return scratch_database(infra.database_url, "visualization")


def _report(database_url: str, tmp_path: Path, spec: AnalysisSpec) -> tuple[ReportGenerated, str]:
    """Qualify with `spec`, then assess: the report.generated event and the stored HTML."""
    assessed = AnalysisAssessed.model_validate_json((FIXTURES / "grant_rd.assessed.json").read_text())
    tag = spec.language or "none"  # each test its own event, analysis and tenant
    assessed = assessed.model_copy(
        update={
            "event_id": uuid.uuid4(),
            "tenant_id": f"t-{tag}",
            "analysis_id": f"an-{tag}",
            "correlation_id": f"an-{tag}",
        }
    )
    qualified = DatasetQualified(
        correlation_id=assessed.analysis_id, producer="test", tenant_id=assessed.tenant_id,
        analysis_id=assessed.analysis_id, dataset=assessed.dataset, spec=spec, roles=assessed.roles,
        design=assessed.design, gates=[],
    )  # fmt: skip
    settings = Settings(database_url=database_url, artifact_url=f"file://{tmp_path}")

    async def run() -> ReportGenerated:
        async with HandlerHarness(build_runtime(settings)) as harness:
            heard = await harness.run(qualified)
            assert heard.outcome == "ok" and heard.emitted == []
            (emitted,) = (await harness.run(assessed)).emitted
            assert isinstance(emitted, ReportGenerated)
            return emitted

    event = asyncio.run(run())
    return event, Path(event.report_uri.removeprefix("file://")).read_text()


@pytest.mark.integration
def test_the_spec_language_wins_over_the_script_of_the_columns(database_url: str, tmp_path: Path) -> None:
    event, html = _report(database_url, tmp_path, AnalysisSpec(language="ja"))
    assert event.language == "ja" and '<html lang="ja">' in html and "要約" in html
    # The test's store holds no dataset Parquet: the views of raw data are left out, the rest drawn.
    assert [f.kind for f in event.figures] == [
        "forest",
        "rd_plot",
        "rd_bandwidth_sensitivity",
        "rd_placebo_cutoffs",
        "refuters",
        "gates_board",
    ]
    names = {a.name for a in event.artifacts}
    assert {"report", "report_json"} <= names
    assert {f.artifact for f in event.figures if f.artifact} <= names


@pytest.mark.integration
def test_without_a_spec_language_the_english_columns_give_english(database_url: str, tmp_path: Path) -> None:
    event, html = _report(database_url, tmp_path, AnalysisSpec())
    assert event.language == "en" and '<html lang="en">' in html and "Summary" in html
