"""Estimator wiring. One process serves any of four roles:

- planner: hears dataset.qualified, says estimate.requested.<method> per chosen method and
  refutation.requested.<method> per chosen method the registry declares refutable;
- worker: one durable pull consumer per method it serves (`--methods`), says
  estimate.completed.<method> | estimate.failed.<method>; requests are served round-robin by
  tenant within a held window (ADR 0028), so one tenant's burst does not starve another's;
- refuter: one durable pull consumer per refutable method it serves, runs the placebo checks
  (light jobs apart from the estimates), says refutation.completed.<method> | .failed.<method>;
- aggregator: hears estimates and refutations, says analysis.estimated when all are in or time is up.

Run N replicas of a heavy method's pool by starting N processes with `--roles worker --methods m`;
`--cost heavy` (or `light`) serves every method the registry puts in that cost class.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from pydantic import Field
from threadpoolctl import threadpool_limits

from cqox_contracts.v1 import (
    AnalysisEstimated,
    AnalysisFailed,
    DatasetQualified,
    EstimateCompleted,
    EstimateFailed,
    EstimateRequested,
    Event,
    RefutationCompleted,
    RefutationFailed,
    RefutationRequested,
)
from cqox_estimator import handlers, serving
from cqox_estimator.db import MIGRATIONS
from cqox_estimator.db.models import metadata
from cqox_estimator.domain import SEED_REFIT_BUDGET_S
from cqox_estimator.estimators import REGISTRY, methods_by_cost
from cqox_estimator.frames import FrameCache
from cqox_estimator.refutation import refutable
from cqox_shared.bus import Subscription
from cqox_shared.cli import service_parser
from cqox_shared.logging import get_logger
from cqox_shared.runtime import ServiceRuntime, run_worker
from cqox_shared.settings import Settings

log = get_logger("cqox.estimator")

SERVICE = "estimator"
ROLES = ("planner", "aggregator", "worker", "refuter")


class EstimatorSettings(Settings):
    """Estimator settings (CQOX_ prefix)."""

    estimator_timeout_s: float = 900.0
    estimator_sweep_interval_s: float = 5.0
    # BLAS/OpenMP threads per process. One: pools scale by processes, and several threaded BLAS
    # pools on a busy node spin against each other (OLS on 10k rows: 1.1 s instead of 0.03 s).
    estimator_blas_threads: int = 1
    # Dataset versions kept in memory per process, shared by its worker and refuter pools (0 turns
    # the cache off); a version no pool has read for `estimator_frame_cache_idle_s` is dropped.
    estimator_frame_cache_mb: int = 512
    estimator_frame_cache_idle_s: float = Field(600.0, gt=0)
    # Requests each worker pool holds and serves round-robin by tenant (ADR 0028): a tenant's burst
    # delays another tenant's request by at most one of its own. 1 turns it off (plain FIFO).
    estimator_fair_window: int = 16
    # A seed-dependent method whose fit took at most this many seconds is fitted again with one or
    # two more seeds (unstable_across_seeds); a slower one gives its cheaper partial refit, if any.
    estimator_seed_refit_budget_s: float = SEED_REFIT_BUDGET_S


def warm_up(methods: Sequence[str]) -> Callable[[ServiceRuntime], Awaitable[None]]:
    """Background task importing the served methods' lazy dependencies once, off the event loop,
    so the first request does not wait for them; a failure is logged and left to that request."""

    async def run(_runtime: ServiceRuntime) -> None:
        for method in methods:
            try:
                await asyncio.to_thread(REGISTRY[method].estimator.warm_up)
            except Exception as exc:  # the method's own fits will report it as a failed estimate
                log.warning("warm-up failed", method=method, error=repr(exc))

    return run


def frame_janitor(frames: FrameCache, every_s: float) -> Callable[[ServiceRuntime], Awaitable[None]]:
    """Background task dropping idle frames every `every_s`, so a process that goes quiet lets
    its last analyses' data go too (a `get` drops them as well, but a quiet process gets none)."""

    async def run(_runtime: ServiceRuntime) -> None:
        while True:
            await asyncio.sleep(every_s)
            frames.expire()

    return run


