"""Per-principal rate limits on the ingest API, against a real nats-server and PostgreSQL: a
refused upload gets 429 with Retry-After and a message, leaves nothing behind, and touches no other
tenant; health and metrics are never limited."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from cqox_ingest.app import IngestSettings, create_app
from cqox_shared.db import ensure_database

pytestmark = pytest.mark.integration

ACME = {"X-API-Key": "acme-key"}
GLOBEX = {"X-API-Key": "globex-key"}
CSV = b"unit,treated,y\na,1,2.0\nb,0,1.0\nc,1,3.0\nd,0,1.5\n"


@pytest.fixture(scope="module")
def database_url(infra) -> str:  # type: ignore[no-untyped-def]
    url = str(infra.database_url).rsplit("/", 1)[0] + f"/ingest_rl_{uuid.uuid4().hex[:8]}"
    ensure_database(url)
    return url


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def client(own_nats: str, database_url: str, artifacts: Path) -> Iterator[TestClient]:
    settings = IngestSettings(
        nats_url=own_nats,
        database_url=database_url,
        artifact_url=f"file://{artifacts}",
        api_keys="acme-key:acme:analyst,globex-key:globex:analyst",
        rate_limit_uploads_per_minute=2,
        rate_limit_requests_per_minute=5,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _state(database_url: str, artifacts: Path) -> tuple[int, int, int, int]:
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        counts = [
            conn.execute(sa.text(f"SELECT count(*) FROM ingest.{table}")).scalar_one()
            for table in ("datasets", "dataset_versions", "analyses", "outbox")
        ]
    engine.dispose()
    files = sum(1 for p in artifacts.rglob("*") if p.is_file()) if artifacts.exists() else 0
    return counts[0], counts[1], counts[2], files


def _upload(client: TestClient, headers: dict[str, str], name: str) -> httpx.Response:
    return client.post(
        "/v1/datasets", headers=headers, files={"file": (f"{name}.csv", CSV)}, data={"name": name}
    )


def test_settings_default_generously_and_read_their_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CQOX_RATE_LIMIT_REQUESTS_PER_MINUTE", "CQOX_RATE_LIMIT_UPLOADS_PER_MINUTE"):
        monkeypatch.delenv(var, raising=False)
    assert IngestSettings().rate_limit_requests_per_minute == 600
    assert IngestSettings().rate_limit_uploads_per_minute == 60
    monkeypatch.setenv("CQOX_RATE_LIMIT_UPLOADS_PER_MINUTE", "0")
    assert IngestSettings().rate_limit_uploads_per_minute == 0


def test_third_upload_is_refused_and_leaves_nothing(
    client: TestClient, database_url: str, artifacts: Path
) -> None:
    for i in range(2):
        accepted = _upload(client, ACME, f"acme-{i}")
        assert accepted.status_code == 202, accepted.text
        assert accepted.headers["RateLimit-Limit"] == "2"
        assert accepted.headers["RateLimit-Remaining"] == str(1 - i)
    before = _state(database_url, artifacts)

    refused = _upload(client, ACME, "acme-2")
    assert refused.status_code == 429
    retry = int(refused.headers["Retry-After"])
    assert 25 <= retry <= 30  # a token every 30 s, counted from the first upload
    assert refused.json() == {
        "detail": f"rate limit of 2 uploads per minute for tenant acme exceeded; retry in {retry} s"
    }
    assert _state(database_url, artifacts) == before

    # Another tenant is unaffected, and so are acme's other requests.
    assert _upload(client, GLOBEX, "globex-0").status_code == 202
    assert client.get("/v1/datasets/none", headers=ACME).status_code == 404

    # Health and metrics are never limited; the refusal is counted by route class.
    for _ in range(20):
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
    metrics = client.get("/metrics").text
    assert 'cqox_http_rate_limited_total{route_class="upload",service="ingest"}' in metrics
    assert "acme" not in "".join(line for line in metrics.splitlines() if "rate_limited" in line)


def test_other_requests_have_their_own_higher_limit(client: TestClient) -> None:
    for _ in range(5):
        assert client.get("/v1/datasets/none", headers=GLOBEX).status_code == 404
    refused = client.get("/v1/datasets/none", headers=GLOBEX)
    assert refused.status_code == 429
    retry = int(refused.headers["Retry-After"])
    assert 8 <= retry <= 12  # a token every 12 s
    assert refused.json()["detail"] == (
        f"rate limit of 5 requests per minute for tenant globex exceeded; retry in {retry} s"
    )
    assert _upload(client, GLOBEX, "globex-1").status_code == 202
