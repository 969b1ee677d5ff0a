"""Declared flows: subjects and durable names derived from the event classes, publishes enforced."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy import MetaData

from cqox_contracts.v1 import (
    AnalysisAssessed,
    AnalysisEstimated,
    AnalysisFailed,
    DatasetMapped,
    EstimateCompleted,
    EstimateFailed,
    EstimateRequested,
    Event,
    ReportGenerated,
)
from cqox_shared.bus import (
    Bus,
    Consumer,
    HandlerContext,
    OutboxRelay,
    Subscription,
    UndeclaredPublishError,
    durable_name,
    subject_matches,
)
from cqox_shared.db import create_engine, messaging_tables, session_factory


async def _noop(event: Event, ctx: HandlerContext) -> None:
    """A handler with no effects."""


def test_subject_and_durable_come_from_the_event_class() -> None:
    sub = Subscription(DatasetMapped, _noop, publishes=(AnalysisAssessed,))
    assert sub.subject == "cqox.v1.dataset.mapped"
    assert sub.stream_name == "CQOX_DATASETS"
    assert sub.durable("quality-gate") == "quality-gate-dataset-mapped"


def test_per_method_events_name_their_method_or_every_method() -> None:
    one = Subscription(EstimateRequested, _noop, method="psm")
    assert one.subject == "cqox.v1.estimate.requested.psm"
    assert one.durable("estimator") == "estimator-estimate-requested-psm"
    every = Subscription(EstimateCompleted, _noop, method="*")
    assert every.subject == "cqox.v1.estimate.completed.*"
    assert every.durable("estimator") == "estimator-estimate-completed-any"
    with pytest.raises(ValueError, match="method= is required"):
        Subscription(EstimateRequested, _noop)
    with pytest.raises(ValueError, match="method= is required"):
        Subscription(DatasetMapped, _noop, method="psm")


def test_a_whole_stream_is_heard_as_every_event() -> None:
    sub = Subscription(Event, _noop, stream="CQOX_ANALYSES")
    assert sub.subject == "cqox.v1.analysis.>"
    assert sub.durable("ingest") == "ingest-analysis-all"
    with pytest.raises(ValueError, match="hears every event"):
        Subscription(DatasetMapped, _noop, stream="CQOX_DATASETS")
    with pytest.raises(ValueError, match="no stream"):
        Subscription(Event, _noop, stream="CQOX_NOPE")
    with pytest.raises(ValueError, match="no subject"):
        Subscription(Event, _noop)


def test_publishes_takes_event_classes_only() -> None:
    with pytest.raises(ValueError, match="event classes"):
        Subscription(DatasetMapped, _noop, publishes=("cqox.v1.dataset.qualified",))  # type: ignore[arg-type]


def test_durable_names_and_subject_matching() -> None:
    assert durable_name("notification", "cqox.v1.report.generated") == "notification-report-generated"
    assert subject_matches("cqox.v1.estimate.completed.*", "cqox.v1.estimate.completed.psm")
    assert not subject_matches("cqox.v1.estimate.completed.*", "cqox.v1.estimate.completed")
    assert subject_matches("cqox.v1.analysis.>", "cqox.v1.analysis.failed")
    assert not subject_matches("cqox.v1.analysis.>", "cqox.v1.analysis")
    assert not subject_matches("cqox.v1.dataset.mapped", "cqox.v1.dataset.qualified")


def test_a_flow_hears_only_its_class_on_its_subject() -> None:
    event = EstimateFailed(
        correlation_id="a", producer="estimator", analysis_id="a", method="psm", reason="r"
    )
    assert Subscription(EstimateFailed, _noop, method="*").hears_event(event)
    assert not Subscription(EstimateFailed, _noop, method="ols").hears_event(event)
    assert not Subscription(EstimateCompleted, _noop, method="*").hears_event(event)
    assert Subscription(Event, _noop, stream="CQOX_ESTIMATES").hears_event(event)
    assert not Subscription(Event, _noop, stream="CQOX_ANALYSES").hears_event(event)


def _failed(analysis_id: str) -> AnalysisFailed:
    return AnalysisFailed(
        correlation_id=analysis_id, producer="up", analysis_id=analysis_id, stage="x", reason="y"
    )


@pytest.fixture
async def tables(infra):  # type: ignore[no-untyped-def]
    schema = f"f{uuid.uuid4().hex[:8]}"
    metadata = MetaData(schema=schema)
    processed, outbox = messaging_tables(metadata)
    engine = create_engine(infra.database_url)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(metadata.create_all)
    yield engine, processed, outbox
    await engine.dispose()


def _consumer(tables, sub: Subscription) -> Consumer:  # type: ignore[no-untyped-def]
    engine, processed, outbox = tables
    bus = Bus("svc")  # never connected: `process` needs no NATS
    sessions = session_factory(engine)
    return Consumer("svc", sub, bus, sessions, processed, outbox, OutboxRelay(bus, sessions, outbox))


@pytest.mark.integration
async def test_an_undeclared_publish_is_refused_and_nothing_is_written(tables) -> None:  # type: ignore[no-untyped-def]
    engine, processed, outbox = tables

    async def handler(event: AnalysisFailed, ctx: HandlerContext) -> None:
        await ctx.emit(
            ReportGenerated(
                **event.caused(), producer=ctx.producer, analysis_id="a", report_uri="r", artifacts=[]
            )
        )

    consumer = _consumer(tables, Subscription(AnalysisFailed, handler, publishes=(AnalysisEstimated,)))
    with pytest.raises(UndeclaredPublishError) as refused:
        await consumer.process(_failed("a"))
    assert str(refused.value) == (
        "svc (svc-analysis-failed) may not publish ReportGenerated: it declares publishes=(AnalysisEstimated)"
    )
    async with engine.connect() as conn:  # the whole transaction rolled back, the claim included
        for table in (outbox, processed):
            assert (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one() == 0


@pytest.mark.integration
async def test_a_declared_publish_goes_to_the_outbox(tables) -> None:  # type: ignore[no-untyped-def]
    engine, _, outbox = tables

    async def handler(event: AnalysisFailed, ctx: HandlerContext) -> None:
        await ctx.emit(
            ReportGenerated(
                **event.caused(), producer=ctx.producer, analysis_id="a", report_uri="r", artifacts=[]
            )
        )

    consumer = _consumer(tables, Subscription(AnalysisFailed, handler, publishes=(ReportGenerated,)))
    event = _failed("a")
    outcome, emitted = await consumer.process(event)
    assert outcome == "ok" and [type(e) for e in emitted] == [ReportGenerated]
    assert emitted[0].producer == "svc" and emitted[0].causation_id == event.event_id
    assert (await consumer.process(event)) == ("duplicate", [])
    async with engine.connect() as conn:
        subjects = (await conn.execute(sa.select(outbox.c.subject))).scalars().all()
    assert subjects == ["cqox.v1.report.generated"]


@pytest.mark.integration
async def test_an_event_its_former_durable_processed_is_not_handled_again(tables) -> None:  # type: ignore[no-untyped-def]
    engine, processed, _ = tables
    calls: list[str] = []

    async def handler(event: AnalysisFailed, ctx: HandlerContext) -> None:
        calls.append(event.analysis_id)

    old, new = _failed("old"), _failed("new")
    async with engine.begin() as conn:
        await conn.execute(sa.insert(processed).values(consumer="svc-legacy", event_id=str(old.event_id)))
    consumer = _consumer(tables, Subscription(AnalysisFailed, handler, formerly="svc-legacy"))
    assert (await consumer.process(old))[0] == "duplicate"
    assert (await consumer.process(new))[0] == "ok"
    assert calls == ["new"]
