"""Roles and tenants on every route of the ingest API, against a real nats-server and PostgreSQL and
a local OIDC issuer this module starts (real RSA keys, its JWKS served over loopback HTTP).

The matrix is generated from the app's route table: a route without a policy below fails the test,
so a new route cannot be left out. Each route is called as viewer, analyst (a bearer token), admin,
the admin of another tenant, with no credentials, a bad key and an expired token.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from cqox_contracts.v1 import Artifact, ReportGenerated
from cqox_ingest.app import IngestSettings, create_app
from cqox_shared.artifacts import LocalArtifactStore
from cqox_shared.bus import Bus
from cqox_shared.db import ensure_database

pytestmark = pytest.mark.integration

ISSUER, AUDIENCE = "https://issuer.test", "cqox-ingest"
KEYS = "acme-viewer:acme:viewer,acme-analyst:acme:analyst,acme-admin:acme:admin,globex-admin:globex:admin"
PEPPER = "matrix-test-pepper-0123456789abcdef"
CSV = b"unit,treated,y,x\n" + b"".join(f"u{i},{i % 2},{i * 0.5},{i % 7}\n".encode() for i in range(40))


class LocalIssuer:
    """An OIDC issuer in miniature: one RSA key, its JWKS served on a free loopback port."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key())), "kid": "k1"}
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

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.jwks_url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"

    def token(self, tenant: str, role: str, *, expires_in: int = 300, sub: str = "alice") -> str:
        """A signed token for `tenant` with `role`."""
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + expires_in}
        claims |= {"org": tenant, "cqox_roles": [role]}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1"})


@dataclass
class World:
    """The running app and the objects of tenant acme the matrix reads and writes."""

    client: TestClient
    issuer: LocalIssuer
    store: LocalArtifactStore
    nats_url: str
    dataset_id: str = ""
    analysis_id: str = ""
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def new_key_id(self) -> str:
        """A fresh issued key of acme (for the routes that rotate or revoke one)."""
        body = {"name": "matrix", "role": "viewer"}
        response = self.client.post("/v1/admin/keys", json=body, headers=self.headers["admin"])
        assert response.status_code == 201, response.text
        return str(response.json()["key_id"])


def publish(nats_url: str, event: Any) -> None:
    """Say an event on the bus, as another service would."""

    async def run() -> None:
        bus = Bus("test")
        await bus.connect(nats_url)
        try:
            await bus.publish_raw(event.subject, event.model_dump_json().encode(), str(event.event_id))
        finally:
            await bus.close()

    asyncio.run(run())


def report_event(world: World, analysis_id: str, tenant: str, artifacts: dict[str, str]) -> ReportGenerated:
    """report.generated naming artifacts stored under the given keys."""
    stored = [
        Artifact(
            name=name, uri=world.store.put_bytes(key, _content(name), _media(name)), media_type=_media(name)
        )
        for name, key in artifacts.items()
    ]
    return ReportGenerated(
        correlation_id=analysis_id,
        tenant_id=tenant,
        producer="visualization",
        analysis_id=analysis_id,
        report_uri=stored[0].uri,
        artifacts=stored,
        headline="test",
    )


def _media(name: str) -> str:
    return "text/html" if name == "report" else "image/png"


def _content(name: str) -> bytes:
    if name == "report":
        return b"<!doctype html><html><body><script>var x=1;</script><p>report</p></body></html>"
    return b"\x89PNG\r\n\x1a\n" + name.encode()


