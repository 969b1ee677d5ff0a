"""Translate mapped datasets and estimated analyses into gate verdicts.

Each flow is a compute step (read the dataset, run the gates: no transaction open) and a handler
that records the gates and the event in one short transaction claiming the event id (ADR 0022).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from cqox_contracts.v1 import (
    AnalysisAssessed,
    AnalysisEstimated,
    DatasetMapped,
    DatasetQualified,
    DatasetRejected,
    GateResult,
    Headline,
    SensitivityPanel,
)
from cqox_quality_gate.db.models import AnalysisSettings, GateRecord
from cqox_quality_gate.domain import (
    GateThresholds,
    assess_robustness,
    causal_gates,
    choose_headline,
    data_gates,
    decide_verdict,
    disagreement_gates,
    rejection_reason,
)
from cqox_quality_gate.gates.refutation import refutation_gates
from cqox_shared.artifacts import read_frame
from cqox_shared.bus import Compute, HandlerContext, WorkContext
from cqox_shared.causal.treatment import derive_treatment


async def _record(
    ctx: HandlerContext, gates: list[GateResult], *, analysis_id: str, tenant_id: str, stage: str
) -> None:
    """Persist gate results; a re-run of the same stage replaces them."""
    for gate in gates:
        row = GateRecord.from_gate(gate, analysis_id=analysis_id, tenant_id=tenant_id, stage=stage)
        values = {
            c.name: getattr(row, c.name)
            for c in GateRecord.__table__.columns
            if c.name not in ("id", "created_at")
        }
        await ctx.session.execute(
            pg_insert(GateRecord)
            .values(**values)
            .on_conflict_do_update(index_elements=["analysis_id", "stage", "name"], set_=values)
        )


def treatment_levels(gates: list[GateResult]) -> int | None:
    """How many levels the treatment has, as the treatment_arms gate counted them."""
    for gate in gates:
        levels = gate.details.get("n_levels") if gate.name == "treatment_arms" else None
        if isinstance(levels, int | float):
            return int(levels)
    return None


async def _remember_settings(ctx: HandlerContext, event: DatasetMapped) -> None:
    """Keep what the spec asks of the causal gates until the analysis is estimated."""
    values = {
        "analysis_id": event.analysis_id,
        "tenant_id": event.tenant_id,
        "thresholds": dict(event.spec.thresholds),
        "sensitivity": list(event.spec.sensitivity),
    }
    await ctx.session.execute(
        pg_insert(AnalysisSettings)
        .values(**values)
        .on_conflict_do_update(index_elements=["analysis_id"], set_=values)
    )


def analysis_thresholds(
    deployment: GateThresholds, overrides: dict[str, float]
) -> tuple[GateThresholds, GateResult | None]:
    """The deployment's thresholds with the analysis's overrides, or them and a gate saying why not."""
    if not overrides:
        return deployment, None
    try:
        chosen = deployment.overridden(overrides)
    except ValueError as exc:
        return deployment, GateResult(
            name="analysis_thresholds",
            category="causal",
            passed=False,
            severity="info",
            message=(
                "The analysis's thresholds were not used (the deployment's apply): "
                f"{' '.join(str(exc).split())}"
            ),
        )
    named = ", ".join(f"{k}={v:g}" for k, v in sorted(overrides.items()))
    return chosen, GateResult(
        name="analysis_thresholds",
        category="causal",
        passed=True,
        severity="info",
        message=f"This analysis sets its own thresholds: {named}.",
    )


def _definition_gate(note: str) -> GateResult:
    """An informational gate saying how a treatment the design defines was derived."""
    return GateResult(
        name="treatment_definition", category="data", passed=True, severity="info", message=note
    )


def data_gates_work(thresholds: GateThresholds) -> Compute:
    """Compute step of `data_gates_handler`: read the dataset and run the pre-estimation gates with
    no transaction open (None while the mapping waits for a confirmation)."""

    async def work(event: DatasetMapped, context: WorkContext) -> list[GateResult] | None:
        if event.needs_confirmation:
            return None
        frame = await asyncio.to_thread(read_frame, context.store, event.dataset.parquet_uri)
        frame, roles, note = derive_treatment(frame, event.roles, event.design)
        gates = await asyncio.to_thread(data_gates, frame, roles, thresholds, event.design)
        return [_definition_gate(note), *gates] if note else gates

    return work


def data_gates_handler(
    thresholds: GateThresholds,
) -> Callable[[DatasetMapped, HandlerContext], Awaitable[None]]:
    """Handler recording the pre-estimation gates (`data_gates_work`) and qualifying or rejecting
    the dataset, in one short transaction."""

    async def handle(event: DatasetMapped, ctx: HandlerContext) -> None:
        if event.needs_confirmation:
            return  # the analysis waits for the user to confirm the mapping
        gates = ctx.computed
        if not isinstance(gates, list):
            raise TypeError(f"{ctx.flow}: the subscription has no data-gates compute step")
        await _remember_settings(ctx, event)
        await _record(ctx, gates, analysis_id=event.analysis_id, tenant_id=event.tenant_id, stage="data")
        reason = rejection_reason(gates)
        common = {
            **event.caused(),
            "producer": ctx.producer,
            "dataset": event.dataset,
            "analysis_id": event.analysis_id,
        }
        if reason:
            await ctx.emit(DatasetRejected(**common, reason=reason, gates=gates))
        else:
            await ctx.emit(
                DatasetQualified(
                    **common,
                    spec=event.spec,
                    roles=event.roles,
                    design=event.design,
                    gates=gates,
                    treatment_levels=treatment_levels(gates),
                )
            )

    return handle


@dataclass(frozen=True)
class CausalAssessment:
    """What the post-estimation compute step found: the gates, the headline, the panels."""

    gates: list[GateResult]
    headline: Headline | None
    panels: list[SensitivityPanel]


def causal_gates_work(thresholds: GateThresholds) -> Compute:
    """Compute step of `causal_gates_handler`: a short read of the analysis's own thresholds and
    requested panels, then the causal, robustness and refutation gates with no transaction open."""

    async def work(event: AnalysisEstimated, context: WorkContext) -> CausalAssessment:
        async with context.sessions() as session:
            settings = await session.get(AnalysisSettings, event.analysis_id)
            overrides = dict(settings.thresholds) if settings else {}
            requested = list(settings.sensitivity) if settings else []
        chosen, override_gate = analysis_thresholds(thresholds, overrides)
        frame = await asyncio.to_thread(read_frame, context.store, event.dataset.parquet_uri)
        frame, roles, _ = derive_treatment(frame, event.roles, event.design)
        gates = await asyncio.to_thread(causal_gates, frame, roles, event.estimates, chosen, event.design)
        gates = [*gates, *disagreement_gates(event.estimates, chosen)]
        headline = choose_headline(event.design, event.estimates, gates)
        robustness = await asyncio.to_thread(
            assess_robustness, frame, roles, event.estimates, headline, chosen, event.design, requested
        )
        refuted = refutation_gates(event.refutations, chosen)  # after the headline: optional checks
        gates = [*gates, *robustness.gates, *refuted, *([override_gate] if override_gate else [])]
        return CausalAssessment(gates, headline, list(robustness.panels))

    return work


def causal_gates_handler(
    thresholds: GateThresholds,
) -> Callable[[AnalysisEstimated, HandlerContext], Awaitable[None]]:
    """Handler recording the post-estimation gates (`causal_gates_work`) and emitting
    analysis.assessed, in one short transaction."""

    async def handle(event: AnalysisEstimated, ctx: HandlerContext) -> None:
        assessed = ctx.computed
        if not isinstance(assessed, CausalAssessment):
            raise TypeError(f"{ctx.flow}: the subscription has no causal-gates compute step")
        gates = assessed.gates
        await _record(ctx, gates, analysis_id=event.analysis_id, tenant_id=event.tenant_id, stage="causal")
        earlier = (
            await ctx.session.scalars(
                sa.select(GateRecord)
                .where(GateRecord.analysis_id == event.analysis_id, GateRecord.stage == "data")
                .order_by(GateRecord.id)
            )
        ).all()
        await ctx.emit(
            AnalysisAssessed(
                **event.caused(),
                producer=ctx.producer,
                analysis_id=event.analysis_id,
                dataset=event.dataset,
                roles=event.roles,
                design=event.design,
                estimates=event.estimates,
                failures=event.failures,
                gates=[row.to_gate() for row in earlier] + gates,
                headline=assessed.headline,
                sensitivity=assessed.panels,
                refutations=event.refutations,
                seed=event.seed,
                verdict=decide_verdict(
                    event.design,
                    assessed.headline,
                    [row.to_gate() for row in earlier] + gates,
                    assessed.panels,
                ),
            )
        )

    return handle
