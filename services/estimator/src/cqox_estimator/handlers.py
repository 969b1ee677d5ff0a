"""Translate qualified datasets into per-method work, run the work, and close analyses.

A pool's work is two steps (ADR 0021): `estimate_work`/`refute_work` fit outside any database
transaction, then `estimate_handler`/`refute_handler` record the outcome and its event in one
short transaction."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from prometheus_client import Counter
from sqlalchemy.dialects.postgresql import insert as pg_insert

from cqox_contracts.v1 import (
    SEED_RANGE,
    AnalysisEstimated,
    AnalysisFailed,
    Artifact,
    DatasetQualified,
    DatasetRef,
    EstimateCompleted,
    EstimateFailed,
    EstimateRequested,
    EstimateResult,
    MethodFailure,
    Refutation,
    RefutationCompleted,
    RefutationFailed,
    RefutationRequested,
    RoleMapping,
)
from cqox_estimator import serving
from cqox_estimator.db.models import EstimateRecord, Plan, PlanRefutation, PlanResult
from cqox_estimator.domain import SEED_REFIT_BUDGET_S, MethodRun, run
from cqox_estimator.estimators import EstimationError, select_methods
from cqox_estimator.frames import FrameCache
from cqox_estimator.refutation import not_run, refutable, refute
from cqox_shared.artifacts import read_frame
from cqox_shared.bus import Compute, HandlerContext, WorkContext
from cqox_shared.causal.treatment import derive_treatment
from cqox_shared.logging import get_logger

if TYPE_CHECKING:
    from cqox_shared.runtime import ServiceRuntime

log = get_logger("cqox.estimator")
ESTIMATES = Counter("cqox_estimates_total", "Estimates computed by this process", ["method", "outcome"])
REFUTATIONS = Counter("cqox_refutations_total", "Methods refuted by this process", ["method", "outcome"])
FRAME_READS = Counter(
    "cqox_estimator_frame_reads_total",
    "Dataset versions a method needed, by where they came from",
    ["source"],
)


def analysis_seed(analysis_id: str, requested: int | None, content: str | None = None) -> int:
    """The seed of every random step of an analysis: the user's; else derived from the dataset
    version's content digest (`DatasetRef.sha256`), so the same file uploaded again, or analysed
    again with other roles, gives the same draws; else (a reference without a digest: an event
    from an earlier release) from the analysis id."""
    if requested is not None:
        return requested % SEED_RANGE  # the API refuses others; an event from elsewhere wraps
    source = f"content:{content}" if content else analysis_id
    return int(hashlib.sha256(source.encode()).hexdigest()[:8], 16)


@dataclass(frozen=True)
class PlanChoice:
    """The planner's choice for one analysis: methods to estimate, those also refuted, and every
    method left out with why (no fit for the design, or no live pool)."""

    methods: list[str]
    refuted: list[str]
    skipped: dict[str, str]


async def plan_work(event: DatasetQualified, work: WorkContext) -> PlanChoice:
    """Compute step of the planner: choose the methods and read the pool registry (NATS), with no
    database transaction open: a registry read retried on a loaded server takes seconds."""
    chosen, skipped = select_methods(event.roles, event.design, event.spec.methods, event.treatment_levels)
    methods, refuted, unserved = await served_methods(chosen)  # no live pool: fail the method now
    return PlanChoice(methods, refuted, {**skipped, **unserved})


def plan_handler(timeout_s: float) -> Callable[[DatasetQualified, HandlerContext], Awaitable[None]]:
    """Handler recording the plan (`plan_work`'s choice) and requesting one estimate per method
    and one refutation per refuted method, in one short transaction."""

    async def handle(event: DatasetQualified, ctx: HandlerContext) -> None:
        choice: PlanChoice = ctx.computed
        methods, refuted, skipped = choice.methods, choice.refuted, choice.skipped
        if not methods:
            reasons = "; ".join(f"{m}: {r}" for m, r in skipped.items()) or "no registered method fits"
            await ctx.emit(
                AnalysisFailed(
                    **event.caused(),
                    producer=ctx.producer,
                    analysis_id=event.analysis_id,
                    stage="estimator",
                    reason=f"no estimation method fits this design ({event.design}): {reasons}",
                )
            )
            return
        seed = analysis_seed(event.analysis_id, event.spec.seed, event.dataset.sha256)
        values = {
            "analysis_id": event.analysis_id,
            "tenant_id": event.tenant_id,
            "dataset": event.dataset.model_dump(mode="json"),
            "roles": event.roles.model_dump(mode="json"),
            "design": event.design,
            "methods": methods,
            "skipped": skipped,
            "refuted": refuted,
            "seed": seed,
            "ci_level": event.spec.ci_level,
            "correlation_id": event.correlation_id,
            "deadline_at": datetime.now(UTC) + timedelta(seconds=timeout_s),
            "closed_at": None,
        }
        await ctx.session.execute(
            pg_insert(Plan)
            .values(**values)
            .on_conflict_do_update(index_elements=["analysis_id"], set_=values)
        )
        await ctx.session.execute(sa.delete(PlanResult).where(PlanResult.analysis_id == event.analysis_id))
        await ctx.session.execute(
            sa.delete(PlanRefutation).where(PlanRefutation.analysis_id == event.analysis_id)
        )
        work = {
            **event.caused(),
            "producer": ctx.producer,
            "analysis_id": event.analysis_id,
            "dataset": event.dataset,
            "roles": event.roles,
            "design": event.design,
            "ci_level": event.spec.ci_level,
            "seed": seed,
        }
        for method in methods:
            options = dict(event.spec.options.get(method, {}))
            await ctx.emit(EstimateRequested(**work, method=method, options=options))
        for method in refuted:  # after the estimates: a shared pool takes the estimates first
            options = dict(event.spec.options.get(method, {}))
            await ctx.emit(RefutationRequested(**work, method=method, options=options))

    return handle


def refutation_pool(method: str) -> str:
    """The pool-registry name of a method's refuter pool (beside the method's own)."""
    return f"refutation={method}"


async def served_methods(
    chosen: list[str], registry: serving.PoolRegistry = serving.POOLS
) -> tuple[list[str], list[str], dict[str, str]]:
    """(the chosen methods a live pool serves, those of them whose estimates get placebo
    refuters, {unserved method: reason}), from one read of the pool registry. Refuted are the
    methods the registry declares refutable (for any treatment: a multi-arm result is judged on
    every contrast, a dose on its slope) whose refuter pool is live: the refuters are optional
    checks, so an unserved one is left out, never waited for."""
    wanted = [m for m in chosen if refutable(m)]
    served, unserved = await serving.split_served([*chosen, *(refutation_pool(m) for m in wanted)], registry)
    live = set(served)
    methods = [m for m in chosen if m in live]
    refuted = [m for m in wanted if m in live and refutation_pool(m) in live]
    if unrefuted := [m for m in wanted if m in live and refutation_pool(m) not in live]:
        log.info("no live refuter pool; not refuting", methods=sorted(unrefuted))
    return methods, refuted, {m: reason for m, reason in unserved.items() if m in chosen}


@dataclass(frozen=True)
class RefuteOutcome:
    """What a refuter's checks came to, computed outside any transaction."""

    refutations: list[Refutation] | None
    reason: str = ""