def wait_status(world: World, analysis_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
    """Poll the read model until the analysis reaches `status`."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = world.client.get(f"/v1/analyses/{analysis_id}", headers=world.headers["admin"]).json()
        if body.get("status") == status:
            return body
        time.sleep(0.1)
    raise AssertionError(f"analysis {analysis_id} never reached {status}: {body}")


def upload(world: World, headers: dict[str, str], name: str | None = None) -> dict[str, Any]:
    """Upload the small CSV as the given caller."""
    files = {"file": ("data.csv", CSV, "text/csv")}
    data = {"name": name or f"d-{uuid.uuid4().hex[:8]}", "analysis": json.dumps({"methods": ["ols"]})}
    response = world.client.post("/v1/datasets", files=files, data=data, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def world(own_nats: str, infra: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    database_url = str(infra.database_url).rsplit("/", 1)[0] + f"/ingest_sec_{uuid.uuid4().hex[:8]}"
    ensure_database(database_url)
    artifacts = Path(tmp_path_factory.mktemp("artifacts"))
    issuer = LocalIssuer()
    settings = IngestSettings(
        nats_url=own_nats,
        database_url=database_url,
        artifact_url=artifacts.as_uri(),
        api_keys=KEYS,
        auth_pepper=PEPPER,
        oidc_jwks_url=issuer.jwks_url,
        oidc_issuer=ISSUER,
        oidc_audience=AUDIENCE,
        oidc_tenant_claim="org",
        oidc_role_claim="cqox_roles",
        rate_limit_requests_per_minute=0,
        rate_limit_uploads_per_minute=0,
    )
    with TestClient(create_app(settings)) as client:
        world = World(client, issuer, LocalArtifactStore(artifacts), own_nats)
        world.headers = {
            "viewer": {"X-API-Key": "acme-viewer"},
            "analyst": {"Authorization": f"Bearer {issuer.token('acme', 'analyst')}"},
            "admin": {"X-API-Key": "acme-admin"},
            "other_tenant": {"X-API-Key": "globex-admin"},
            "no_key": {},
            "bad_key": {"X-API-Key": "not-a-key"},
            "expired_token": {"Authorization": f"Bearer {issuer.token('acme', 'admin', expires_in=-3600)}"},
        }
        created = upload(world, world.headers["admin"], name="matrix")
        world.dataset_id, world.analysis_id = created["dataset_id"], created["analysis_id"]
        artifacts_of = {
            "report": f"acme/analyses/{world.analysis_id}/report.html",
            "forest": f"acme/analyses/{world.analysis_id}/forest.png",
        }
        publish(own_nats, report_event(world, world.analysis_id, "acme", artifacts_of))
        wait_status(world, world.analysis_id, "completed")
        yield world
        issuer.server.shutdown()


# --- the matrix -------------------------------------------------------------------------------

Request = tuple[str, dict[str, Any]]  # url, httpx keyword arguments


@dataclass(frozen=True)
class Policy:
    """Who may call a route and what it needs: the least role, whether it names acme's object
    (another tenant gets 404) and how to build a request that succeeds for an allowed caller."""

    role: str | None  # None: any authenticated caller (the docs)
    by_id: bool
    ok: int
    build: Callable[[World], Request]


def _upload_request(world: World) -> Request:
    files = {"file": ("data.csv", CSV, "text/csv")}
    return "/v1/datasets", {"files": files, "data": {"name": f"m-{uuid.uuid4().hex[:8]}"}}


POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/openapi.json"): Policy(None, False, 200, lambda w: ("/openapi.json", {})),
    ("GET", "/docs"): Policy(None, False, 200, lambda w: ("/docs", {})),
    ("POST", "/v1/datasets"): Policy("analyst", False, 202, _upload_request),
    ("GET", "/v1/datasets"): Policy("viewer", False, 200, lambda w: ("/v1/datasets", {})),
    ("GET", "/v1/datasets/{dataset_id}"): Policy(
        "viewer", True, 200, lambda w: (f"/v1/datasets/{w.dataset_id}", {})
    ),
    ("GET", "/v1/datasets/{dataset_id}/versions"): Policy(
        "viewer", True, 200, lambda w: (f"/v1/datasets/{w.dataset_id}/versions", {})
    ),
    ("GET", "/v1/datasets/{dataset_id}/schema"): Policy(
        "viewer", True, 200, lambda w: (f"/v1/datasets/{w.dataset_id}/schema", {})
    ),
    ("GET", "/v1/datasets/{dataset_id}/versions/{version}/schema"): Policy(
        "viewer", True, 200, lambda w: (f"/v1/datasets/{w.dataset_id}/versions/1/schema", {})
    ),
    ("PUT", "/v1/datasets/{dataset_id}/mapping"): Policy(
        "analyst", True, 202, lambda w: (f"/v1/datasets/{w.dataset_id}/mapping", {"json": {}})
    ),
    ("POST", "/v1/analyses"): Policy(
        "analyst",
        True,
        202,
        lambda w: ("/v1/analyses", {"json": {"dataset_id": w.dataset_id, "methods": ["ols"]}}),
    ),
    ("GET", "/v1/analyses/{analysis_id}"): Policy(
        "viewer", True, 200, lambda w: (f"/v1/analyses/{w.analysis_id}", {})
    ),
    ("GET", "/v1/analyses/{analysis_id}/events"): Policy(
        "viewer", True, 200, lambda w: (f"/v1/analyses/{w.analysis_id}/events", {})
    ),
    ("GET", "/v1/analyses/{analysis_id}/report"): Policy(
        "viewer", True, 200, lambda w: (f"/v1/analyses/{w.analysis_id}/report", {})
    ),
    ("GET", "/v1/analyses/{analysis_id}/artifacts/{name}"): Policy(
        "viewer", True, 200, lambda w: (f"/v1/analyses/{w.analysis_id}/artifacts/forest", {})
    ),
    ("POST", "/v1/admin/keys"): Policy(
        "admin", False, 201, lambda w: ("/v1/admin/keys", {"json": {"name": "m", "role": "viewer"}})
    ),
    ("GET", "/v1/admin/keys"): Policy("admin", False, 200, lambda w: ("/v1/admin/keys", {})),
    ("POST", "/v1/admin/keys/{key_id}/rotate"): Policy(
        "admin", True, 201, lambda w: (f"/v1/admin/keys/{w.new_key_id()}/rotate", {})
    ),
    ("DELETE", "/v1/admin/keys/{key_id}"): Policy(
        "admin", True, 200, lambda w: (f"/v1/admin/keys/{w.new_key_id()}", {})
    ),
}
CALLERS = ("viewer", "analyst", "admin", "other_tenant", "no_key", "bad_key", "expired_token")
RANK = {"viewer": 0, "analyst": 1, "admin": 2, "other_tenant": 2}
PUBLIC = {"/healthz", "/readyz", "/metrics"}


def expected(policy: Policy, caller: str) -> int:
    """The status a caller must get from a route with this policy."""
    if caller in ("no_key", "bad_key", "expired_token"):
        return 401
    if policy.role is not None and RANK[caller] < RANK[policy.role]:
        return 403
    if caller == "other_tenant" and policy.by_id:
        return 404
    return policy.ok


def routes_of(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) the app serves (included routers flattened), besides the public
    health and metrics routes."""
    found = []
    for route in iter_route_contexts(app.routes):
        if route.path is None or route.path in PUBLIC:
            continue
        found += [
            (method, route.path)
            for method in sorted(getattr(route, "methods", None) or ())
            if method != "HEAD"
        ]
    return found


def test_every_route_has_a_policy(world: World) -> None:
    served = set(routes_of(world.client.app))
    assert {("GET", "/v1/analyses/{analysis_id}"), ("POST", "/v1/admin/keys")} <= served
    missing = served - set(POLICIES)
    assert not missing, f"routes without a policy in the security matrix (add them): {sorted(missing)}"


def test_role_and_tenant_matrix(world: World) -> None:
    failures = []
    for method, path in routes_of(world.client.app):
        policy = POLICIES[(method, path)]
        for caller in CALLERS:
            url, kwargs = policy.build(world)
            if caller == "other_tenant" and path == "/v1/analyses":
                kwargs = {"json": {"dataset_id": world.dataset_id}}
            response = world.client.request(method, url, headers=world.headers[caller], **kwargs)
            want = expected(policy, caller)
            if response.status_code != want:
                failures.append(
                    f"{method} {path} as {caller}: {response.status_code} (want {want}) {response.text[:120]}"
                )
    assert not failures, "\n".join(failures)


def test_public_routes_need_no_key(world: World) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert world.client.get(path).status_code == 200, path
