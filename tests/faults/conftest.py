"""The fault-injection suite: the whole stack as real processes on a real nats-server and PostgreSQL
(as `make demo` runs it), and faults injected for real: SIGKILL, PostgreSQL stopped and restarted,
NATS restarted, poison messages. Cases marked `faults` take minutes and run only when asked
(`make faults`, CQOX_FAULTS=1); the others are cheap and run in `make test`.

For every case: each analysis ends (completed, or failed with a reason), none is duplicated, no
event is lost (events per analysis counted against the flow an analysis goes through), and the
stack serves a new analysis afterwards."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cqox_stack.stack import Stack

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "customers.csv"
# Short deadlines, so an analysis that would hang fails within a test's patience; long enough
# that none trips during the longest fault (PostgreSQL stopped for 60 s).
FAULT_ENV = {
    "CQOX_ACK_WAIT_S": "5",  # a killed worker's message comes back quickly
    "CQOX_WEBHOOK_BACKOFF_S": "0.3",
    "CQOX_STAGE_DEADLINES_S": json.dumps(
        {"mapping": 150, "quality-gate": 150, "estimator": 180, "visualization": 150}
    ),
    "CQOX_ANALYSIS_DEADLINE_S": "420",
    "CQOX_DEADLINE_SWEEP_INTERVAL_S": "2",
    "CQOX_LOG_LEVEL": "INFO",
}
ONE_METHOD = {"methods": ["ols"]}
# What one completed analysis with one method says, event by event, in its timeline.
COMPLETED_FLOW = {
    "dataset.ingested": 1,
    "dataset.mapped": 1,
    "dataset.qualified": 1,
    "estimate.requested": 1,
    "estimate.completed": 1,
    "analysis.estimated": 1,
    "analysis.assessed": 1,
    "report.generated": 1,
}
TERMINAL = ("completed", "failed", "rejected")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: slow fault-injection case (make faults, CQOX_FAULTS=1)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    enabled = os.environ.get("CQOX_FAULTS") == "1"
    skip = pytest.mark.skip(reason="slow fault-injection case: run `make faults` (CQOX_FAULTS=1)")
    for item in items:
        if item.get_closest_marker("faults") is not None and not enabled:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fault_stack() -> Iterator[Stack]:
    """The whole stack of the fault suite, its own (faults must not reach other suites' stacks)."""
    root = Path(tempfile.mkdtemp(prefix="cqox-faults-"))
    running = Stack(root, env_overrides=FAULT_ENV)
    try:
        running.start()
        yield running
    finally:
        running.remove()
        shutil.rmtree(root, ignore_errors=True)


def client(stack: Stack) -> httpx.Client:
    """An HTTP client of the ingest API as it runs now (a restarted ingest has a new port)."""
    return httpx.Client(base_url=stack.api_url, timeout=60)


def upload(stack: Stack, name: str, spec: dict[str, Any] | None = None) -> str:
    """Upload the sample with an analysis spec; the analysis id."""
    with client(stack) as api, SAMPLE.open("rb") as handle:
        response = api.post(
            "/v1/datasets",
            files={"file": (SAMPLE.name, handle, "text/csv")},
            data={"analysis": json.dumps(spec or ONE_METHOD), "name": name},
        )
    assert response.status_code == 202, response.text
    return str(response.json()["analysis_id"])


def status(stack: Stack, analysis_id: str) -> dict[str, Any]:
    """The analysis as the API shows it now."""
    with client(stack) as api:
        return api.get(f"/v1/analyses/{analysis_id}").json()  # type: ignore[no-any-return]


def wait_status(stack: Stack, analysis_id: str, statuses: tuple[str, ...], timeout: float = 60) -> str:
    """Poll until the analysis reaches one of `statuses` (or any later terminal one)."""
    deadline = time.monotonic() + timeout
    current = ""
    while time.monotonic() < deadline:
        try:
            current = status(stack, analysis_id)["status"]
        except httpx.HTTPError:
            current = "unreachable"
        if current in statuses or current in TERMINAL:
            return current
        time.sleep(0.05)
    raise AssertionError(f"{analysis_id} never reached {statuses}: {current}")


def wait_ended(stack: Stack, analysis_id: str, timeout: float = 300) -> dict[str, Any]:
    """Poll until the analysis ends; fail the test if it is still open after `timeout` (hung)."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            body = status(stack, analysis_id)
        except httpx.HTTPError:
            body = {"status": "api unreachable"}
        if body.get("status") in TERMINAL:
            return body
        time.sleep(0.5)
    raise AssertionError(f"analysis {analysis_id} hung at {body.get('status')} for {timeout:.0f}s")


def timeline(stack: Stack, analysis_id: str) -> Counter[str]:
    """How many events of each type the read model recorded for the analysis."""
    engine = sa.create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT event_type, count(*) FROM ingest.analysis_events "
                    "WHERE analysis_id = :a GROUP BY event_type"
                ),
                {"a": analysis_id},
            ).all()
    finally:
        engine.dispose()
    return Counter({row[0]: int(row[1]) for row in rows})


def sse_end(stack: Stack, analysis_id: str, timeout: float = 60) -> tuple[list[str], str]:
    """The event types an analysis's SSE stream sends, and the status its `end` names."""
    seen: list[str] = []
    with (
        client(stack) as api,
        api.stream("GET", f"/v1/analyses/{analysis_id}/events", timeout=timeout) as response,
    ):
        event = ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
                seen.append(event)
            elif line.startswith("data:") and event == "end":
                return seen, str(json.loads(line.split(":", 1)[1])["status"])
    raise AssertionError(f"SSE stream of {analysis_id} closed without an end: {seen}")


def assert_ended_whole(stack: Stack, analysis_id: str, timeout: float = 300) -> dict[str, Any]:
    """The analysis ended; completed with exactly the flow's events (none lost, none twice), or
    failed once with a stage and a reason (and no event twice); its SSE stream ends the same way."""
    body = wait_ended(stack, analysis_id, timeout)
    events = timeline(stack, analysis_id)
    if body["status"] == "completed":
        assert events == COMPLETED_FLOW, f"{analysis_id}: {dict(events)}"
    elif body["status"] == "rejected":
        assert body["error"] and events["dataset.rejected"] == 1, (body, dict(events))
    else:
        assert body["status"] == "failed" and body["error"], body
        stage, _, reason = body["error"].partition(": ")
        assert stage and reason, body["error"]
        assert events["analysis.failed"] == 1, dict(events)
        assert all(events[t] <= n for t, n in COMPLETED_FLOW.items()), dict(events)
    seen, ended = sse_end(stack, analysis_id)
    assert ended == body["status"] and seen[-1] == "end", (seen, ended)
    return body


def assert_serves(stack: Stack, name: str = "after-fault") -> None:
    """The stack takes a new upload and completes it whole."""
    for service in stack.services.values():
        stack.wait_ready(service)
    body = assert_ended_whole(stack, upload(stack, name), timeout=180)
    assert body["status"] == "completed", body


def restart(stack: Stack, name: str, *, kill: bool = True) -> None:
    """SIGKILL (or stop) a service's process and start it again under the same name."""
    old = stack.services.pop(name)
    if kill:
        old.process.kill()
    else:
        old.process.stop()
    stack.start_service(name)
