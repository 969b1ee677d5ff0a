"""The quality-gate handlers on one event at a time against the `quality` schema (handler harness)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from cqox_contracts.v1 import (
    AnalysisAssessed,
    AnalysisEstimated,
    AnalysisSpec,
    DatasetMapped,
    DatasetQualified,
    DatasetRejected,
    EstimateResult,
    Refutation,
    RoleMapping,
)
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


def _estimate(method: str, estimand: str, adjustment: str, estimate: float = 2.0) -> EstimateResult:
    return EstimateResult(
        method=method, estimand=estimand, estimate=estimate, std_error=0.1, ci_lower=estimate - 0.2,
        ci_upper=estimate + 0.2, p_value=0.0, n=400, inference="x", adjustment=adjustment,
        relies_on_overlap=adjustment != "outcome",
    )  # fmt: skip


async def test_assessment_carries_sensitivity_and_verdict(database_url: str, tmp_path: Path) -> None:
    runtime = build_runtime(
        Settings(database_url=database_url, artifact_url=f"file://{tmp_path}"), GateThresholds()
    )
    spec = AnalysisSpec(sensitivity=["psm"], thresholds={"min_e_value": 50.0})
    async with HandlerHarness(runtime) as harness:
        mapped = _mapped(harness, _frame(400), "an_sens").model_copy(update={"spec": spec})
        await harness.run(mapped)
        estimated = AnalysisEstimated(
            correlation_id="an_sens", producer="estimator", analysis_id="an_sens", dataset=mapped.dataset,
            roles=ROLES, design="observational", planned_methods=["ols", "psm"],
            estimates=[_estimate("ols", "ATE", "outcome"), _estimate("psm", "ATT", "propensity")],
        )  # fmt: skip
        run = await harness.run(estimated)
    (assessed,) = run.emitted
    assert isinstance(assessed, AnalysisAssessed)
    assert [(p.method, p.headline) for p in assessed.sensitivity] == [("ols", True), ("psm", False)]
    headline_panel, matched_panel = assessed.sensitivity
    assert headline_panel.e_value is not None and headline_panel.omitted_variable_bias is not None
    assert matched_panel.rosenbaum is not None
    gates = {g.name: g for g in assessed.gates}
    # The analysis's own threshold (an E-value of 50) is used and said.
    assert gates["e_value"].threshold == 50.0 and not gates["e_value"].passed
    assert gates["analysis_thresholds"].passed
    assert {"effective_sample_size", "weak_overlap_share"} <= set(gates)
    assert assessed.verdict is not None and assessed.verdict.level == "CAUTION"
    assert any("e_value" in reason for reason in assessed.verdict.failed)
    assert assessed.verdict.untestable and assessed.verdict.robustness


async def test_refutations_become_gates_naming_the_refuted_method(database_url: str, tmp_path: Path) -> None:
    runtime = build_runtime(
        Settings(database_url=database_url, artifact_url=f"file://{tmp_path}"), GateThresholds()
    )
    refutations = [
        Refutation(
            method="ols", refuter="placebo_treatment", expectation="zero", estimate=2.0, std_error=0.1,
            refuted_estimate=0.01, refuted_std_error=0.1, p_value=0.92, seed=3,
        ),
        Refutation(
            method="ols", refuter="placebo_outcome", expectation="zero", estimate=2.0, std_error=0.1,
            refuted_estimate=0.7, refuted_std_error=0.1, p_value=1e-9, change="outcome replaced by spend",
        ),
    ]  # fmt: skip
    async with HandlerHarness(runtime) as harness:
        mapped = _mapped(harness, _frame(400), "an_refute")
        await harness.run(mapped)
        estimated = AnalysisEstimated(
            correlation_id="an_refute", producer="estimator", analysis_id="an_refute", dataset=mapped.dataset,
            roles=ROLES, design="observational", planned_methods=["ols"],
            estimates=[_estimate("ols", "ATE", "outcome")], refutations=refutations, seed=2851372334,
        )  # fmt: skip
        run = await harness.run(estimated)
        recorded = await harness.rows(
            sa.select(GateRecord.name, GateRecord.passed).where(GateRecord.analysis_id == "an_refute")
        )
    (assessed,) = run.emitted
    assert isinstance(assessed, AnalysisAssessed) and assessed.refutations == refutations
    assert assessed.seed == 2851372334  # passed on for the report
    gates = {g.name: g for g in assessed.gates}
    assert gates["placebo_treatment[ols]"].passed and gates["placebo_treatment[ols]"].applies_to == ["ols"]
    failed = gates["placebo_outcome[ols]"]
    assert not failed.passed and failed.severity == "warning" and failed.threshold == 0.05
    assert assessed.headline is not None and assessed.headline.method == "ols"  # not taken off the headline
    assert ("placebo_outcome[ols]", False) in {(r.name, r.passed) for r in recorded}
