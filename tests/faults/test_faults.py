"""Faults injected into the running stack mid-analysis (ADR 0022): each service SIGKILLed in turn,
PostgreSQL restarted mid-handler and stopped for 60 s, NATS restarted, poison messages, and a crash
between a commit and its outbox relay beyond NATS's duplicate window. For each: every analysis ends
whole (`assert_ended_whole`) and the stack serves again (`assert_serves`)."""

from __future__ import annotations

import asyncio
import time
import uuid

import nats
import pytest
import sqlalchemy as sa

from cqox_contracts.v1 import parse_event
from cqox_stack.stack import Stack
from tests.faults.conftest import (
    assert_ended_whole,
    assert_serves,
    client,
    restart,
    timeline,
    upload,
    wait_ended,
    wait_status,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

# When each service is busiest with an analysis: kill it as the analysis reaches that status.
BUSY_AT = {
    "ingest": ("accepted",),
    "mapping": ("accepted",),
    "quality-gate": ("mapped",),
    "estimator": ("qualified", "estimating"),
    "visualization": ("estimated", "assessed"),
    "notification": ("assessed",),
}


@pytest.mark.parametrize("service", list(BUSY_AT))
def test_a_service_killed_mid_analysis_costs_only_time(fault_stack: Stack, service: str) -> None:
    analysis_id = upload(fault_stack, f"kill-{service}")
    wait_status(fault_stack, analysis_id, BUSY_AT[service])
    restart(fault_stack, service)
    body = assert_ended_whole(fault_stack, analysis_id)
    assert body["status"] == "completed", body  # a crash loses nothing: redelivery finishes it
    assert_serves(fault_stack, f"after-kill-{service}")


@pytest.mark.parametrize("at", ["accepted", "qualified", "estimated"])
def test_postgres_restarted_mid_handler(fault_stack: Stack, at: str) -> None:
    assert fault_stack.postgres is not None
    analyses = [upload(fault_stack, f"pg-restart-{at}-{i}") for i in range(2)]
    wait_status(fault_stack, analyses[0], (at,))
    fault_stack.postgres.stop()
    fault_stack.postgres.start()
    for analysis_id in analyses:
        assert assert_ended_whole(fault_stack, analysis_id)["status"] == "completed"
    assert_serves(fault_stack, f"after-pg-restart-{at}")


def test_postgres_stopped_for_a_minute(fault_stack: Stack) -> None:
    assert fault_stack.postgres is not None
    analyses = [upload(fault_stack, f"pg-down-{i}") for i in range(3)]
    fault_stack.postgres.stop()
    try:
        time.sleep(60)
    finally:
        fault_stack.postgres.start()
    for analysis_id in analyses:
        assert_ended_whole(fault_stack, analysis_id)  # completed (held through), or failed with a reason
    assert_serves(fault_stack, "after-pg-down")


def test_nats_restarted_mid_analysis(fault_stack: Stack) -> None:
    assert fault_stack.nats is not None
    analyses = [upload(fault_stack, f"nats-restart-{i}") for i in range(2)]
    wait_status(fault_stack, analyses[0], ("mapped", "qualified"))
    fault_stack.nats.stop()
    time.sleep(3)
    fault_stack.nats.start()
    for analysis_id in analyses:
        assert assert_ended_whole(fault_stack, analysis_id)["status"] == "completed"
    assert_serves(fault_stack, "after-nats-restart")


def _publish(stack: Stack, subject: str, payload: bytes, msg_id: str) -> None:
    async def send() -> None:
        nc = await nats.connect(stack.nats.url)  # type: ignore[union-attr]
        try:
            await nc.jetstream().publish(subject, payload, headers={"Nats-Msg-Id": msg_id})
        finally:
            await nc.close()

    asyncio.run(send())


def _stream_events(stack: Stack, subject: str) -> list[bytes]:
    async def read() -> list[bytes]:
        nc = await nats.connect(stack.nats.url)  # type: ignore[union-attr]
        sub = await nc.jetstream().subscribe(
            subject, ordered_consumer=True, deliver_policy=nats.js.api.DeliverPolicy.ALL
        )
        out: list[bytes] = []
        try:
            while True:
                try:
                    out.append((await sub.next_msg(timeout=1.5)).data)
                except nats.errors.TimeoutError:
                    return out
        finally:
            await nc.close()

    return asyncio.run(read())


def test_poison_messages_are_parked_and_their_analysis_fails_with_the_reason(fault_stack: Stack) -> None:
    # undecodable bytes on two subjects: every consumer of them parks them at once
    marker = uuid.uuid4().hex
    for subject in ("cqox.v1.dataset.ingested", "cqox.v1.analysis.assessed"):
        _publish(fault_stack, subject, f"poison {marker}".encode(), f"poison-{subject}-{marker}")
    # a well-formed request whose data can never be read: retried, then parked, the analysis failed
    first = upload(fault_stack, "poisoned")
    assert wait_ended(fault_stack, first)["status"] == "completed"
    dataset_id = status_of(fault_stack, first)["dataset_id"]
    (parquet,) = [
        p for p in fault_stack.artifacts.rglob("*.parquet") if dataset_id in str(p) and "datasets" in str(p)
    ]
    parquet.write_bytes(b"PAR1 not parquet at all PAR1")
    with client(fault_stack) as api:
        response = api.post("/v1/analyses", json={"dataset_id": dataset_id, "methods": ["ols"]})
    assert response.status_code == 202, response.text
    poisoned = response.json()["analysis_id"]
    body = assert_ended_whole(fault_stack, poisoned, timeout=120)
    assert body["status"] == "failed" and body["error"].startswith("mapping: gave up after 5 deliveries"), (
        body
    )
    dead = [parse_event(m) for m in _stream_events(fault_stack, "cqox.v1.message.deadlettered")]
    parked = {(d.consumer, d.original_subject) for d in dead if marker in d.payload}
    assert ("mapping-dataset-ingested", "cqox.v1.dataset.ingested") in parked
    assert ("ingest-dataset-all", "cqox.v1.dataset.ingested") in parked
    assert ("visualization-analysis-assessed", "cqox.v1.analysis.assessed") in parked
    assert any(d.correlation_id == poisoned and d.consumer == "mapping-analysis-requested" for d in dead)
    assert_serves(fault_stack, "after-poison")


def status_of(stack: Stack, analysis_id: str) -> dict:  # type: ignore[type-arg]
    with client(stack) as api:
        return api.get(f"/v1/analyses/{analysis_id}").json()  # type: ignore[no-any-return]


def test_a_crash_between_commit_and_relay_beyond_the_duplicate_window_duplicates_nothing(
    fault_stack: Stack,
) -> None:
    """A process killed after committing its effects and outbox rows but before relaying them: the
    restarted process relays them. Past the streams' duplicate window NATS no longer drops the copy,
    so consumers see the event twice; their processed-event records must make the second a no-op."""
    analysis_id = upload(fault_stack, "relay-crash")
    assert wait_ended(fault_stack, analysis_id)["status"] == "completed"
    before = timeline(fault_stack, analysis_id)
    engine = sa.create_engine(fault_stack.database_url)
    replayed: list[tuple[str, str, str]] = []
    try:
        with engine.begin() as conn:
            for schema, event_type in (
                ("estimator", "estimate.completed"),
                ("visualization", "report.generated"),
            ):
                row = conn.execute(
                    sa.text(
                        f"SELECT event_id, subject, payload FROM {schema}.outbox "
                        "WHERE payload::jsonb ->> 'correlation_id' = :a AND payload::jsonb ->> 'event_type' = :t"
                    ),
                    {"a": analysis_id, "t": event_type},
                ).one()
                replayed.append((row.event_id, row.subject, row.payload))
        for name in ("estimator", "visualization"):
            fault_stack.services[name].process.kill()
        with engine.begin() as conn:  # the state the crash leaves: committed, not yet relayed
            for schema in ("estimator", "visualization"):
                conn.execute(
                    sa.text(f"UPDATE {schema}.outbox SET published_at = NULL WHERE event_id = ANY(:ids)"),
                    {"ids": [r[0] for r in replayed]},
                )
        # beyond the duplicate window: the copy reaches the consumers (another Nats-Msg-Id)
        for _, subject, payload in replayed:
            _publish(fault_stack, subject, payload.encode(), f"late-{uuid.uuid4()}")
        for name in ("estimator", "visualization"):
            restart(fault_stack, name)
        deadline = time.monotonic() + 30
        with engine.connect() as conn:
            while time.monotonic() < deadline:
                pending = conn.execute(
                    sa.text(
                        "SELECT (SELECT count(*) FROM estimator.outbox WHERE published_at IS NULL AND event_id = ANY(:ids))"
                        " + (SELECT count(*) FROM visualization.outbox WHERE published_at IS NULL AND event_id = ANY(:ids))"
                    ),
                    {"ids": [r[0] for r in replayed]},
                ).scalar_one()
                if pending == 0:
                    break
                time.sleep(0.5)
        assert pending == 0, "the restarted processes did not relay their committed rows"
    finally:
        engine.dispose()
    time.sleep(5)  # time for the copies to reach the aggregator, the read model and notification
    assert timeline(fault_stack, analysis_id) == before  # no event recorded twice, none lost
    assert status_of(fault_stack, analysis_id)["status"] == "completed"
    copies = [
        m for m in _stream_events(fault_stack, "cqox.v1.analysis.estimated") if analysis_id.encode() in m
    ]
    assert len(copies) == 1, "the aggregator closed the analysis twice"
    assert_serves(fault_stack, "after-relay-crash")
