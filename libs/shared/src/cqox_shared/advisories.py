"""JetStream's own word that a message was given up on, turned into a failed analysis (ADR 0021).

NATS publishes an advisory when a consumer reaches `max_deliver` for a message (no more
deliveries: the handler crashed or hung on its last one, so it never dead-lettered it) and when
a message is terminated. A stream keeps these advisories, so none is missed while no service runs,
and every service runtime pulls from one shared durable consumer on it: whichever is up answers.
For each advisory the listener reads the message back from its stream and, if it belongs to an
analysis, publishes `analysis.failed` with the stage (the consumer's service) and the reason.
The failure's id is derived from the message's place (`deadletters.derived_id`), the same id a
consumer's own dead-lettering gives it, so a failure already said is dropped as a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from cqox_contracts.v1 import AnalysisFailed, UnknownEventError, parse_event
from cqox_shared.bus import Bus, outbox_row
from cqox_shared.deadletters import Parked, failure_for
from cqox_shared.logging import get_logger

log = get_logger("cqox.advisories")

STREAM = "CQOX_ADVISORIES"
MAX_DELIVERIES = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"
TERMINATED = "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.>"
DURABLE = "cqox-advisories"


def stage_of(consumer: str, description: str) -> str:
    """The stage (service) a consumer belongs to: its description says `service: subject`."""
    service = description.split(":", 1)[0].strip() if ":" in description else ""
    return service or consumer


def reason_of(advisory: dict[str, Any], subject: str) -> str:
    """The failure reason an advisory gives, in words."""
    consumer = advisory.get("consumer", "?")
    deliveries = advisory.get("deliveries", "?")
    if str(advisory.get("type", "")).endswith("max_deliver"):
        return (
            f"{consumer} gave up on {subject} after {deliveries} deliveries "
            "(JetStream max deliveries reached; the handler never finished)"
        )
    said = f": {advisory['reason']}" if advisory.get("reason") else ""
    return f"{consumer} terminated {subject} after {deliveries} deliveries{said}"


class AdvisoryListener:
    """Pulls max-deliveries and terminated advisories and fails the analyses they name."""

    def __init__(self, bus: Bus, producer: str) -> None:
        self.bus = bus
        self.producer = producer
        self._stages: dict[tuple[str, str], str] = {}

    async def ensure(self) -> Any:
        """Create the advisory stream and the shared durable (idempotent); the bound subscription."""
        assert self.bus.js is not None
        config = StreamConfig(
            name=STREAM,
            subjects=[MAX_DELIVERIES, TERMINATED],
            description="JetStream advisories: messages given up on (max deliveries, terminated)",
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=7 * 24 * 3600,
            duplicate_window=120,
        )
        try:
            await self.bus.js.stream_info(STREAM)
            await self.bus.js.update_stream(config)  # an earlier release's stream takes this one's settings
        except NotFoundError:
            with contextlib.suppress(Exception):  # another service created it meanwhile
                await self.bus.js.add_stream(config)
        await self.bus.js.add_consumer(
            STREAM,
            ConsumerConfig(
                durable_name=DURABLE,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=30,
                max_deliver=-1,
                description=f"{self.producer}: advisories into analysis.failed",
            ),
        )
        return await self.bus.js.pull_subscribe_bind(DURABLE, STREAM)

    async def run(self) -> None:
        """Handle advisories until cancelled; resubscribe after errors."""
        while True:
            try:
                psub = await self.ensure()
                while True:
                    try:
                        msgs = await psub.fetch(batch=10, timeout=2)
                    except (TimeoutError, nats.errors.TimeoutError):
                        continue
                    for msg in msgs:
                        try:
                            await self.handle(msg.data)
                        except Exception as exc:
                            log.warning("advisory not handled; will retry", error=repr(exc))
                            with contextlib.suppress(Exception):
                                await msg.nak(delay=5)
                            continue
                        await msg.ack()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("advisory listener error; resubscribing", error=repr(exc))
                await asyncio.sleep(1)

    async def handle(self, data: bytes) -> AnalysisFailed | None:
        """Fail the analysis an advisory's message belongs to; the failure published, or None."""
        assert self.bus.js is not None
        advisory = json.loads(data)
        stream, consumer = str(advisory.get("stream", "")), str(advisory.get("consumer", ""))
        seq = int(advisory.get("stream_seq", 0))
        if stream == STREAM or not stream or not seq:
            return None
        try:
            original = await self.bus.js.get_msg(stream, seq)
        except NotFoundError:
            log.warning("advised message is gone from its stream", stream=stream, seq=seq)
            return None
        try:
            event = parse_event(original.data or b"")
        except (UnknownEventError, ValueError):
            return None  # undecodable: its consumer dead-lettered it; no analysis to fail
        if isinstance(event, AnalysisFailed) or not event.correlation_id:
            return None
        subject = original.subject or event.subject
        parked = Parked(
            stream=stream,
            stream_seq=seq,
            subject=subject,
            consumer=consumer,
            stage=await self._stage(stream, consumer),
            deliveries=int(advisory.get("deliveries", 0)),
            reason=reason_of(advisory, subject),
        )
        failed = failure_for(
            parked,
            correlation_id=event.correlation_id,
            tenant_id=event.tenant_id,
            producer=self.producer,
            causation_id=event.event_id,
        )
        row = outbox_row(failed)
        await self.bus.publish_raw(row["subject"], row["payload"].encode(), row["event_id"], row["headers"])
        log.warning(
            "analysis failed by a JetStream advisory",
            analysis_id=event.correlation_id,
            stage=parked.stage,
            reason=parked.reason,
        )
        return failed

    async def _stage(self, stream: str, consumer: str) -> str:
        key = (stream, consumer)
        if key not in self._stages:
            assert self.bus.js is not None
            description = ""
            with contextlib.suppress(Exception):
                info = await self.bus.js.consumer_info(stream, consumer)
                description = info.config.description or ""
            self._stages[key] = stage_of(consumer, description)
        return self._stages[key]