def refute_work(frames: FrameCache | None = None) -> Compute:
    """Compute step of one method's refuter pool: its placebo checks, outside any transaction."""
    cache = frames if frames is not None else FrameCache(max_bytes=0)

    async def compute(event: RefutationRequested, work: WorkContext) -> RefuteOutcome:
        uri = event.dataset.parquet_uri
        frame = await asyncio.to_thread(cache.get, uri, lambda u: read_frame(work.store, u))
        frame, roles, _ = derive_treatment(frame, event.roles, event.design)
        try:
            refutations = await asyncio.to_thread(
                refute,
                event.method,
                frame,
                roles,
                ci_level=event.ci_level,
                seed=event.seed,
                options=dict(event.options),
                refuters=list(event.refuters) or None,
            )
        except Exception as exc:  # deterministic: the method fails on the data as given
            reason = str(exc) if isinstance(exc, EstimationError) else f"{type(exc).__name__}: {exc}"
            return RefuteOutcome(None, reason)
        return RefuteOutcome(refutations + not_run(event.method, roles, list(event.refuters) or None))

    return compute


async def refute_handler(event: RefutationRequested, ctx: HandlerContext) -> None:
    """Record step of a refuter pool: report the computed checks as completed or failed."""
    outcome: RefuteOutcome = ctx.computed
    common = {
        **event.caused(),
        "producer": ctx.producer,
        "analysis_id": event.analysis_id,
        "method": event.method,
    }
    if outcome.refutations is None:
        REFUTATIONS.labels(event.method, "failed").inc()
        await ctx.emit(RefutationFailed(**common, reason=outcome.reason))
        return
    REFUTATIONS.labels(event.method, "completed").inc()
    await ctx.emit(RefutationCompleted(**common, refutations=outcome.refutations))


@dataclass(frozen=True)
class EstimateOutcome:
    """What one method's fit came to, computed outside any transaction: a result (its tables
    already in the artifact store) or the reason it failed."""

    result: EstimateResult | None
    reason: str = ""
    error_type: str = ""


