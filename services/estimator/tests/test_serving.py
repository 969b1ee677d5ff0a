"""The pool registry in NATS KV, against a real nats-server: workers heartbeat the methods they
serve, the planner keeps only those and fails the others at once, naming the pool to deploy."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from nats.js.errors import NotFoundError

from cqox_estimator import serving
from cqox_estimator.handlers import refutation_pool, served_methods
from cqox_shared.bus import Bus

pytestmark = pytest.mark.integration


@dataclass
class Runtime:
    """What the registry uses of a ServiceRuntime: its connected bus and instance id."""

    bus: Bus
    instance_id: str


@pytest.fixture
async def runtimes(own_nats: str) -> AsyncIterator[list[Runtime]]:
    buses = []
    for _ in range(3):
        bus = Bus("estimator")
        await bus.connect(own_nats)
        buses.append(bus)
    yield [Runtime(bus, f"worker-{i}") for i, bus in enumerate(buses)]
    for bus in buses:
        await bus.close()


async def wait_for(registry: serving.PoolRegistry, expected: set[str]) -> None:
    for _ in range(100):
        if await registry.served() == expected:
            return
        await asyncio.sleep(0.05)
    assert await registry.served() == expected


async def test_workers_register_and_withdraw_their_methods(runtimes: list[Runtime]) -> None:
    planner, light, heavy = (serving.PoolRegistry() for _ in range(3))
    await serving.watch_pools(planner)(runtimes[0])  # type: ignore[arg-type]
    served, unserved = await serving.split_served(["ols", "ipw", "causal_forest"], planner)
    assert served == [] and set(unserved) == {"ols", "ipw", "causal_forest"}

    light_task = asyncio.create_task(serving.heartbeat(["ols", "ipw"], light)(runtimes[1]))  # type: ignore[arg-type]
    heavy_task = asyncio.create_task(serving.heartbeat(["causal_forest"], heavy)(runtimes[2]))  # type: ignore[arg-type]
    await wait_for(planner, {"ols", "ipw", "causal_forest"})
    assert await serving.split_served(["ols", "causal_forest"], planner) == (["ols", "causal_forest"], {})

    heavy_task.cancel()  # a clean stop withdraws the pool's keys at once
    with pytest.raises(asyncio.CancelledError):
        await heavy_task
    await wait_for(planner, {"ols", "ipw"})
    served, unserved = await serving.split_served(["ols", "causal_forest"], planner)
    assert served == ["ols"]
    reason = unserved["causal_forest"]
    assert "no live estimator worker serves causal_forest" in reason
    assert "'heavy' pool" in reason and "--cost heavy" in reason
    light_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await light_task


async def test_outside_a_runtime_every_method_counts_as_served() -> None:
    assert await serving.split_served(["ols", "psm"], serving.PoolRegistry()) == (["ols", "psm"], {})


def test_the_reason_names_the_pool_of_the_methods_cost_class() -> None:
    assert "the 'light' pool" in serving.missing_pool_reason("rd_robust")
    assert "methods: [rd_robust]" in serving.missing_pool_reason("rd_robust")


async def test_a_bucket_an_earlier_release_made_with_another_ttl_is_reconfigured_and_used(
    runtimes: list[Runtime],
) -> None:
    """JetStream keeps the bucket across upgrades and refuses to create it again with another TTL:
    the registry must bring it to this release's TTL instead of finding it unreadable forever."""
    js = runtimes[0].bus.js
    assert js is not None
    with contextlib.suppress(NotFoundError):  # another test's bucket: this one starts as an older release's
        await js.delete_stream(serving.STREAM)
    await js.create_key_value(bucket=serving.BUCKET, history=3, ttl=20, description="an older release")
    planner, worker = serving.PoolRegistry(), serving.PoolRegistry()
    planner.bind(runtimes[0])  # type: ignore[arg-type]
    worker.bind(runtimes[1])  # type: ignore[arg-type]
    await worker.beat(["ols"], "worker-1")
    assert await planner.served() == {"ols"}
    config = (await js.stream_info(serving.STREAM)).config
    assert config.max_age == serving.TTL_S and config.description == serving.DESCRIPTION
    assert config.max_msgs_per_subject == serving.HISTORY
    await worker.withdraw(["ols"], "worker-1")


async def test_the_planner_reads_the_registry_once_for_methods_and_their_refuters(
    runtimes: list[Runtime],
) -> None:
    """ols has both pools, ipw no refuter pool (estimated, not refuted), causal_forest no pool at
    all (failed at once with the reason); one read of the registry answers all three."""
    planner, worker = serving.PoolRegistry(), serving.PoolRegistry()
    planner.bind(runtimes[0])  # type: ignore[arg-type]
    worker.bind(runtimes[1])  # type: ignore[arg-type]
    pools = ["ols", refutation_pool("ols"), "ipw"]
    await worker.beat(pools, "worker-1")
    await wait_for(planner, {"ols", "refutation=ols", "ipw"})
    methods, refuted, unserved = await served_methods(["ols", "ipw", "causal_forest"], planner)
    assert methods == ["ols", "ipw"] and refuted == ["ols"]
    assert list(unserved) == ["causal_forest"] and "'heavy' pool" in unserved["causal_forest"]
    await worker.withdraw(pools, "worker-1")


class _Unreadable(serving.PoolRegistry):
    """A bound registry whose every read fails (the KV API timing out, a refused bucket)."""

    @property
    def bound(self) -> bool:
        return True

    async def served(self) -> set[str]:
        raise TimeoutError("nats: timeout")


async def test_an_unreadable_registry_is_counted_and_every_method_requested(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Operators see a registry that cannot be read on /metrics, not only in the logs."""
    monkeypatch.setattr(serving, "READ_RETRY_S", 0.0)
    before = serving.REGISTRY_READ_FAILURES._value.get()
    assert await serving.split_served(["ols", "ipw"], _Unreadable()) == (["ols", "ipw"], {})
    assert serving.REGISTRY_READ_FAILURES._value.get() - before == serving.READ_ATTEMPTS
