"""Issued API keys through the admin routes, against a real nats-server and PostgreSQL: shown once,
hashed at rest, tenant-scoped, rotatable and revocable; admin only."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from cqox_ingest.app import IngestSettings, create_app
from cqox_shared.db import ensure_database

pytestmark = pytest.mark.integration

KEYS = "acme-admin:acme:admin,acme-viewer:acme:viewer,acme-analyst:acme:analyst,globex-admin:globex:admin"
ADMIN, VIEWER, ANALYST = ({"X-API-Key": f"acme-{r}"} for r in ("admin", "viewer", "analyst"))
GLOBEX_ADMIN = {"X-API-Key": "globex-admin"}


@pytest.fixture(scope="module")
def database_url(infra) -> str:  # type: ignore[no-untyped-def]
    url = str(infra.database_url).rsplit("/", 1)[0] + f"/ingest_keys_{uuid.uuid4().hex[:8]}"
    ensure_database(url)
    return url


def _settings(own_nats: str, database_url: str, tmp: str, **extra: object) -> IngestSettings:
    return IngestSettings(
        nats_url=own_nats,
        database_url=database_url,
        artifact_url=f"file://{tmp}",
        api_keys=KEYS,
        rate_limit_requests_per_minute=0,
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def client(
    own_nats: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    tmp = str(tmp_path_factory.mktemp("artifacts"))
    settings = _settings(own_nats, database_url, tmp, auth_pepper="a-long-random-server-pepper-0123456789")
    with TestClient(create_app(settings)) as client:
        yield client


def _issue(client: TestClient, role: str = "analyst", headers: dict[str, str] = ADMIN) -> dict[str, object]:
    response = client.post("/v1/admin/keys", json={"name": f"{role} key", "role": role}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _whoami(client: TestClient, key: str) -> int:
    """401 for a refused key; 404 (no such analysis) for an accepted one."""
    return client.get(f"/v1/analyses/{uuid.uuid4()}", headers={"X-API-Key": key}).status_code


def test_issued_key_is_shown_once_and_stored_only_as_a_digest(client: TestClient, database_url: str) -> None:
    created = _issue(client)
    key = str(created["key"])
    assert key.startswith("cqox_") and created["tenant_id"] == "acme" and created["active"]
    assert created["expires_at"] is not None
    assert _whoami(client, key) == 404
    assert (
        client.get(f"/v1/analyses/{uuid.uuid4()}", headers={"Authorization": f"Bearer {key}"}).status_code
        == 404
    )
    listed = client.get("/v1/admin/keys", headers=ADMIN).json()["keys"]
    mine = next(k for k in listed if k["key_id"] == created["key_id"])
    assert "key" not in mine and "digest" not in mine
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM ingest.api_keys")).mappings().all()
    engine.dispose()
    secret = key.rsplit("_", 1)[1]
    assert rows and all(secret not in str(dict(row)) for row in rows)


def test_key_routes_are_admin_only_and_tenant_scoped(client: TestClient) -> None:
    body = {"name": "x", "role": "viewer"}
    assert client.post("/v1/admin/keys", json=body, headers=VIEWER).status_code == 403
    assert client.post("/v1/admin/keys", json=body, headers=ANALYST).status_code == 403
    assert client.get("/v1/admin/keys", headers=ANALYST).status_code == 403
    assert client.post("/v1/admin/keys", json=body).status_code == 401
    created = _issue(client, "viewer")
    key_id = created["key_id"]
    assert client.delete(f"/v1/admin/keys/{key_id}", headers=GLOBEX_ADMIN).status_code == 404
    assert client.post(f"/v1/admin/keys/{key_id}/rotate", headers=GLOBEX_ADMIN).status_code == 404
    globex_keys = client.get("/v1/admin/keys", headers=GLOBEX_ADMIN).json()["keys"]
    assert all(k["tenant_id"] == "globex" for k in globex_keys)
    assert _whoami(client, str(created["key"])) == 404


def test_an_issued_key_carries_its_role(client: TestClient) -> None:
    viewer = str(_issue(client, "viewer")["key"])
    response = client.post("/v1/analyses", json={"dataset_id": "d"}, headers={"X-API-Key": viewer})
    assert response.status_code == 403 and "'viewer'" in response.json()["detail"]


def test_revoked_key_is_refused(client: TestClient) -> None:
    created = _issue(client)
    assert _whoami(client, str(created["key"])) == 404
    response = client.delete(f"/v1/admin/keys/{created['key_id']}", headers=ADMIN)
    assert response.status_code == 200 and not response.json()["active"]
    assert _whoami(client, str(created["key"])) == 401


def test_rotation_replaces_the_secret(client: TestClient) -> None:
    old = _issue(client)
    response = client.post(f"/v1/admin/keys/{old['key_id']}/rotate", headers=ADMIN)
    assert response.status_code == 201, response.text
    new = response.json()
    assert (
        new["key_id"] != old["key_id"] and new["rotated_from"] == old["key_id"] and new["role"] == "analyst"
    )
    assert _whoami(client, str(new["key"])) == 404
    assert _whoami(client, str(old["key"])) == 401
    again = client.post(f"/v1/admin/keys/{old['key_id']}/rotate", headers=ADMIN)
    assert again.status_code == 409


def test_rotation_with_a_grace_period_keeps_the_old_key_for_a_while(client: TestClient) -> None:
    old = _issue(client)
    response = client.post(f"/v1/admin/keys/{old['key_id']}/rotate?grace_seconds=3600", headers=ADMIN)
    assert response.status_code == 201
    assert _whoami(client, str(old["key"])) == 404
    assert _whoami(client, str(response.json()["key"])) == 404


def test_forged_and_unknown_keys_are_401(client: TestClient) -> None:
    created = _issue(client)
    key = str(created["key"])
    assert _whoami(client, key[:-2] + ("xx" if not key.endswith("xx") else "yy")) == 401
    assert _whoami(client, "cqox_0123456789abcdef_" + "A" * 43) == 401
    assert _whoami(client, "") == 401


def test_bad_key_requests_are_422(client: TestClient) -> None:
    for body in (
        {"name": "", "role": "viewer"},
        {"name": "x", "role": "owner"},
        {"name": "x", "role": "viewer", "expires_in_days": 0},
    ):
        response = client.post("/v1/admin/keys", json=body, headers=ADMIN)
        assert response.status_code == 422, body


def test_without_a_pepper_keys_cannot_be_issued(own_nats: str, database_url: str, tmp_path: object) -> None:
    with TestClient(create_app(_settings(own_nats, database_url, str(tmp_path)))) as client:
        response = client.post("/v1/admin/keys", json={"name": "x", "role": "viewer"}, headers=ADMIN)
    assert response.status_code == 409 and "CQOX_AUTH_PEPPER" in response.json()["detail"]
