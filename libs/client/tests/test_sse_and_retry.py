"""The SSE decoder and the retry policy: pure rules, no server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from cqox.retry import RetryPolicy
from cqox.sse import AnalysisEvent, ServerEvent, SSEDecoder, end_status


def feed(text: str) -> list[ServerEvent]:
    decoder = SSEDecoder()
    return [m for line in text.split("\n") if (m := decoder.feed(line)) is not None]


def test_decoder_dispatches_on_blank_lines_and_keeps_ids() -> None:
    data = {"seq": 3, "event_type": "dataset.mapped", "producer": "mapping", "summary": "roles"}
    messages = feed(f"id: 3\nevent: dataset.mapped\ndata: {json.dumps(data)}\n\n: keep-alive\n\n")
    assert messages[0] == ServerEvent("dataset.mapped", json.dumps(data), "3")
    assert messages[1].comment
    event = AnalysisEvent.of(messages[0])
    assert (event.seq, event.event_type, event.producer, event.summary) == (
        3,
        "dataset.mapped",
        "mapping",
        "roles",
    )


def test_multi_line_data_joins_and_a_cut_message_is_never_dispatched() -> None:
    messages = feed('event: x\ndata: a\ndata: b\n\nid: 9\nevent: y\ndata: {"seq"')
    assert [(m.event, m.data) for m in messages] == [("x", "a\nb")]


def test_end_message_carries_the_status() -> None:
    (end,) = feed('event: end\ndata: {"status": "failed"}\n\n')
    assert end_status(end) == "failed"
    assert end_status(ServerEvent("dataset.mapped", "{}")) is None


def test_retry_only_429_503_and_refused_connections() -> None:
    policy = RetryPolicy(attempts=3, backoff_s=1.0, jitter=0.0)
    assert policy.delay(1, 500) is None and policy.delay(1, 404) is None
    assert policy.delay(1, 503) == 1.0 and policy.delay(2, 429) == 2.0 and policy.delay(1, None) == 1.0
    assert policy.delay(3, 503) is None  # the last attempt's answer stands


def test_retry_after_is_honoured_in_seconds_and_as_a_date() -> None:
    policy = RetryPolicy(max_wait_s=30)
    assert policy.delay(1, 429, "7") == 7.0
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    assert 17 <= (policy.delay(1, 503, when) or 0) <= 20
    assert policy.delay(1, 429, "600") is None  # longer than we are willing to wait at once
    assert policy.delay(1, 429, "soon") == pytest.approx(policy.backoff_s, rel=0.2)
