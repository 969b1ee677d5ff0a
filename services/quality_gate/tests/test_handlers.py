"""The quality-gate handlers on one event at a time against the `quality` schema (handler harness)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from cqox_contracts.v1 import AnalysisSpec, DatasetMapped, DatasetQualified, DatasetRejected, RoleMapping
from cqox_quality_gate.app import build_runtime
from cqox_quality_gate.db.models import GateRecord
from cqox_quality_gate.domain import GateThresholds
from cqox_shared.harness import HandlerHarness, scratch_database
from cqox_shared.settings import Settings

pytestmark = pytest.mark.integration

ROLES = RoleMapping(treatment="treated", outcome="revenue", unit="user_id", covariates=["spend"])


def _frame(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    treated = rng.integers(0, 2, size=n)
    return pd.DataFrame(
        {
            "user_id": np.arange(n),
            "treated": treated,
            "revenue": 10 + 2 * treated + rng.normal(size=n),
            "spend": rng.gamma(2.0, 50.0, size=n),
        }
    )


@pytest.fixture(scope="module")
def database_url(infra) -> str:  # type: ignore[no-untyped-def]
    return scratch_database(infra.database_url, "quality")


def _mapped(harness: HandlerHarness, frame: pd.DataFrame, analysis_id: str, **extra: object) -> DatasetMapped:
    dataset = harness.store_frame(frame, dataset_id=f"ds_{analysis_id}")
    return DatasetMapped(
        correlation_id=analysis_id, producer="mapping", dataset=dataset, analysis_id=analysis_id,
        spec=AnalysisSpec(), roles=ROLES, assignments=[], design="observational", **extra,
    )  # fmt: skip


async def test_clean_data_is_qualified_and_its_gates_recorded(database_url: str, tmp_path: Path) -> None:
    runtime = build_runtime(
        Settings(database_url=database_url, artifact_url=f"file://{tmp_path}"), GateThresholds()
    )
    async with HandlerHarness(runtime) as harness:
        event = _mapped(harness, _frame(400), "an_clean")
        run = await harness.run(event)
        stored = await harness.rows(
            sa.select(GateRecord.name, GateRecord.stage).where(GateRecord.analysis_id == "an_clean")
        )
    (qualified,) = run.emitted
    assert isinstance(qualified, DatasetQualified) and qualified.producer == "quality-gate"
    assert qualified.treatment_levels == 2 and qualified.causation_id == event.event_id
    assert {(r.name, r.stage) for r in stored} == {(g.name, "data") for g in qualified.gates}


async def test_too_few_rows_reject_the_dataset(database_url: str, tmp_path: Path) -> None:
    runtime = build_runtime(
        Settings(database_url=database_url, artifact_url=f"file://{tmp_path}"), GateThresholds()
    )
    async with HandlerHarness(runtime) as harness:
        run = await harness.run(_mapped(harness, _frame(12), "an_small"))
    (rejected,) = run.emitted
    assert isinstance(rejected, DatasetRejected) and rejected.reason


async def test_a_mapping_awaiting_confirmation_says_nothing(database_url: str, tmp_path: Path) -> None:
    runtime = build_runtime(
        Settings(database_url=database_url, artifact_url=f"file://{tmp_path}"), GateThresholds()
    )
    async with HandlerHarness(runtime) as harness:
        run = await harness.run(_mapped(harness, _frame(400), "an_wait", needs_confirmation=True))
        stored = await harness.rows(sa.select(GateRecord.id).where(GateRecord.analysis_id == "an_wait"))
    assert run.outcome == "ok" and run.emitted == [] and stored == []
