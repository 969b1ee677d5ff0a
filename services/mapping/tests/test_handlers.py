"""The mapping handlers: which remembered roles still apply to a new version of a dataset, and the
handlers themselves on one event at a time against the mapping schema (the handler harness)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from cqox_contracts.v1 import (
    AnalysisFailed,
    AnalysisRequested,
    AnalysisSpec,
    DatasetConfirmed,
    DatasetIngested,
    DatasetMapped,
)
from cqox_mapping.app import MappingSettings, build_runtime
from cqox_mapping.db.models import DatasetOverride, RoleMappingRecord
from cqox_mapping.handlers import _applicable
from cqox_shared.harness import HandlerHarness, scratch_database


def test_remembered_roles_apply_only_where_their_columns_exist() -> None:
    stored = {"treatment": "b", "outcome": "c", "covariates": ["d", "gone"], "cutoff": "0.5"}
    kept = _applicable(stored, {"a", "b", "c", "d"})
    assert kept == {"treatment": "b", "outcome": "c", "cutoff": "0.5"}
    assert _applicable({}, {"a"}) == {}


def _customers(seed: int, n: int = 400) -> pd.DataFrame:
    """Customers, a coupon, next-quarter spend and two covariates, plus a column a person must pick."""
    rng = np.random.default_rng(seed)
    past = rng.gamma(2.0, 50.0, n)
    coupon = (rng.random(n) < 0.4).astype(int)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:04d}" for i in range(n)],
            "age": rng.integers(18, 80, n),
            "past_spend": past,
            "received_coupon": coupon,
            "spend_next_90d": 0.5 * past + 2.0 * coupon + rng.normal(0, 5, n),
            "score": rng.normal(0, 1, n),
        }
    )


@pytest.fixture(scope="module")
def database_url(infra) -> str:  # type: ignore[no-untyped-def]
    return scratch_database(infra.database_url, "mapping")


@pytest.mark.integration
async def test_confirmed_roles_are_remembered_for_the_next_version(database_url: str, tmp_path: Path) -> None:
    settings = MappingSettings(database_url=database_url, artifact_url=f"file://{tmp_path}")
    async with HandlerHarness(build_runtime(settings)) as harness:
        first = harness.store_frame(_customers(1), dataset_id="ds_remember", version=1)
        confirmed = await harness.run(
            DatasetConfirmed(
                correlation_id="an_1", producer="ingest", dataset=first, analysis_id="an_1",
                roles={"outcome": "score", "treatment": "received_coupon"},
            )
        )  # fmt: skip
        (mapped,) = confirmed.emitted
        assert isinstance(mapped, DatasetMapped) and mapped.confirmed
        assert (mapped.roles.outcome, mapped.roles.treatment) == ("score", "received_coupon")
        (stored,) = await harness.rows(sa.select(DatasetOverride.roles))
        assert stored.roles == {"outcome": "score", "treatment": "received_coupon"}

        second = harness.store_frame(_customers(2), dataset_id="ds_remember", version=2)
        later = await harness.run(
            DatasetIngested(
                correlation_id="an_2",
                producer="ingest",
                dataset=second,
                raw_uri="file:///raw",
                analysis_id="an_2",
            )
        )
        (remapped,) = later.emitted
        assert isinstance(remapped, DatasetMapped) and remapped.confirmed and not remapped.needs_confirmation
        assert remapped.roles.outcome == "score" and remapped.causation_id is not None
        records = await harness.rows(
            sa.select(RoleMappingRecord.analysis_id).order_by(RoleMappingRecord.analysis_id)
        )
        assert [r.analysis_id for r in records] == ["an_1", "an_2"]


@pytest.mark.integration
async def test_an_override_naming_no_column_fails_the_analysis(database_url: str, tmp_path: Path) -> None:
    settings = MappingSettings(database_url=database_url, artifact_url=f"file://{tmp_path}")
    async with HandlerHarness(build_runtime(settings)) as harness:
        dataset = harness.store_frame(_customers(3), dataset_id="ds_bad")
        run = await harness.run(
            AnalysisRequested(
                correlation_id="an_bad", producer="ingest", dataset=dataset, analysis_id="an_bad",
                spec=AnalysisSpec(roles={"treatment": "no_such_column"}),
            )
        )  # fmt: skip
    (failed,) = run.emitted
    assert isinstance(failed, AnalysisFailed) and failed.stage == "mapping"
    assert "no_such_column" in failed.reason