def build_runtime(
    roles: Sequence[str] = ROLES,
    methods: Sequence[str] | None = None,
    settings: EstimatorSettings | None = None,
) -> ServiceRuntime:
    """The estimator runtime for the given roles and method pools."""
    settings = settings or EstimatorSettings()
    unknown = [m for m in methods or () if m not in REGISTRY]
    if unknown:
        raise SystemExit(f"unknown methods {unknown}; known: {sorted(REGISTRY)}")
    subscriptions: list[Subscription] = []
    publishes: dict[str, tuple[type[Event], ...]] = {}
    background = []
    idle_s = settings.estimator_frame_cache_idle_s
    frames = FrameCache(max_bytes=settings.estimator_frame_cache_mb * 2**20, idle_s=idle_s)
    if "worker" in roles or "refuter" in roles:
        background.append(frame_janitor(frames, min(60.0, idle_s / 2)))
    if "planner" in roles:
        background.append(serving.watch_pools())
        subscriptions.append(
            Subscription(
                DatasetQualified,
                handlers.plan_handler(settings.estimator_timeout_s),
                publishes=(EstimateRequested, RefutationRequested, AnalysisFailed),
                formerly="estimator-planner",
                compute=handlers.plan_work,  # the pool-registry read: outside any transaction
            )
        )
    if "worker" in roles:
        served = list(methods) if methods is not None else sorted(REGISTRY)
        background.append(warm_up(served))
        background.append(serving.heartbeat(served))
        for method in served:
            subscriptions.append(
                Subscription(
                    EstimateRequested,
                    handlers.estimate_handler(settings.instance_id),
                    publishes=(EstimateCompleted, EstimateFailed),
                    method=method,
                    formerly=f"estimator-method-{method}",
                    # the fit: outside any transaction
                    compute=handlers.estimate_work(frames, settings.estimator_seed_refit_budget_s),
                    fair_window=settings.estimator_fair_window,
                )
            )
    if "refuter" in roles:
        refuted = [m for m in (methods if methods is not None else sorted(REGISTRY)) if refutable(m)]
        background.append(serving.heartbeat([handlers.refutation_pool(m) for m in refuted]))
        for method in refuted:
            subscriptions.append(
                Subscription(
                    RefutationRequested,
                    handlers.refute_handler,
                    publishes=(RefutationCompleted, RefutationFailed),
                    method=method,
                    compute=handlers.refute_work(frames),
                    fair_window=settings.estimator_fair_window,
                )
            )
    if "aggregator" in roles:
        for event_class, name in ((EstimateCompleted, "completed"), (EstimateFailed, "failed")):
            subscriptions.append(
                Subscription(
                    event_class,
                    handlers.aggregate_handler,
                    publishes=(AnalysisEstimated,),
                    method="*",
                    formerly=f"estimator-aggregator-{name}",
                )
            )
        for refutation_class in (RefutationCompleted, RefutationFailed):
            subscriptions.append(
                Subscription(
                    refutation_class,
                    handlers.refutation_aggregate_handler,
                    publishes=(AnalysisEstimated,),
                    method="*",
                )
            )
        publishes["timeout sweeper"] = (AnalysisEstimated,)  # closes analyses that ran out of time
        background.append(handlers.timeout_sweeper(settings.estimator_sweep_interval_s))
    runtime = ServiceRuntime(
        SERVICE,
        settings=settings,
        metadata=metadata,
        migrations=MIGRATIONS,
        subscriptions=subscriptions,
        publishes=publishes,
        background=background,
    )
    if "planner" in roles:
        # Bound before any consumer runs: an unbound registry would count every method as served.
        serving.POOLS.bind(runtime)
    return runtime


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point `cqox-estimator [--roles planner,aggregator,worker] [--methods a,b]`."""
    parser = service_parser("cqox-estimator", __doc__ or "", EstimatorSettings)
    parser.add_argument(
        "--roles", default=",".join(ROLES), help="comma-separated subset of " + ",".join(ROLES)
    )
    parser.add_argument(
        "--methods", default=None, help="methods this process serves (default: all registered)"
    )
    parser.add_argument(
        "--cost",
        choices=("light", "heavy"),
        default=None,
        help="serve every method of this registry cost class (instead of --methods)",
    )
    args = parser.parse_args(argv)
    if args.cost is not None and args.methods is not None:
        parser.error("give either --methods or --cost, not both")
    roles = [r for r in args.roles.split(",") if r]
    if bad := [r for r in roles if r not in ROLES]:
        parser.error(f"unknown roles {bad}")
    methods = None if args.methods is None else [m for m in args.methods.split(",") if m]
    if args.cost is not None:
        methods = methods_by_cost(args.cost)
    settings = EstimatorSettings()
    threadpool_limits(limits=settings.estimator_blas_threads)
    if methods is not None and not methods:
        roles = [r for r in roles if r not in ("worker", "refuter")]
    run_worker(build_runtime(roles, methods, settings))
