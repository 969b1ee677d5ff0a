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
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from cqox_contracts.v1 import AnalysisFailed, Artifact, ReportGenerated
from cqox_ingest.app import IngestSettings, create_app
from cqox_shared.artifacts import LocalArtifactStore
from cqox_shared.bus import Bus
from cqox_shared.db import ensure_database

pytestmark = pytest.mark.integration

ISSUER, AUDIENCE = "https://issuer.test", "cqox-ingest"
KEYS = (
    "acme-viewer:acme:viewer,acme-analyst:acme:analyst,acme-admin:acme:admin,globex-admin:globex:admin,"
    "initech-analyst:initech:analyst"
)
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
    database_url: str
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
        world = World(client, issuer, LocalArtifactStore(artifacts), own_nats, database_url)
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
    ("GET", "/v1/admin/audit"): Policy("admin", False, 200, lambda w: ("/v1/admin/audit?limit=5", {})),
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


# --- objects served: tenant prefix, no internal URIs, headers ---------------------------------


def test_responses_carry_download_links_not_object_uris(world: World) -> None:
    response = world.client.get(f"/v1/analyses/{world.analysis_id}", headers=world.headers["viewer"])
    text = response.text
    assert "file:" not in text and "s3://" not in text and str(world.store.root) not in text
    report = response.json()["report"]
    assert report["url"] == f"/v1/analyses/{world.analysis_id}/report"
    links = {a["name"]: a["url"] for a in report["artifacts"]}
    assert links["forest"] == f"/v1/analyses/{world.analysis_id}/artifacts/forest"
    assert world.client.get(links["forest"], headers=world.headers["viewer"]).content.startswith(b"\x89PNG")
    for url in (f"/v1/datasets/{world.dataset_id}", f"/v1/datasets/{world.dataset_id}/versions"):
        text = world.client.get(url, headers=world.headers["viewer"]).text
        assert "file:" not in text and "s3://" not in text and str(world.store.root) not in text, url


def test_the_report_is_served_with_a_csp_that_fetches_nothing(world: World) -> None:
    response = world.client.get(f"/v1/analyses/{world.analysis_id}/report", headers=world.headers["viewer"])
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'unsafe-inline'" in csp
    assert "connect-src 'none'" in csp and "frame-ancestors 'none'" in csp and "http" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    figure = world.client.get(
        f"/v1/analyses/{world.analysis_id}/artifacts/forest", headers=world.headers["viewer"]
    )
    assert "script-src" not in figure.headers["content-security-policy"]
    assert "sandbox" in figure.headers["content-security-policy"]


def test_json_answers_and_refusals_carry_the_headers(world: World) -> None:
    for headers in (world.headers["viewer"], {}):
        response = world.client.get(f"/v1/analyses/{world.analysis_id}", headers=headers)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


@pytest.mark.parametrize(
    ("where", "uri"),
    [
        ("another tenant", "globex/analyses/{id}/stolen.png"),
        ("another analysis", "acme/analyses/00000000-0000-0000-0000-000000000000/other.png"),
        ("the tenant root", "acme/stolen.png"),
        ("outside the store", "file:///etc/hostname"),
        ("another store", "s3://bucket/acme/analyses/{id}/x.png"),
        ("a walk out", "file://{root}/acme/analyses/{id}/../../../globex/analyses/{id}/stolen.png"),
    ],
)
def test_an_artifact_outside_the_tenant_prefix_is_404(world: World, where: str, uri: str) -> None:
    created = upload(world, world.headers["admin"])
    analysis_id = created["analysis_id"]
    # The victim's object exists; the forged event points the attacker's analysis at it.
    victim = world.store.put_bytes(f"globex/analyses/{analysis_id}/stolen.png", b"\x89PNG secret")
    uri = uri.format(id=analysis_id, root=world.store.root)
    if "://" not in uri:
        uri = victim if uri.startswith("globex/") else world.store.put_bytes(uri, b"\x89PNG other")
    own = world.store.put_bytes(f"acme/analyses/{analysis_id}/report.html", b"<html></html>")
    event = ReportGenerated(
        correlation_id=analysis_id,
        tenant_id="acme",
        producer="visualization",
        analysis_id=analysis_id,
        report_uri=own,
        artifacts=[
            Artifact(name="report", uri=own, media_type="text/html"),
            Artifact(name="forged", uri=uri, media_type="image/png"),
        ],
    )
    publish(world.nats_url, event)
    wait_status(world, analysis_id, "completed")
    response = world.client.get(
        f"/v1/analyses/{analysis_id}/artifacts/forged", headers=world.headers["admin"]
    )
    assert response.status_code == 404, (where, response.text)
    assert b"secret" not in response.content
    assert (
        world.client.get(f"/v1/analyses/{analysis_id}/report", headers=world.headers["admin"]).status_code
        == 200
    )


