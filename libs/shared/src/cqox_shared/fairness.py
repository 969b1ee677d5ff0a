"""Round-robin across tenants for a pool's window of held messages (ADR 0028).

A fair consumer holds up to a window of fetched messages, one FIFO queue per tenant, and always
starts the oldest message of the tenant whose turn it is: a tenant's burst then delays another
tenant's work by at most one message per tenant ahead of it in the rotation, not by the burst.
Pure bookkeeping, no I/O: the consumer in `cqox_shared.bus` does the fetching and the acks.
"""

from __future__ import annotations

import json
from collections import OrderedDict, deque
from collections.abc import Iterator
from typing import Generic, TypeVar

Item = TypeVar("Item")


class TenantQueues(Generic[Item]):
    """Per-tenant FIFO queues served in rotation: each `pop` takes the oldest item of the tenant
    whose turn it is and moves that tenant to the back of the rotation."""

    def __init__(self) -> None:
        self._queues: OrderedDict[str, deque[Item]] = OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Item]:
        for queue in self._queues.values():
            yield from queue

    def push(self, tenant: str, item: Item) -> None:
        """Queue `item` behind the tenant's earlier ones; a new tenant joins the rotation last."""
        self._queues.setdefault(tenant, deque()).append(item)
        self._size += 1

    def pop(self) -> Item | None:
        """The next item to serve, or None when nothing is held."""
        if not self._queues:
            return None
        tenant, queue = next(iter(self._queues.items()))
        item = queue.popleft()
        self._size -= 1
        if queue:
            self._queues.move_to_end(tenant)
        else:
            del self._queues[tenant]
        return item

    def drain(self) -> list[Item]:
        """Every held item (to release them), leaving the queues empty."""
        items = list(self)
        self._queues.clear()
        self._size = 0
        return items

    def tenants(self) -> list[str]:
        """The tenants with held items, in their turn order."""
        return list(self._queues)


def tenant_of(payload: bytes) -> str:
    """The `tenant_id` of an event's JSON payload; an undecodable one gets a queue of its own ("")."""
    try:
        raw = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return ""
    return str(raw.get("tenant_id", "")) if isinstance(raw, dict) else ""
