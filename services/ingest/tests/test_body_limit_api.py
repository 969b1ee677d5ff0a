"""Every JSON route of the ingest API refuses a body over CQOX_MAX_BODY_BYTES with 413 (the app is
built, not started: the middleware answers before any route, so no servers are needed)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cqox_ingest.app import IngestSettings, create_app


@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/analyses"), ("PUT", "/v1/datasets/d/mapping")])
def test_json_routes_refuse_a_body_over_the_limit(
    method: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CQOX_MAX_BODY_BYTES", "4096")
    client = TestClient(create_app(IngestSettings(api_keys="k:acme:analyst")))
    body = b'{"note": "' + b"x" * 5000 + b'"}'
    headers = {"X-API-Key": "k", "Content-Type": "application/json"}
    response = client.request(method, path, content=body, headers=headers)
    assert response.status_code == 413
    assert "4096 bytes" in response.json()["detail"]
