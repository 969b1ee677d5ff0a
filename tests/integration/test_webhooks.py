"""Webhook subscriptions: signed deliveries, retried with back-off, every attempt recorded."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from cqox_stack.processes import free_port
from cqox_stack.stack import Stack
from tests.integration.conftest import EXAMPLES, upload, wait_done

pytestmark = pytest.mark.integration
SECRET = "s3cret-of-twenty-four-chars"


class Receiver(BaseHTTPRequestHandler):
    """Answers 503 to the first POST, 200 afterwards; keeps what it got."""

    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append({"headers": dict(self.headers), "body": body})
        self.send_response(503 if len(self.received) == 1 else 200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet."""


def test_report_webhook_is_signed_retried_and_recorded(api: httpx.Client, stack: Stack) -> None:
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    notification = stack.services["notification"].url
    try:
        created = upload(api, EXAMPLES / "customers.csv", name="webhook", spec={"methods": ["ols"]})
        sub = httpx.post(
            f"{notification}/v1/subscriptions",
            json={
                "url": f"http://127.0.0.1:{port}/hook",
                "analysis_id": created["analysis_id"],
                "secret": SECRET,
                "event_types": ["report.generated"],
            },
        )
        assert sub.status_code == 201, sub.text
        analysis = wait_done(api, created["analysis_id"])
        assert analysis["status"] == "completed"
        for _ in range(100):
            deliveries = httpx.get(f"{notification}/v1/subscriptions/{sub.json()['id']}/deliveries").json()
            if deliveries and deliveries[0]["status"] == "delivered":
                break
            time.sleep(0.1)
        assert deliveries[0]["status"] == "delivered"
        assert [a["status_code"] for a in deliveries[0]["attempts"]] == [503, 200]
        assert len(Receiver.received) == 2
        final = Receiver.received[-1]
        timestamp = final["headers"]["X-Cqox-Timestamp"]
        expected = hmac.new(
            SECRET.encode(), f"{timestamp}.".encode() + final["body"], hashlib.sha256
        ).hexdigest()
        assert final["headers"]["X-Cqox-Signature"] == f"sha256={expected}"
        event = json.loads(final["body"])
        assert event["event_type"] == "report.generated" and event["analysis_id"] == created["analysis_id"]
        bad = httpx.post(f"{notification}/v1/subscriptions", json={"url": "ftp://x"})
        assert bad.status_code == 422 and "http" in bad.json()["detail"]
        weak = httpx.post(
            f"{notification}/v1/subscriptions", json={"url": f"http://127.0.0.1:{port}/h", "secret": "s3cret"}
        )
        assert weak.status_code == 422 and "at least 24" in weak.json()["detail"]
    finally:
        server.shutdown()
