"""The notification API takes the same credentials as ingest (configured keys hashed at start, OIDC
bearer tokens from a local issuer this module starts), with the same answers and failure counts."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from cqox_notification.app import NotificationSettings, create_app
from cqox_shared.db import ensure_database

pytestmark = pytest.mark.integration

ISSUER, AUDIENCE = "https://issuer.test", "cqox-notification"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    jwk = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key())), "kid": "k1"}
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()


def _token(role: str, expires_in: int = 300) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "bob",
        "exp": now + expires_in,
        "tenant": "acme",
        "roles": [role],
    }
    return jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture(scope="module")
def client(own_nats: str, infra: Any, jwks_url: str) -> Iterator[TestClient]:
    database_url = str(infra.database_url).rsplit("/", 1)[0] + f"/notif_sec_{uuid.uuid4().hex[:8]}"
    ensure_database(database_url)
    settings = NotificationSettings(
        nats_url=own_nats,
        database_url=database_url,
        api_keys="acme-viewer:acme:viewer",
        oidc_jwks_url=jwks_url,
        oidc_issuer=ISSUER,
        oidc_audience=AUDIENCE,
        rate_limit_requests_per_minute=0,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_keys_and_tokens_on_the_notification_api(client: TestClient) -> None:
    analyst = {"Authorization": f"Bearer {_token('analyst')}"}
    assert client.get("/v1/subscriptions", headers=analyst).status_code == 200
    assert client.get("/v1/subscriptions", headers={"X-API-Key": "acme-viewer"}).status_code == 200
    body = {"url": "https://example.com/hook"}
    assert (
        client.post("/v1/subscriptions", json=body, headers={"X-API-Key": "acme-viewer"}).status_code == 403
    )
    for headers in (
        {},
        {"X-API-Key": "nope"},
        {"Authorization": f"Bearer {_token('admin', expires_in=-600)}"},
    ):
        response = client.get("/v1/subscriptions", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
    metrics = client.get("/metrics").text
    assert 'cqox_auth_failures_total{reason="token_expired",service="notification"}' in metrics
