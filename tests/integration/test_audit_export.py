"""Audit entries leave the ingest API as `audit.recorded` events, through the outbox: on the whole
stack (every service its own process, NATS with per-service users), and on a real nats-server and
PostgreSQL with the ingest API served by uvicorn on a free port, where reads are shown to be buffered
off the request path, written in batches, and written when the server stops."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from nats.js.api import ConsumerConfig, DeliverPolicy

from cqox_contracts.v1 import AuditRecorded, parse_event
from cqox_ingest.app import IngestSettings, create_app
from cqox_shared.bus import Bus
from cqox_shared.db import ensure_database
from cqox_stack.stack import Stack
from tests.integration.test_fuzz_api import served

pytestmark = pytest.mark.integration

KEYS = "acme-viewer:acme:viewer,acme-analyst:acme:analyst,acme-admin:acme:admin"
VIEWER, ANALYST, ADMIN = ({"X-API-Key": f"acme-{role}"} for role in ("viewer", "analyst", "admin"))
CSV = b"unit,treated,y\n" + b"".join(f"u{i},{i % 2},{i * 0.5}\n".encode() for i in range(20))


@contextmanager
def ingest_server(nats_url: str, database_url: str, artifacts: Path, **overrides: Any) -> Iterator[str]:
    """The ingest API under uvicorn on a free loopback port, stopped (lifespan shutdown) on exit."""
    settings = IngestSettings(
        nats_url=nats_url,
        database_url=database_url,
        artifact_url=artifacts.as_uri(),
        api_keys=KEYS,
        auth_pepper="audit-export-pepper-0123456789abcdef",
        rate_limit_requests_per_minute=0,
        rate_limit_uploads_per_minute=0,
        **overrides,
    )
    with served(create_app(settings)) as url:
        yield url


def audit_events(nats_url: str) -> list[AuditRecorded]:
    """Every audit.recorded event on the bus so far, read by a consumer of the CQOX_AUDIT stream."""

    async def read() -> list[AuditRecorded]:
        bus = Bus("audit-test")
        await bus.connect(nats_url)
        try:
            assert bus.js is not None
            sub = await bus.js.pull_subscribe(
                "cqox.v1.audit.recorded",
                stream="CQOX_AUDIT",
                config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
            )
            events: list[AuditRecorded] = []
            while True:
                try:
                    msgs = await sub.fetch(batch=500, timeout=0.25)
                except TimeoutError:
                    return events
                for msg in msgs:
                    event = parse_event(msg.data)
                    assert isinstance(event, AuditRecorded)
                    events.append(event)
                    await msg.ack()
        finally:
            await bus.close()

    return asyncio.run(read())


def wait_for_events(
    nats_url: str, match: Callable[[AuditRecorded], bool], count: int, timeout: float = 15
) -> list[AuditRecorded]:
    """The matching events once `count` of them are on the bus."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in audit_events(nats_url) if match(e)]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.fixture(scope="module")
def database_url(infra: Any) -> str:
    url = str(infra.database_url).rsplit("/", 1)[0] + f"/ingest_audit_{uuid.uuid4().hex[:8]}"
    ensure_database(url)
    return url


def stored_entries(database_url: str, target: str) -> list[dict[str, Any]]:
    """The audit log's rows about one object, read straight from PostgreSQL."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT id, action, actor, outcome FROM ingest.audit_log WHERE target = :t ORDER BY id"
                ),
                {"t": target},
            )
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def count_listed(database_url: str, role: str) -> int:
    """Stored dataset.list entries of a role."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            query = "SELECT count(*) FROM ingest.audit_log WHERE action = 'dataset.list' AND role = :r"
            return int(conn.execute(sa.text(query), {"r": role}).scalar_one())
    finally:
        engine.dispose()


def test_reads_are_written_off_the_request_path_before_an_admin_reads_and_at_shutdown(
    own_nats: str, database_url: str, tmp_path: Path
) -> None:
    target = f"an-{uuid.uuid4().hex[:12]}"
    # A flush interval far beyond the test: only an admin's read of the log or the shutdown writes.
    with ingest_server(own_nats, database_url, tmp_path, audit_flush_interval_s=3600) as url:
        for _ in range(3):
            assert httpx.get(f"{url}/v1/datasets/{target}", headers=VIEWER).status_code == 404
        assert len(stored_entries(database_url, target)) == 3  # refusals are written at once, like writes
        for _ in range(2):
            assert httpx.get(f"{url}/v1/datasets", headers=ANALYST).status_code == 200
        assert count_listed(database_url, "analyst") == 0  # buffered, not written on the request path
        page = httpx.get(
            f"{url}/v1/admin/audit", headers=ADMIN, params={"action": "dataset.list", "limit": 5}
        )
        assert page.status_code == 200  # the admin's read wrote the buffer first
        assert [(e["role"], e["client"]) for e in page.json()["entries"]] == [("analyst", "127.0.0.1")] * 2
        for _ in range(4):
            assert httpx.get(f"{url}/v1/datasets", headers=VIEWER).status_code == 200
        assert count_listed(database_url, "viewer") == 0
    # The server stopped: the buffer was drained, and the entries were said on the bus.
    assert count_listed(database_url, "viewer") == 4
    listed = wait_for_events(own_nats, lambda e: e.action == "dataset.list" and e.role == "viewer", 4)
    assert len(listed) == 4 and all(e.client == "127.0.0.1" and e.tenant_id == "acme" for e in listed)


def test_the_stack_says_a_write_and_a_read_on_the_bus(stack: Stack, api: httpx.Client) -> None:
    """The ingest process as the stack runs it (CQOX_AUTH=disabled: every caller is admin of the
    default tenant) exports its entries on the stack's bus, under its own NATS user."""
    assert stack.nats is not None
    # The analysis names a column the file lacks: it fails at mapping at once, no estimation runs.
    spec = json.dumps({"methods": "auto", "roles": {"treatment": "no_such_column"}})
    files = {"file": ("audit.csv", CSV, "text/csv")}
    uploaded = api.post(
        "/v1/datasets", files=files, data={"name": f"audit-{uuid.uuid4().hex[:6]}", "analysis": spec}
    )
    assert uploaded.status_code == 202, uploaded.text
    dataset_id = uploaded.json()["dataset_id"]
    assert api.get(f"/v1/datasets/{dataset_id}").status_code == 200
    assert api.get(f"/v1/datasets/nope-{dataset_id}").status_code == 404
    events = wait_for_events(stack.nats.url, lambda e: dataset_id in e.target, 3)
    seen = {(e.action, e.outcome, e.target, e.tenant_id, e.actor, e.role, e.client) for e in events}
    who = ("default", "auth-disabled", "admin", "127.0.0.1")
    assert seen == {
        ("dataset.upload", "ok", dataset_id, *who),
        ("dataset.read", "ok", dataset_id, *who),
        ("dataset.read", "not_found", f"nope-{dataset_id}", *who),
    }
    assert all(e.producer == "ingest" for e in events) and len({e.event_id for e in events}) == 3
    # Each event is one stored entry, with its id.
    stored = {row["id"]: row for row in stored_entries(stack.database_url, dataset_id)}
    assert {
        (stored[e.entry_id]["action"], stored[e.entry_id]["outcome"])
        for e in events
        if e.target == dataset_id
    } == {
        ("dataset.upload", "ok"),
        ("dataset.read", "ok"),
    }