# --- the audit log --------------------------------------------------------------------------


def audit(world: World, caller: str = "admin", **filters: Any) -> list[dict[str, Any]]:
    """The audit entries the caller's tenant admin reads with these filters."""
    response = world.client.get("/v1/admin/audit", params=filters, headers=world.headers[caller])
    assert response.status_code == 200, response.text
    return response.json()["entries"]  # type: ignore[no-any-return]


def test_reads_of_results_are_audited_with_who_and_from_where(world: World) -> None:
    url = f"/v1/analyses/{world.analysis_id}/report"
    assert world.client.get(url, headers=world.headers["viewer"]).status_code == 200
    entry = audit(world, action="analysis.report", target=world.analysis_id, limit=1)[0]
    assert entry["role"] == "viewer" and entry["actor"].startswith("config-") and entry["outcome"] == "ok"
    assert entry["client"] == "testclient" and entry["tenant_id"] == "acme"


def test_writes_are_audited_with_the_token_subject(world: World) -> None:
    created = upload(world, world.headers["analyst"])
    entry = audit(world, action="dataset.upload", target=created["dataset_id"])[0]
    assert entry["actor"] == "alice" and entry["role"] == "analyst" and entry["outcome"] == "ok"
    assert audit(world, actor="alice", action="dataset.upload", target=created["dataset_id"]) == [entry]


def test_refusals_are_audited_in_the_callers_tenant(world: World) -> None:
    body = {"dataset_id": world.dataset_id}
    assert world.client.post("/v1/analyses", json=body, headers=world.headers["viewer"]).status_code == 403
    denied = audit(world, action="analysis.create", outcome="denied", limit=1)[0]
    assert denied["role"] == "viewer" and denied["detail"]["status"] == "403"
    url = f"/v1/analyses/{world.analysis_id}/report"
    assert world.client.get(url, headers=world.headers["other_tenant"]).status_code == 404
    probe = audit(world, "other_tenant", action="analysis.report", target=world.analysis_id)[0]
    assert probe["outcome"] == "not_found" and probe["tenant_id"] == "globex"
    assert all(e["tenant_id"] == "acme" for e in audit(world, target=world.analysis_id))


def test_audit_pages_newest_first(world: World) -> None:
    first = world.client.get("/v1/admin/audit", params={"limit": 3}, headers=world.headers["admin"]).json()
    ids = [e["id"] for e in first["entries"]]
    assert ids == sorted(ids, reverse=True) and first["next_before"] == ids[-1]
    second = audit(world, limit=3, before=first["next_before"])
    assert all(e["id"] < ids[-1] for e in second)
    assert (
        world.client.get(
            "/v1/admin/audit", params={"outcome": "maybe"}, headers=world.headers["admin"]
        ).status_code
        == 422
    )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ingest.audit_log SET outcome = 'ok'",
        "DELETE FROM ingest.audit_log",
        "TRUNCATE ingest.audit_log",
    ],
)
def test_the_database_keeps_the_audit_log_append_only(world: World, statement: str) -> None:
    engine = sa.create_engine(world.database_url)
    try:
        with engine.connect() as conn:
            before = conn.execute(sa.text("SELECT count(*) FROM ingest.audit_log")).scalar_one()
            assert before > 0
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                conn.execute(sa.text(statement))
            conn.rollback()
            assert conn.execute(sa.text("SELECT count(*) FROM ingest.audit_log")).scalar_one() == before
    finally:
        engine.dispose()


