"""Which methods have a live worker pool: a registry in NATS KV, heartbeated by the workers.

Every worker process puts one key per method it serves, ``<method>.<instance>``, into the KV bucket
``CQOX_ESTIMATOR_POOLS`` every few seconds; the bucket's TTL drops the keys of a process that died,
and a process that stops cleanly purges its own. Before requesting estimates, the planner keeps only
the methods some live worker serves and fails the others at once, with a reason naming the pool to
deploy, instead of letting the analysis wait for its deadline (900 s by default) for a method
nobody will ever compute.

A method served by a pool that is merely slow, or restarting within the TTL, still counts as
served: the aggregator's deadline covers those.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from nats.js.api import KeyValueConfig
from nats.js.errors import BadRequestError, NoKeysError
from prometheus_client import Counter

from cqox_estimator.estimators import REGISTRY
from cqox_shared.logging import get_logger

if TYPE_CHECKING:
    from cqox_shared.runtime import ServiceRuntime

log = get_logger("cqox.estimator.serving")
REGISTRY_READ_FAILURES = Counter(
    "cqox_estimator_pool_registry_read_failures_total",
    "Reads of the pool registry that failed; after READ_ATTEMPTS of them an analysis requests every method",
)

BUCKET = "CQOX_ESTIMATOR_POOLS"
STREAM = f"KV_{BUCKET}"  # the JetStream stream that holds the bucket
DESCRIPTION = "live estimator pools"
HISTORY = 1  # one value per key: the last heartbeat
# JetStream's "stream name already in use with a different configuration" (JSStreamNameExistErr).
STREAM_EXISTS_OTHERWISE = 10058
HEARTBEAT_S = 5.0
# Twelve missed heartbeats: the process is gone. Generous because a worker's event loop can be
# starved for seconds by a fit on a loaded machine (2 cores, every pool busy), and a busy worker
# taken for dead fails its method at once; a crashed pool is still covered by the deadline.
TTL_S = 60.0


# Reads of the registry retried before the planner gives up and requests every method.
READ_ATTEMPTS = 3
READ_RETRY_S = 1.0
# Pause before the second read that confirms a method has no live pool.
CONFIRM_UNSERVED_S = 1.0


class PoolRegistry:
    """The planner's and the workers' view of the KV bucket (bound to a runtime's NATS link)."""

    def __init__(self) -> None:
        self._runtime: ServiceRuntime | None = None
        self._kv: Any = None

    def bind(self, runtime: ServiceRuntime) -> None:
        """Use this runtime's JetStream connection (called first thing by the background tasks)."""
        if runtime is not self._runtime:
            self._runtime, self._kv = runtime, None

    @property
    def bound(self) -> bool:
        """Whether a runtime is bound (a planner used outside a runtime checks nothing)."""
        return self._runtime is not None

    async def bucket(self) -> Any:
        """The KV bucket, created on first use by whichever process comes first; a bucket an
        earlier release created with another TTL (JetStream keeps it across upgrades, and refuses
        to create it again with a different configuration) is brought to this release's TTL."""
        if self._kv is None:
            assert self._runtime is not None and self._runtime.bus.js is not None
            js = self._runtime.bus.js
            try:
                self._kv = await js.create_key_value(
                    KeyValueConfig(bucket=BUCKET, history=HISTORY, ttl=TTL_S, description=DESCRIPTION)
                )
            except BadRequestError as exc:
                if exc.err_code != STREAM_EXISTS_OTHERWISE:
                    raise
                stored = (await js.stream_info(STREAM)).config
                log.info("pool registry bucket reconfigured", old_ttl_s=stored.max_age, ttl_s=TTL_S)
                await js.update_stream(
                    dataclasses.replace(
                        stored,
                        max_age=TTL_S,
                        duplicate_window=min(TTL_S, 120.0),
                        max_msgs_per_subject=HISTORY,
                        description=DESCRIPTION,
                    )
                )
                self._kv = await js.key_value(BUCKET)
        return self._kv

    async def served(self) -> set[str]:
        """Methods with at least one live worker."""
        kv = await self.bucket()
        try:
            keys = await kv.keys()
        except NoKeysError:
            return set()
        return {key.split(".", 1)[0] for key in keys}

    async def beat(self, methods: Sequence[str], instance: str) -> None:
        """Say once that this instance serves `methods`."""
        kv = await self.bucket()
        for method in methods:
            await kv.put(_key(method, instance), instance.encode())

    async def withdraw(self, methods: Sequence[str], instance: str) -> None:
        """Remove this instance's keys (clean shutdown)."""
        kv = await self.bucket()
        for method in methods:
            with contextlib.suppress(Exception):
                await kv.purge(_key(method, instance))


POOLS = PoolRegistry()


def _key(method: str, instance: str) -> str:
    return f"{method}.{re.sub(r'[^-_=a-zA-Z0-9]', '_', instance) or 'worker'}"


def missing_pool_reason(method: str) -> str:
    """Why an unserved method fails, naming the pool that would serve it."""
    cost = REGISTRY[method].cost if method in REGISTRY else "light"
    return (
        f"no live estimator worker serves {method}: deploy its pool, the '{cost}' pool "
        f"(`cqox-estimator --roles worker --cost {cost}`; Helm: an estimator.pools entry with "
        f"cost: {cost} or methods: [{method}] and replicas > 0)"
    )


async def split_served(
    methods: Sequence[str], registry: PoolRegistry = POOLS
) -> tuple[list[str], dict[str, str]]:
    """(methods some live worker serves, {unserved method: reason}). Outside a runtime, or when
    the registry cannot be read, every method counts as served (the deadline still applies)."""
    if not methods or not registry.bound:
        return list(methods), {}
    live: set[str] | None = None
    for attempt in range(READ_ATTEMPTS):
        try:
            live = await registry.served()
            break
        except Exception as exc:  # a JetStream API call timing out on a loaded machine
            log.warning("pool registry unreadable", attempt=attempt + 1, error=repr(exc))
            REGISTRY_READ_FAILURES.inc()
            await asyncio.sleep(READ_RETRY_S * (attempt + 1))
    if live is None:
        log.warning("pool registry unreadable; requesting every method (the deadline applies)")
        return list(methods), {}
    if not set(methods) <= live:
        # A KV key listing can come back short while keys expire or the server is loaded; a
        # method is failed as unserved only when a second read a moment later agrees.
        await asyncio.sleep(CONFIRM_UNSERVED_S)
        with contextlib.suppress(Exception):
            live |= await registry.served()
    served = [m for m in methods if m in live]
    return served, {m: missing_pool_reason(m) for m in methods if m not in live}


def watch_pools(registry: PoolRegistry = POOLS) -> Callable[[ServiceRuntime], Awaitable[None]]:
    """Background task of the planner: binds the registry to the runtime's NATS link."""

    async def run(runtime: ServiceRuntime) -> None:
        registry.bind(runtime)
        with contextlib.suppress(Exception):
            await registry.bucket()

    return run


def heartbeat(
    methods: Sequence[str], registry: PoolRegistry = POOLS
) -> Callable[[ServiceRuntime], Awaitable[None]]:
    """Background task of a worker: says which methods it serves every HEARTBEAT_S seconds, and
    withdraws them when the process stops."""

    async def run(runtime: ServiceRuntime) -> None:
        registry.bind(runtime)
        instance = runtime.instance_id
        try:
            while True:
                try:
                    await registry.beat(methods, instance)
                except Exception as exc:  # NATS reconnecting: the TTL leaves room for a few misses
                    log.warning("pool heartbeat failed", error=repr(exc))
                await asyncio.sleep(HEARTBEAT_S)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(registry.withdraw(methods, instance))

    return run
