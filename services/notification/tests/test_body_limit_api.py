"""The notification API refuses a JSON body over CQOX_MAX_BODY_BYTES with 413 (the app is built,
not started: the middleware answers before any route, so no servers are needed)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cqox_notification.app import NotificationSettings, create_app


def test_subscription_route_refuses_a_body_over_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CQOX_MAX_BODY_BYTES", "4096")
    client = TestClient(create_app(NotificationSettings(api_keys="k:acme:analyst")))
    body = b'{"url": "https://example.org/hook", "note": "' + b"x" * 5000 + b'"}'
    headers = {"X-API-Key": "k", "Content-Type": "application/json"}
    response = client.post("/v1/subscriptions", content=body, headers=headers)
    assert response.status_code == 413
    assert "4096 bytes" in response.json()["detail"]
