"""Dead letters that need nothing but NATS (ADR 0021).

A message that exhausted its deliveries or was rejected is parked by publishing a
`message.deadlettered` (and, for an analysis, an `analysis.failed`) straight to JetStream, then
terminated. Both events get ids derived from where the message sat (stream, sequence, consumer),
so whoever says it again (a redelivery, the advisory listener) is dropped by the streams' duplicate
window instead of failing the analysis twice. The service's own database only *records* the dead
letter (a processed-event claim and the events as published outbox history), and a
`DeadLetterLedger` keeps that record in memory until the database takes it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import async_sessionmaker

from cqox_contracts.v1 import AnalysisFailed, Event, MessageDeadLettered
from cqox_shared.logging import get_logger

log = get_logger("cqox.deadletters")

# uuid5 namespace of the ids derived here: the same message parked twice gets the same ids.
NAMESPACE = uuid.UUID("6b0f7f0e-5d2a-4c55-9a37-0c9a1f0d2e11")


def derived_id(kind: str, stream: str, stream_seq: int, consumer: str) -> uuid.UUID:
    """The id of the `kind` event ("deadlettered" or "failed") about one message of one consumer."""
    return uuid.uuid5(NAMESPACE, f"{kind}:{stream}:{stream_seq}:{consumer}")


@dataclass(frozen=True)
class Parked:
    """Where a parked message sat and who gave up on it."""

    stream: str
    stream_seq: int
    subject: str
    consumer: str
    stage: str
    deliveries: int
    reason: str


def failure_for(
    parked: Parked, *, correlation_id: str, tenant_id: str, producer: str, causation_id: Any
) -> AnalysisFailed:
    """The `analysis.failed` saying that a stage gave up on one of the analysis's messages."""
    return AnalysisFailed(
        event_id=derived_id("failed", parked.stream, parked.stream_seq, parked.consumer),
        correlation_id=correlation_id,
        tenant_id=tenant_id,
        producer=producer,
        causation_id=causation_id,
        analysis_id=correlation_id,
        stage=parked.stage,
        reason=parked.reason,
    )


def dead_letter_events(
    parked: Parked,
    *,
    payload: bytes,
    original: Event | None,
    correlation_id: str,
    tenant_id: str,
    original_event_id: str | None,
    producer: str,
) -> list[Event]:
    """The events parking a message: its dead letter, and its analysis's failure unless the message
    was itself an `analysis.failed` (never answer a failure with another one) or names no analysis."""
    causation = original.event_id if original is not None else None
    events: list[Event] = [
        MessageDeadLettered(
            event_id=derived_id("deadlettered", parked.stream, parked.stream_seq, parked.consumer),
            correlation_id=correlation_id,
            tenant_id=tenant_id,
            producer=producer,
            causation_id=causation,
            original_subject=parked.subject,
            original_event_id=original_event_id,
            consumer=parked.consumer,
            deliveries=parked.deliveries,
            reason=parked.reason,
            payload=payload.decode("utf-8", errors="replace"),
        )
    ]
    if correlation_id and not isinstance(original, AnalysisFailed) and not _is_failure(payload):
        events.append(
            failure_for(
                parked,
                correlation_id=correlation_id,
                tenant_id=tenant_id,
                producer=producer,
                causation_id=causation,
            )
        )
    return events


def _is_failure(payload: bytes) -> bool:
    """Whether an undecoded message body is an `analysis.failed` (cheap, tolerant check)."""
    return b'"event_type":"analysis.failed"' in payload.replace(b" ", b"")


@dataclass
class _Record:
    claim_key: str
    rows: list[dict[str, Any]]


@dataclass
class DeadLetterLedger:
    """Records parked messages in the service's schema, now or once the database is back.

    The record is a processed-event claim (a redelivery of the message is then a duplicate) and
    the published events as outbox history (`published_at` set: the relay never sends them again).
    """

    sessions: async_sessionmaker  # type: ignore[type-arg]
    processed: Table
    outbox: Table
    consumer: str
    pending: list[_Record] = field(default_factory=list)

    async def record(self, claim_key: str, rows: list[dict[str, Any]]) -> None:
        """Record one parked message; kept in memory if the database does not answer."""
        self.pending.append(_Record(claim_key, rows))
        await self.flush()

    async def flush(self) -> int:
        """Write what is pending, oldest first; stop at the first failure. Returns the count."""
        written = 0
        while self.pending:
            item = self.pending[0]
            try:
                async with self.sessions() as session, session.begin():
                    await session.execute(
                        pg_insert(self.processed)
                        .values(consumer=self.consumer, event_id=item.claim_key)
                        .on_conflict_do_nothing()
                    )
                    for row in item.rows:
                        await session.execute(
                            pg_insert(self.outbox)
                            .values(**row, published_at=sa.func.now())
                            .on_conflict_do_nothing(index_elements=["event_id"])
                        )
            except Exception as exc:
                log.warning(
                    "dead letter not recorded yet; will retry",
                    consumer=self.consumer,
                    pending=len(self.pending),
                    error=repr(exc),
                )
                return written
            self.pending.pop(0)
            written += 1
        return written