def estimate_work(
    frames: FrameCache | None = None, seed_refit_budget_s: float = SEED_REFIT_BUDGET_S
) -> Compute:
    """Compute step of one method pool: read the data, fit, store the per-unit tables.

    It runs with no database transaction open (ADR 0021): a fit may take many minutes. Pools of one
    process share `frames`, so a dataset version is read once, not once per method. A fit that took
    at most `seed_refit_budget_s` is repeated with a second seed when its estimate depends on it.
    """
    cache = frames if frames is not None else FrameCache(max_bytes=0)

    async def compute(event: EstimateRequested, work: WorkContext) -> EstimateOutcome:
        uri = event.dataset.parquet_uri
        frame, cached = await asyncio.to_thread(cache.fetch, uri, lambda u: read_frame(work.store, u))
        FRAME_READS.labels("cache" if cached else "store").inc()
        frame, roles, definition = derive_treatment(frame, event.roles, event.design)
        try:
            method_run = await asyncio.to_thread(
                run,
                event.method,
                frame,
                roles,
                ci_level=event.ci_level,
                seed=event.seed,
                options=dict(event.options),
                seed_refit_budget_s=seed_refit_budget_s,
            )
        except Exception as exc:  # a method's failure is reported, not retried: it is deterministic
            reason = str(exc) if isinstance(exc, EstimationError) else f"{type(exc).__name__}: {exc}"
            error_type = "unsupported_data" if isinstance(exc, EstimationError) else "error"
            log.warning("estimate failed", method=event.method, reason=reason)
            return EstimateOutcome(None, reason, error_type)
        if definition:
            diagnostics = {**method_run.result.diagnostics, "treatment_definition": definition}
            method_run = replace(
                method_run, result=method_run.result.model_copy(update={"diagnostics": diagnostics})
            )
        # Outside the try: a store outage is transient, so it is retried rather than reported.
        result = await asyncio.to_thread(_store_tables, work, event, method_run)
        return EstimateOutcome(result)

    return compute


def estimate_handler(instance_id: str) -> Callable[[EstimateRequested, HandlerContext], Awaitable[None]]:
    """Record step of one method pool: save the computed estimate and report completed or failed,
    in one short transaction (the claim of the event id makes it idempotent)."""

    async def handle(event: EstimateRequested, ctx: HandlerContext) -> None:
        outcome: EstimateOutcome = ctx.computed
        common = {
            **event.caused(),
            "producer": ctx.producer,
            "analysis_id": event.analysis_id,
            "method": event.method,
        }
        record = {
            "analysis_id": event.analysis_id,
            "method": event.method,
            "tenant_id": event.tenant_id,
            "worker": instance_id,
        }
        if outcome.result is None:
            ESTIMATES.labels(event.method, "failed").inc()
            await _save_estimate(
                ctx, {**record, "status": "failed", "result": None, "reason": outcome.reason}
            )
            await ctx.emit(EstimateFailed(**common, reason=outcome.reason, error_type=outcome.error_type))
            return
        result = outcome.result
        ESTIMATES.labels(event.method, "completed").inc()
        await _save_estimate(
            ctx,
            {
                **record,
                "status": "completed",
                "result": result.model_dump(mode="json"),
                "reason": "",
                "runtime_s": result.runtime_s,
            },
        )
        await ctx.emit(EstimateCompleted(**common, result=result))

    return handle


def _store_tables(work: WorkContext, event: EstimateRequested, method_run: MethodRun) -> EstimateResult:
    """Write the run's per-unit tables to the artifact store and reference them in the result."""
    artifacts = [
        Artifact(
            name=name.rsplit(".", 1)[0],
            uri=work.store.put_bytes(
                f"{event.tenant_id}/analyses/{event.analysis_id}/{name}", data, media_type
            ),
            media_type=media_type,
        )
        for name, data, media_type in method_run.files()
    ]
    if not artifacts:
        return method_run.result
    return method_run.result.model_copy(update={"artifacts": artifacts})


async def _save_estimate(ctx: HandlerContext, values: dict[str, object]) -> None:
    await ctx.session.execute(
        pg_insert(EstimateRecord)
        .values(**values)
        .on_conflict_do_update(index_elements=["analysis_id", "method"], set_=values)
    )


async def aggregate_handler(event: EstimateCompleted | EstimateFailed, ctx: HandlerContext) -> None:
    """Record one method's report; close the analysis when every planned method has reported."""
    plan = await ctx.session.get(Plan, event.analysis_id, with_for_update=True)
    if plan is None:
        raise RuntimeError(f"no plan yet for analysis {event.analysis_id}")  # retried: plan may lag
    if plan.closed_at is not None:
        return
    values = {"analysis_id": event.analysis_id, "method": event.method}
    if isinstance(event, EstimateCompleted):
        values |= {
            "status": "completed",
            "result": event.result.model_dump(mode="json"),
            "reason": "",
            "error_type": "",
        }
    else:
        values |= {"status": "failed", "result": None, "reason": event.reason, "error_type": event.error_type}
    await ctx.session.execute(
        pg_insert(PlanResult)
        .values(**values)
        .on_conflict_do_update(index_elements=["analysis_id", "method"], set_=values)
    )
    await _close_when_complete(ctx, plan)


