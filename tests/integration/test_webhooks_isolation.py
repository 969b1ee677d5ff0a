"""One tenant's slow webhook receiver does not hold up another tenant's deliveries (issue 15).

On the real stack: tenant `default` has eight webhooks on one receiver that takes 5 s per call; a
second ingest and notification process serve tenant `tenant-b` (their default tenant), whose one
webhook answers at once. Both tenants' datasets are rejected by a data gate; tenant B's webhook
arrives within a bound of its event while tenant A's receiver is still busy."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from cqox_stack.stack import Stack
from tests.integration.conftest import upload

pytestmark = pytest.mark.integration

SLOW_S = 5.0
BOUND_S = 3.0  # from tenant B's event to its webhook arriving; the serial dispatcher took >= 5 s


class Receiver:
    """A webhook receiver on 127.0.0.1 that sleeps `delay_s` per call and notes arrivals."""

    def __init__(self, delay_s: float) -> None:
        self.arrivals: list[tuple[float, dict[str, Any]]] = []
        self.busy = 0
        self.lock = threading.Lock()
        state = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with state.lock:
                    state.arrivals.append((time.time(), body))
                    state.busy += 1
                time.sleep(delay_s)
                with state.lock:
                    state.busy -= 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _one_arm_csv(path: Path) -> Path:
    rows = "\n".join(f"{i},{20 + i % 30},1,{i % 7 + 0.5}" for i in range(200))
    path.write_text("customer_id,age,received_coupon,spend\n" + rows + "\n")
    return path


def _subscribe(url: str, target: str) -> str:
    body = {"url": target, "event_types": ["dataset.rejected"]}
    response = httpx.post(f"{url}/v1/subscriptions", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_slow_receiver_of_one_tenant_does_not_delay_another(
    api: httpx.Client, stack: Stack, tmp_path: Path
) -> None:
    slow, fast = Receiver(SLOW_S), Receiver(0.0)
    tenant_b = {"CQOX_DEFAULT_TENANT": "tenant-b"}
    ingest_b = stack.start_service("ingest", wait=False, env=tenant_b)
    notification_b = stack.start_service("notification", wait=False, env=tenant_b)
    notification = stack.services["notification"].url
    subscriptions: list[str] = []
    try:
        stack.wait_ready(notification_b)
        _subscribe(notification_b.url, fast.url)
        notification_b.process.stop()  # one dispatcher only: the stack's own
        subscriptions = [_subscribe(notification, slow.url) for _ in range(8)]
        spec = {"methods": "auto", "roles": {"treatment": "received_coupon", "outcome": "spend"}}
        upload(api, _one_arm_csv(tmp_path / "a.csv"), spec=spec)
        deadline = time.monotonic() + 60
        while not slow.arrivals and time.monotonic() < deadline:
            time.sleep(0.05)
        assert slow.arrivals, "tenant A's webhooks never arrived"
        stack.wait_ready(ingest_b)
        with httpx.Client(base_url=ingest_b.url, timeout=60) as api_b:
            created_b = upload(api_b, _one_arm_csv(tmp_path / "b.csv"), spec=spec)
        while not fast.arrivals and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fast.arrivals, "tenant B's webhook never arrived"
        arrived, event = fast.arrivals[0]
        assert event["tenant_id"] == "tenant-b" and event["analysis_id"] == created_b["analysis_id"]
        delay = arrived - datetime.fromisoformat(event["occurred_at"]).timestamp()
        assert delay < BOUND_S, f"tenant B's webhook came {delay:.1f} s after its event"
        # ... while tenant A's receiver was still working through its eight slow calls (two
        # rounds of four, the per-target limit).
        assert slow.busy > 0
    finally:
        for sub_id in subscriptions:
            httpx.delete(f"{notification}/v1/subscriptions/{sub_id}", timeout=10)
        for extra in (ingest_b, notification_b):
            extra.process.stop()
            stack.services.pop(extra.name, None)
        slow.close()
        fast.close()