def test_auth_failures_are_counted(world: World) -> None:
    def failures(reason: str) -> float:
        for line in world.client.get("/metrics").text.splitlines():
            if (
                line.startswith("cqox_auth_failures_total{")
                and f'reason="{reason}"' in line
                and '"ingest"' in line
            ):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = {r: failures(r) for r in ("unknown_key", "missing", "token_expired")}
    url = f"/v1/analyses/{world.analysis_id}"
    world.client.get(url, headers=world.headers["bad_key"])
    world.client.get(url)
    world.client.get(url, headers=world.headers["expired_token"])
    assert {r: failures(r) - before[r] for r in before} == {
        "unknown_key": 1,
        "missing": 1,
        "token_expired": 1,
    }


def test_an_event_of_another_tenant_does_not_touch_the_analysis(world: World) -> None:
    created = upload(world, world.headers["admin"])
    analysis_id = created["analysis_id"]
    forged = report_event(
        world, analysis_id, "globex", {"report": f"globex/analyses/{analysis_id}/report.html"}
    )
    honest = report_event(world, analysis_id, "acme", {"report": f"acme/analyses/{analysis_id}/report.html"})
    publish(world.nats_url, forged)
    publish(world.nats_url, honest)  # after the forged one on the same stream and consumer
    wait_status(world, analysis_id, "completed")
    engine = sa.create_engine(world.database_url)
    try:
        with engine.connect() as conn:
            recorded = set(
                conn.execute(
                    sa.text("SELECT event_id FROM ingest.analysis_events WHERE analysis_id = :id"),
                    {"id": analysis_id},
                ).scalars()
            )
    finally:
        engine.dispose()
    assert str(honest.event_id) in recorded and str(forged.event_id) not in recorded
    report = world.client.get(f"/v1/analyses/{analysis_id}/report", headers=world.headers["admin"])
    assert report.status_code == 200


# --- issued keys ------------------------------------------------------------------------------


def issue(world: World, role: str = "analyst", caller: str = "admin") -> dict[str, Any]:
    """A key issued by the caller's admin."""
    body = {"name": f"{role} key", "role": role}
    response = world.client.post("/v1/admin/keys", json=body, headers=world.headers[caller])
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def status_with(world: World, key: str) -> int:
    """401 for a refused key; 404 (no such analysis) for an accepted one."""
    return world.client.get(f"/v1/analyses/{uuid.uuid4()}", headers={"X-API-Key": key}).status_code


