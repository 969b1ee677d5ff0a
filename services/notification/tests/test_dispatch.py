"""The dispatcher against a real nats-server and PostgreSQL and real HTTP receivers on 127.0.0.1:
a slow receiver of one tenant holds only its own slots (no row lock across the call), another
tenant's delivery goes at once, and a receiver's endless answer is read only up to the cap."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from cqox_notification.app import NotificationSettings, create_app
from cqox_notification.db.models import Delivery, DeliveryAttempt, Subscription, outbox
from cqox_notification.sealing import SecretSealer
from cqox_shared.db import ensure_database

pytestmark = pytest.mark.integration

SLOW_S = 3.0


class Receivers:
    """Slow, fast and endless receivers; counts concurrent calls to the slow one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.slow_now = self.slow_max = 0
        self.fast_at: list[float] = []
        receivers = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/slow":
                    with receivers.lock:
                        receivers.slow_now += 1
                        receivers.slow_max = max(receivers.slow_max, receivers.slow_now)
                    time.sleep(SLOW_S)
                    with receivers.lock:
                        receivers.slow_now -= 1
                    self.send_response(200)
                    self.end_headers()
                elif self.path == "/endless":  # 200, then a body that never ends
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.end_headers()
                    chunk = b"x" * 65536
                    try:
                        for _ in range(100_000):
                            self.wfile.write(chunk)
                    except OSError:
                        pass
                else:
                    receivers.fast_at.append(time.monotonic())
                    self.send_response(204)
                    self.end_headers()

            def log_message(self, *args: Any) -> None:
                """Quiet."""

        self.servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(2)]
        for server in self.servers:
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def url(self, server: int, path: str) -> str:
        return f"http://127.0.0.1:{self.servers[server].server_address[1]}{path}"

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="module")
def database_url(infra) -> str:  # type: ignore[no-untyped-def]
    url = str(infra.database_url).rsplit("/", 1)[0] + f"/notif_{uuid.uuid4().hex[:8]}"
    ensure_database(url)
    return url


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    running = Receivers()
    yield running
    running.close()


def _subscribe(conn: sa.Connection, tenant: str, url: str) -> str:
    sub_id = str(uuid.uuid4())
    conn.execute(
        sa.insert(Subscription.__table__).values(
            id=sub_id, tenant_id=tenant, url=url, secret=SecretSealer("").seal("k" * 32),
            event_types=["report.generated"], active=True,
        )
    )  # fmt: skip
    return sub_id


def _enqueue(conn: sa.Connection, sub_id: str, tenant: str, n: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    for delivery_id in ids:
        event_id = str(uuid.uuid4())
        conn.execute(
            sa.insert(Delivery.__table__).values(
                id=delivery_id, subscription_id=sub_id, tenant_id=tenant, analysis_id="an_dispatch",
                correlation_id="an_dispatch", causation_id=event_id, event_id=event_id,
                event_type="report.generated", payload="{}", status="pending", attempts=0, last_error="",
            )
        )  # fmt: skip
    return ids


def test_slow_receiver_of_one_tenant_does_not_delay_another(
    own_nats: str, database_url: str, receivers: Receivers
) -> None:
    settings = NotificationSettings(
        nats_url=own_nats, database_url=database_url, api_keys="", auth="disabled",
        webhook_allow_private_targets=True, webhook_concurrency=8, webhook_concurrency_per_target=2,
        webhook_concurrency_per_tenant=6, webhook_timeout_s=2 * SLOW_S,
    )  # fmt: skip
    engine = sa.create_engine(database_url)
    try:
        with TestClient(create_app(settings)):
            with engine.begin() as conn:  # tenant A's eight calls to its slow receiver come first
                slow = _enqueue(conn, _subscribe(conn, "tenant-a", receivers.url(0, "/slow")), "tenant-a", 8)
            time.sleep(1.0)  # A's receiver is now busy with as many calls as its target allows
            with engine.begin() as conn:
                in_flight = conn.execute(
                    sa.select(Delivery.id).where(Delivery.id.in_(slow), Delivery.status == "in_flight")
                ).scalars()
                # No lock is held across the HTTP call: the row can be locked at once.
                locked = conn.execute(
                    sa.select(Delivery.id)
                    .where(Delivery.id.in_(list(in_flight)))
                    .with_for_update(nowait=True)
                ).all()
                assert len(locked) == 2
                enqueued_b = time.monotonic()
                fast_sub = _subscribe(conn, "tenant-b", receivers.url(1, "/b?token=t0k"))
                [fast] = _enqueue(conn, fast_sub, "tenant-b", 1)
                [endless] = _enqueue(
                    conn, _subscribe(conn, "tenant-b", receivers.url(1, "/endless")), "tenant-b", 1
                )
            deadline = time.monotonic() + 20
            statuses: dict[str, str] = {}
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    statuses = dict(
                        conn.execute(
                            sa.select(Delivery.id, Delivery.status).where(Delivery.id.in_([fast, endless]))
                        ).all()
                    )
                if set(statuses.values()) == {"delivered"}:
                    break
                time.sleep(0.05)
            assert statuses == {fast: "delivered", endless: "delivered"}
            # Tenant B's call went out while A's receiver was still sleeping on its first calls.
            assert receivers.fast_at and receivers.fast_at[0] - enqueued_b < 1.5
            assert receivers.slow_max == 2  # the per-target limit, never more at once
            with engine.connect() as conn:
                endless_ms = conn.execute(
                    sa.select(DeliveryAttempt.duration_ms).where(DeliveryAttempt.delivery_id == endless)
                ).scalar_one()
                # The endless answer (6.5 GB if read) was dropped after the 64 KiB cap.
                assert endless_ms < 2000
                [event] = conn.execute(
                    sa.select(outbox.c.payload).where(outbox.c.payload.contains(fast_sub))
                ).scalars()
                # The URL (its token) never travels in an event: only scheme, host and port.
                assert "t0k" not in event and receivers.url(1, "/…") in event
    finally:
        engine.dispose()
