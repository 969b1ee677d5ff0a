"""The pool registry in NATS KV, against a real nats-server: workers heartbeat the methods they
serve, the planner keeps only those and fails the others at once, naming the pool to deploy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from cqox_estimator import serving
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
