"""The estimator's roles on one event at a time against the `estimator` schema (handler harness):
the planner requests one estimate and one refutation per method, each pool answers, the aggregator
closes the analysis when both are in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from cqox_contracts.v1 import (
    AnalysisEstimated,
    AnalysisFailed,
    AnalysisSpec,
    DatasetQualified,
    EstimateCompleted,
    EstimateRequested,
    RefutationCompleted,
    RefutationRequested,
    RoleMapping,
)
from cqox_estimator.app import EstimatorSettings, build_runtime
from cqox_estimator.db.models import Plan
from cqox_estimator.handlers import analysis_seed
from cqox_shared.harness import HandlerHarness, scratch_database

pytestmark = pytest.mark.integration

METHODS = ["diff_in_means", "ols"]
ROLES = RoleMapping(treatment="treated", outcome="revenue", unit="user_id", covariates=["spend"])


def _frame(n: int = 600, seed: int = 3) -> pd.DataFrame:
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
    return scratch_database(infra.database_url, "estimator")


def _harness(database_url: str, tmp_path: Path) -> HandlerHarness:
    settings = EstimatorSettings(database_url=database_url, artifact_url=f"file://{tmp_path}")
    return HandlerHarness(build_runtime(methods=METHODS, settings=settings))


async def test_planner_pools_and_aggregator_close_an_analysis(database_url: str, tmp_path: Path) -> None:
    async with _harness(database_url, tmp_path) as harness:
        qualified = DatasetQualified(
            correlation_id="an_est", producer="quality-gate", dataset=harness.store_frame(_frame()),
            analysis_id="an_est", spec=AnalysisSpec(methods=METHODS, seed=7), roles=ROLES,
            design="observational", gates=[], treatment_levels=2,
        )  # fmt: skip
        planned = await harness.run(qualified)
        assert sorted(e.method for e in planned.emitted if isinstance(e, EstimateRequested)) == METHODS
        refute = [e for e in planned.emitted if isinstance(e, RefutationRequested)]
        assert sorted(e.method for e in refute) == METHODS  # both are light average-effect methods
        assert len(planned.emitted) == 2 * len(METHODS)
        (plan,) = await harness.rows(
            sa.select(Plan.methods, Plan.refuted, Plan.seed, Plan.closed_at).where(
                Plan.analysis_id == "an_est"
            )
        )
        assert sorted(plan.methods) == METHODS and plan.seed == 7 and plan.closed_at is None
        assert sorted(plan.refuted) == METHODS

        said = []
        for request in planned.emitted:
            (completed,) = (await harness.run(request)).emitted  # the pool of that method
            if isinstance(request, EstimateRequested):
                assert isinstance(completed, EstimateCompleted) and completed.method == request.method
                assert abs(completed.result.estimate - 2.0) < 0.3
            else:
                assert isinstance(completed, RefutationCompleted) and completed.method == request.method
                placebo = next(r for r in completed.refutations if r.refuter == "placebo_treatment")
                assert placebo.seed == 7 and abs(placebo.refuted_estimate or 9) < 0.3
            said += (await harness.run(completed)).emitted  # the aggregator
        (estimated,) = said  # only the last report closes the analysis
        assert isinstance(estimated, AnalysisEstimated) and estimated.producer == "estimator"
        assert sorted(e.method for e in estimated.estimates) == METHODS and estimated.seed == 7
        assert {r.method for r in estimated.refutations} == set(METHODS)
        assert {r.refuter for r in estimated.refutations} >= {"placebo_treatment", "data_subset"}
        skipped = {(r.method, r.refuter) for r in estimated.refutations if r.not_applicable}
        assert skipped == {(m, name) for m in METHODS for name in ("placebo_adoption", "placebo_outcome")} | {
            ("diff_in_means", "random_common_cause")  # it ignores covariates: an added one cannot move it
        }
        (plan,) = await harness.rows(sa.select(Plan.closed_at).where(Plan.analysis_id == "an_est"))
        assert plan.closed_at is not None


async def test_a_design_no_method_serves_fails_the_analysis(database_url: str, tmp_path: Path) -> None:
    async with _harness(database_url, tmp_path) as harness:
        run = await harness.run(
            DatasetQualified(
                correlation_id="an_none", producer="quality-gate", dataset=harness.store_frame(_frame()),
                analysis_id="an_none", spec=AnalysisSpec(), roles=RoleMapping(outcome="revenue"),
                design="observational", gates=[],
            )
        )  # fmt: skip
    (failed,) = run.emitted
    assert isinstance(failed, AnalysisFailed) and failed.stage == "estimator"


async def test_the_default_seed_follows_the_data_not_the_analysis(database_url: str, tmp_path: Path) -> None:
    """Same data, same draws: two analyses of one content get one seed; a `seed` in the spec wins;
    other content, or a version stored without a digest, gets its own."""
    async with _harness(database_url, tmp_path) as harness:
        data = harness.store_frame(_frame())
        other = harness.store_frame(_frame(seed=4), dataset_id="ds_other")
        cases = {
            "an_seed_a": (data, None),
            "an_seed_b": (data, None),
            "an_seed_given": (data, 99),
            "an_seed_other": (other, None),
            "an_seed_undigested": (data.model_copy(update={"sha256": None}), None),
        }
        seeds = {}
        for analysis_id, (dataset, seed) in cases.items():
            run = await harness.run(
                DatasetQualified(
                    correlation_id=analysis_id, producer="quality-gate", dataset=dataset,
                    analysis_id=analysis_id, spec=AnalysisSpec(methods=METHODS, seed=seed), roles=ROLES,
                    design="observational", gates=[], treatment_levels=2,
                )
            )  # fmt: skip
            (seeds[analysis_id],) = {e.seed for e in run.emitted}  # every request of the analysis
        assert seeds["an_seed_a"] == seeds["an_seed_b"]
        assert seeds["an_seed_given"] == 99
        assert len({seeds["an_seed_a"], seeds["an_seed_other"], seeds["an_seed_undigested"], 99}) == 4
        assert seeds["an_seed_undigested"] == analysis_seed("an_seed_undigested", None)


def test_a_seed_from_outside_the_api_is_wrapped_into_range() -> None:
    """The API refuses seeds outside 0 .. 2**32 - 1; an event published another way still gets one
    every library accepts."""
    assert analysis_seed("an", 2**32 + 5) == 5 and analysis_seed("an", -1) == 2**32 - 1
    assert 0 <= analysis_seed("an", None, "ab" * 32) < 2**32