async def refutation_aggregate_handler(
    event: RefutationCompleted | RefutationFailed, ctx: HandlerContext
) -> None:
    """Record one method's refutations; close the analysis when everything planned has reported."""
    plan = await ctx.session.get(Plan, event.analysis_id, with_for_update=True)
    if plan is None:
        raise RuntimeError(f"no plan yet for analysis {event.analysis_id}")  # retried: plan may lag
    if plan.closed_at is not None:
        return
    values: dict[str, object] = {"analysis_id": event.analysis_id, "method": event.method}
    if isinstance(event, RefutationCompleted):
        values |= {
            "status": "completed",
            "refutations": [r.model_dump(mode="json") for r in event.refutations],
            "reason": "",
        }
    else:
        values |= {"status": "failed", "refutations": [], "reason": event.reason}
    await ctx.session.execute(
        pg_insert(PlanRefutation)
        .values(**values)
        .on_conflict_do_update(index_elements=["analysis_id", "method"], set_=values)
    )
    await _close_when_complete(ctx, plan)


async def _close_when_complete(ctx: HandlerContext, plan: Plan) -> None:
    """Close the plan once every planned estimate and every planned refutation has reported."""
    reported = set(
        (
            await ctx.session.scalars(
                sa.select(PlanResult.method).where(PlanResult.analysis_id == plan.analysis_id)
            )
        ).all()
    )
    refuted = set(
        (
            await ctx.session.scalars(
                sa.select(PlanRefutation.method).where(PlanRefutation.analysis_id == plan.analysis_id)
            )
        ).all()
    )
    if set(plan.methods) <= reported and set(plan.refuted or []) <= refuted:
        await close_plan(ctx, plan, timed_out=[])


async def close_plan(ctx: HandlerContext, plan: Plan, *, timed_out: list[str]) -> None:
    """Mark the plan closed and emit analysis.estimated with every result gathered."""
    results = {
        r.method: r
        for r in (
            await ctx.session.scalars(sa.select(PlanResult).where(PlanResult.analysis_id == plan.analysis_id))
        )
    }
    estimates: list[EstimateResult] = []
    failures = [
        MethodFailure(method=m, reason=reason, error_type="not_applicable")
        for m, reason in plan.skipped.items()
    ]
    for method in plan.methods:
        row = results.get(method)
        if row is None:
            continue
        if row.status == "completed" and row.result is not None:
            estimates.append(EstimateResult.model_validate(row.result))
        else:
            failures.append(
                MethodFailure(method=method, reason=row.reason, error_type=row.error_type or "error")
            )
    failures += [MethodFailure(method=m, reason="timed out", error_type="timeout") for m in timed_out]
    refutations = [
        Refutation.model_validate(item)
        for row in (
            await ctx.session.scalars(
                sa.select(PlanRefutation)
                .where(PlanRefutation.analysis_id == plan.analysis_id)
                .order_by(PlanRefutation.method)
            )
        )
        for item in row.refutations
    ]
    plan.closed_at = datetime.now(UTC)
    await ctx.emit(
        AnalysisEstimated(
            correlation_id=plan.correlation_id,
            tenant_id=plan.tenant_id,
            producer=ctx.producer,
            analysis_id=plan.analysis_id,
            dataset=DatasetRef.model_validate(plan.dataset),
            roles=RoleMapping.model_validate(plan.roles),
            design=plan.design,
            planned_methods=list(plan.methods),
            estimates=estimates,
            failures=failures,
            timed_out=timed_out,
            seed=plan.seed,
            refutations=refutations,
        )
    )


def timeout_sweeper(interval_s: float) -> Callable[[ServiceRuntime], Awaitable[None]]:
    """Background task closing plans whose deadline passed with methods still missing."""

    async def sweep(runtime: ServiceRuntime) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                async with runtime.transaction() as ctx:
                    overdue = (
                        await ctx.session.scalars(
                            sa.select(Plan)
                            .where(Plan.closed_at.is_(None), Plan.deadline_at < sa.func.now())
                            .with_for_update(skip_locked=True)
                            .limit(50)
                        )
                    ).all()
                    for plan in overdue:
                        reported = set(
                            (
                                await ctx.session.scalars(
                                    sa.select(PlanResult.method).where(
                                        PlanResult.analysis_id == plan.analysis_id
                                    )
                                )
                            ).all()
                        )
                        missing = [m for m in plan.methods if m not in reported]
                        log.warning("analysis timed out", analysis_id=plan.analysis_id, missing=missing)
                        await close_plan(ctx, plan, timed_out=missing)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("timeout sweep failed", error=repr(exc))

    return sweep
