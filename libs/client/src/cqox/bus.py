"""Result events straight from NATS JetStream, for server-side consumers (the platform's own
contracts, parsed). `nats-py` is imported only when `subscribe` runs, so the client stays light:
`pip install nats-py` where you need it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from cqox.errors import ConfigError, CqoxError
from cqox_contracts.v1 import EVENT_TYPES, Event, parse_event, stream_for

RESULT_EVENTS = ("analysis.assessed", "report.generated", "analysis.failed", "dataset.rejected")
Deliver = Literal["new", "all"]


def subjects_of(event_types: Sequence[str]) -> list[tuple[str, str]]:
    """(subject to filter on, stream) per event type; per-method subjects end in `*`."""
    unknown = [t for t in event_types if t not in EVENT_TYPES]
    if unknown or not event_types:
        raise CqoxError(f"unknown event types {unknown}; choose from {', '.join(sorted(EVENT_TYPES))}")
    out = []
    for event_type in event_types:
        subject = EVENT_TYPES[event_type].subject_template.replace("{method}", "*")
        out.append((subject, stream_for(subject).name))
    return out


async def subscribe(
    nats_url: str | None,
    event_types: Sequence[str] = RESULT_EVENTS,
    *,
    analysis_id: str | None = None,
    durable: str | None = None,
    deliver: Deliver = "new",
) -> AsyncIterator[Event]:
    """Yield each event of `event_types` as it is published (`deliver="all"`: from the start of
    the stream), only those of `analysis_id` when given. A message is acked when the consumer
    asks for the next one, so with a `durable` name an event being handled when the process dies
    comes back (at-least-once: deduplicate on `event_id`)."""
    if not nats_url:
        raise ConfigError("subscribe() needs the NATS URL: nats_url= or CQOX_NATS_URL")
    try:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("subscribe() needs nats-py: pip install nats-py") from exc
    routes = subjects_of(event_types)
    connection = await nats.connect(nats_url, name="cqox-python-client")
    queue: asyncio.Queue[Any] = asyncio.Queue()
    subscriptions = []
    try:
        js = connection.jetstream()
        policy = DeliverPolicy.NEW if deliver == "new" else DeliverPolicy.ALL
        for subject, stream in routes:
            name = f"{durable}-{subject.replace('.', '_').replace('*', 'any')}" if durable else None
            subscriptions.append(
                await js.subscribe(
                    subject,
                    stream=stream,
                    durable=name,
                    cb=queue.put,
                    manual_ack=True,
                    config=ConsumerConfig(deliver_policy=policy, ack_policy=AckPolicy.EXPLICIT),
                )
            )
        while True:
            message = await queue.get()
            event = parse_event(message.data)
            if analysis_id is None or event.correlation_id == analysis_id:
                yield event
            await message.ack()
    finally:
        if not durable:  # an ephemeral consumer goes with us; a durable one keeps its place
            for subscription in subscriptions:
                with contextlib.suppress(Exception):  # the connection may already be gone
                    await subscription.unsubscribe()
        await connection.close()