def test_an_issued_key_is_shown_once_and_stored_only_as_a_digest(world: World) -> None:
    created = issue(world)
    key = str(created["key"])
    assert key.startswith("cqox_") and created["tenant_id"] == "acme" and created["active"]
    assert created["expires_at"] is not None
    assert status_with(world, key) == 404
    bearer = world.client.get(f"/v1/analyses/{uuid.uuid4()}", headers={"Authorization": f"Bearer {key}"})
    assert bearer.status_code == 404
    listed = world.client.get("/v1/admin/keys", headers=world.headers["admin"]).json()["keys"]
    mine = next(k for k in listed if k["key_id"] == created["key_id"])
    assert "key" not in mine and "digest" not in mine
    assert all(k["tenant_id"] == "acme" for k in listed)
    engine = sa.create_engine(world.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT * FROM ingest.api_keys")).mappings().all()
    finally:
        engine.dispose()
    secret = key.rsplit("_", 1)[1]
    assert rows and all(secret not in str(dict(row)) for row in rows)


def test_an_issued_key_carries_its_role_and_tenant(world: World) -> None:
    viewer = str(issue(world, "viewer")["key"])
    response = world.client.post(
        "/v1/analyses", json={"dataset_id": world.dataset_id}, headers={"X-API-Key": viewer}
    )
    assert response.status_code == 403 and "'viewer'" in response.json()["detail"]
    globex = str(issue(world, "admin", caller="other_tenant")["key"])
    url = f"/v1/analyses/{world.analysis_id}"
    assert world.client.get(url, headers={"X-API-Key": globex}).status_code == 404
    assert world.client.get(url, headers={"X-API-Key": viewer}).status_code == 200


def test_a_revoked_key_is_refused(world: World) -> None:
    created = issue(world)
    assert status_with(world, str(created["key"])) == 404
    response = world.client.delete(f"/v1/admin/keys/{created['key_id']}", headers=world.headers["admin"])
    assert response.status_code == 200 and not response.json()["active"]
    assert status_with(world, str(created["key"])) == 401


def test_rotation_replaces_the_secret(world: World) -> None:
    old = issue(world)
    response = world.client.post(f"/v1/admin/keys/{old['key_id']}/rotate", headers=world.headers["admin"])
    assert response.status_code == 201, response.text
    new = response.json()
    assert (
        new["key_id"] != old["key_id"] and new["rotated_from"] == old["key_id"] and new["role"] == "analyst"
    )
    assert status_with(world, str(new["key"])) == 404
    assert status_with(world, str(old["key"])) == 401
    again = world.client.post(f"/v1/admin/keys/{old['key_id']}/rotate", headers=world.headers["admin"])
    assert again.status_code == 409


def test_rotation_with_a_grace_period_keeps_the_old_key_for_a_while(world: World) -> None:
    old = issue(world)
    url = f"/v1/admin/keys/{old['key_id']}/rotate?grace_seconds=3600"
    response = world.client.post(url, headers=world.headers["admin"])
    assert response.status_code == 201
    assert status_with(world, str(old["key"])) == 404
    assert status_with(world, str(response.json()["key"])) == 404


def test_forged_and_unknown_keys_are_401(world: World) -> None:
    key = str(issue(world)["key"])
    assert status_with(world, key[:-2] + ("xx" if not key.endswith("xx") else "yy")) == 401
    assert status_with(world, "cqox_0123456789abcdef_" + "A" * 43) == 401


def test_bad_key_requests_are_422(world: World) -> None:
    for body in (
        {"name": "", "role": "viewer"},
        {"name": "x", "role": "owner"},
        {"name": "x", "role": "viewer", "expires_in_days": 0},
        {"name": "a\x00b", "role": "viewer"},
    ):
        response = world.client.post("/v1/admin/keys", json=body, headers=world.headers["admin"])
        assert response.status_code == 422, body


# --- the per-tenant quota of concurrent analyses ----------------------------------------------


def test_the_quota_refuses_the_next_analysis_and_frees_a_finished_slot(world: World) -> None:
    settings = world.client.app.state.runtime.settings  # type: ignore[attr-defined]
    analyst, viewer = {"X-API-Key": "initech-analyst"}, world.headers["viewer"]
    limit = settings.max_concurrent_analyses
    settings.max_concurrent_analyses = 2  # initech has none in flight; acme has a few
    try:
        first, second = upload(world, analyst), upload(world, analyst)
        files = {"file": ("d.csv", CSV, "text/csv")}
        refused = world.client.post("/v1/datasets", files=files, data={"name": "over"}, headers=analyst)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "30"
        detail = refused.json()["detail"]
        assert "tenant initech has 2 analyses in flight" in detail and "at most 2" in detail
        body = {"dataset_id": first["dataset_id"]}
        assert world.client.post("/v1/analyses", json=body, headers=analyst).status_code == 429
        mapping = f"/v1/datasets/{first['dataset_id']}/mapping"
        assert world.client.put(mapping, json={}, headers=analyst).status_code == 429
        # a viewer is refused for its role, not told about the tenant's load
        acme_body = {"dataset_id": world.dataset_id}
        assert world.client.post("/v1/analyses", json=acme_body, headers=viewer).status_code == 403
        # reads are not limited, and the refusal is audited as such
        assert world.client.get(f"/v1/analyses/{first['analysis_id']}", headers=analyst).status_code == 200
        failed = AnalysisFailed(
            correlation_id=first["analysis_id"],
            tenant_id="initech",
            producer="estimator",
            analysis_id=first["analysis_id"],
            stage="estimation",
            reason="test",
        )
        publish(world.nats_url, failed)
        deadline = time.monotonic() + 30
        url = f"/v1/analyses/{first['analysis_id']}"
        while world.client.get(url, headers=analyst).json()["status"] != "failed":
            assert time.monotonic() < deadline, "the failed event was never projected"
            time.sleep(0.1)
        assert upload(world, analyst)["analysis_id"] != second["analysis_id"]
        assert world.client.post("/v1/analyses", json=body, headers=analyst).status_code == 429
    finally:
        settings.max_concurrent_analyses = limit
