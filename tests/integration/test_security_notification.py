"""The notification API takes the same credentials as ingest (configured keys hashed at start, OIDC
bearer tokens from a local issuer this module starts), with the same answers and failure counts,
and the keys ingest issues: ingest says every key change on the bus, notification mirrors it. Both
services run here on a real nats-server and PostgreSQL, each with its own database."""

from __future__ import annotations

import asyncio
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

from cqox_contracts.v1 import KeyIssued
from cqox_ingest.app import IngestSettings
from cqox_ingest.app import create_app as create_ingest_app
from cqox_notification.app import NotificationSettings, create_app
from cqox_shared.auth import key_digest, key_state_signature, new_key
from cqox_shared.bus import Bus
from cqox_shared.db import ensure_database

pytestmark = pytest.mark.integration

ISSUER, AUDIENCE = "https://issuer.test", "cqox-notification"
PEPPER = "notification-test-pepper-0123456789abcdef"
INGEST_ADMIN = {"X-API-Key": "acme-admin"}
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
        auth_pepper=PEPPER,
        webhook_allow_private_targets=True,  # the hook below is on loopback (no DNS here)
        oidc_jwks_url=jwks_url,
        oidc_issuer=ISSUER,
        oidc_audience=AUDIENCE,
        rate_limit_requests_per_minute=0,
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def ingest(own_nats: str, infra: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The ingest API on the same bus, with the same pepper: it issues the keys."""
    database_url = str(infra.database_url).rsplit("/", 1)[0] + f"/ingest_keys_{uuid.uuid4().hex[:8]}"
    ensure_database(database_url)
    settings = IngestSettings(
        nats_url=own_nats,
        database_url=database_url,
        artifact_url=tmp_path_factory.mktemp("artifacts").as_uri(),
        api_keys="acme-admin:acme:admin",
        auth_pepper=PEPPER,
        rate_limit_requests_per_minute=0,
        rate_limit_uploads_per_minute=0,
    )
    with TestClient(create_ingest_app(settings)) as client:
        yield client


def status_on_notification(client: TestClient, key: str) -> int:
    """What notification answers a list of subscriptions made with this key."""
    return client.get("/v1/subscriptions", headers={"X-API-Key": key}).status_code


def wait_status(client: TestClient, key: str, status: int, timeout: float = 15) -> float:
    """Seconds until notification answers `status` for the key (fails after `timeout`)."""
    started = time.monotonic()
    while (answer := status_on_notification(client, key)) != status:
        assert time.monotonic() - started < timeout, f"still {answer}, not {status}, after {timeout} s"
        time.sleep(0.1)
    return time.monotonic() - started


def issue(ingest: TestClient, role: str) -> dict[str, Any]:
    """A key issued by an admin of acme at ingest."""
    response = ingest.post(
        "/v1/admin/keys", json={"name": f"{role} on notification", "role": role}, headers=INGEST_ADMIN
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


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


def test_an_ingest_issued_key_works_on_notification_with_its_role_and_tenant(
    client: TestClient, ingest: TestClient
) -> None:
    analyst, viewer = issue(ingest, "analyst")["key"], issue(ingest, "viewer")["key"]
    wait_status(client, analyst, 200)
    wait_status(client, viewer, 200)
    body = {"url": "http://127.0.0.1:9/hook"}
    created = client.post("/v1/subscriptions", json=body, headers={"X-API-Key": analyst})
    assert created.status_code == 201, created.text
    assert client.post("/v1/subscriptions", json=body, headers={"X-API-Key": viewer}).status_code == 403
    # The subscription is acme's: acme's configured viewer key sees it.
    listed = client.get("/v1/subscriptions", headers={"X-API-Key": "acme-viewer"}).json()
    assert created.json()["id"] in {s["id"] for s in listed}


def test_a_key_revoked_or_rotated_at_ingest_stops_working_on_notification_within_seconds(
    client: TestClient, ingest: TestClient
) -> None:
    revoked, rotated = issue(ingest, "viewer"), issue(ingest, "viewer")
    for key in (revoked, rotated):
        wait_status(client, key["key"], 200)
        assert status_on_notification(client, key["key"]) == 200  # now cached on this replica
    assert ingest.delete(f"/v1/admin/keys/{revoked['key_id']}", headers=INGEST_ADMIN).status_code == 200
    replacement = ingest.post(f"/v1/admin/keys/{rotated['key_id']}/rotate", headers=INGEST_ADMIN)
    assert replacement.status_code == 201, replacement.text
    took = wait_status(client, revoked["key"], 401, timeout=10)
    assert took < 8, f"revocation took {took:.1f} s to reach notification"
    assert (
        "revoked" in client.get("/v1/subscriptions", headers={"X-API-Key": revoked["key"]}).json()["detail"]
    )
    wait_status(client, rotated["key"], 401, timeout=10)  # rotated without grace: the old secret stops
    wait_status(client, replacement.json()["key"], 200)


def publish(nats_url: str, event: Any) -> None:
    """Say an event on the bus, as anyone who can reach NATS could."""

    async def run() -> None:
        bus = Bus("test")
        await bus.connect(nats_url)
        try:
            await bus.publish_raw(event.subject, event.model_dump_json().encode(), str(event.event_id))
        finally:
            await bus.close()

    asyncio.run(run())


def test_a_forged_key_event_is_refused(client: TestClient, own_nats: str) -> None:
    """Someone on the bus without the pepper forges an admin key of another tenant with a digest
    copied from an event; it is refused, while a state signed under the pepper is applied."""
    forged_secret, signed_secret = new_key(), new_key()
    digest = key_digest(PEPPER.encode(), forged_secret.secret)  # as if copied from a key event
    common = {"correlation_id": "k", "producer": "ingest", "tenant_id": "globex", "role": "admin"}
    forged = KeyIssued(**common, key_id=forged_secret.key_id, digest=digest, signature="0" * 64)
    state = {
        "key_id": signed_secret.key_id,
        "tenant_id": "globex",
        "role": "admin",
        "digest": key_digest(PEPPER.encode(), signed_secret.secret),
        "expires_at": None,
        "revoked_at": None,
    }
    signed = KeyIssued(**{**common, **state}, signature=key_state_signature(PEPPER.encode(), **state))
    publish(own_nats, forged)
    publish(own_nats, signed)  # the same consumer, in order: once this works, the forged one was handled
    wait_status(client, signed_secret.token, 200)
    assert status_on_notification(client, forged_secret.token) == 401
