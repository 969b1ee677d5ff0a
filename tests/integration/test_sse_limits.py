"""Event streams are bounded (issue 15): per key (429 with Retry-After beyond it) and in time; a
stream ended at its limit resumes with Last-Event-ID, neither losing nor repeating an event.

On the real stack, against a second ingest replica started with small bounds; the analysis waits
for a mapping confirmation, so its stream would otherwise stay open forever."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from cqox_stack.stack import Stack
from tests.integration.conftest import upload
from tests.integration.test_mapping_roles import opaque_names, wait_status

pytestmark = pytest.mark.integration

LIMIT_S = 1.5


def _read(client: httpx.Client, path: str, last_id: str | None = None) -> tuple[list[str], list[str]]:
    """(ids, lines) of one whole stream, from the first line to the server closing it."""
    headers = {"Last-Event-ID": last_id} if last_id else {}
    ids, lines = [], []
    with client.stream("GET", path, headers=headers, timeout=30) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            lines.append(line)
            if line.startswith("id: "):
                ids.append(line[4:])
    return ids, lines


def test_streams_are_capped_per_key_and_in_time_and_resume(
    api: httpx.Client, stack: Stack, tmp_path: Path
) -> None:
    bounded = stack.start_service(
        "ingest",
        wait=False,
        env={"CQOX_SSE_MAX_STREAMS_PER_KEY": "2", "CQOX_SSE_MAX_STREAM_S": str(LIMIT_S)},
    )
    try:
        created = upload(api, opaque_names(tmp_path / "opaque.csv"), name="sse-limits")
        stack.wait_ready(bounded)
        wait_status(api, created["analysis_id"], "awaiting_confirmation")
        path = f"/v1/analyses/{created['analysis_id']}/events"
        with httpx.Client(base_url=bounded.url) as client:
            started = time.monotonic()
            ids, lines = _read(client, path)
            # Ended by the server at its limit, cleanly, with no `end`: the analysis goes on.
            assert LIMIT_S <= time.monotonic() - started < LIMIT_S + 5
            assert lines[0] == "retry: 1000"
            assert "reconnect with Last-Event-ID" in lines[-2] and not any(x == "event: end" for x in lines)
            assert len(ids) >= 2 and ids == sorted(ids, key=int)
            events = [x for x in lines if x.startswith("event: ")]
            assert len(events) == len(ids)  # every event carries its id
            # Resuming from the middle sends exactly the rest; from the last id, nothing again.
            rest, _ = _read(client, path, last_id=ids[0])
            assert rest == ids[1:]
            again, _ = _read(client, path, last_id=ids[-1])
            assert again == []
            bad = client.get(path, headers={"Last-Event-ID": "x"})
            assert bad.status_code == 422 and "Last-Event-ID" in bad.json()["detail"]

            with client.stream("GET", path) as one, client.stream("GET", path) as two:
                assert one.status_code == two.status_code == 200
                third = client.get(path)
                assert third.status_code == 429
                assert 1 <= int(third.headers["Retry-After"]) <= 30
                assert "already has 2 event streams open" in third.json()["detail"]
            # Both places come back when the streams close (here: the client leaving).
            deadline = time.monotonic() + 10
            while (status := client.get(path, timeout=30).status_code) == 429 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert status == 200
    finally:
        bounded.process.stop()
        stack.services.pop(bounded.name, None)
