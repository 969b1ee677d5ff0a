"""The per-tenant quota of concurrent analyses, against a real nats-server and PostgreSQL: the next
analysis over the quota is 429 with the reason and Retry-After, another tenant is untouched, and a
finished analysis frees its slot."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cqox_contracts.v1 import AnalysisFailed
from cqox_ingest.app import IngestSettings, create_app
from cqox_shared.bus import Bus
from cqox_shared.db import ensure_database

pytestmark = pytest.mark.integration

ANALYST, VIEWER, GLOBEX = ({"X-API-Key": k} for k in ("acme-analyst", "acme-viewer", "globex-analyst"))
CSV = b"unit,treated,y\n" + b"".join(f"u{i},{i % 2},{i * 0.5}\n".encode() for i in range(20))


@pytest.fixture(scope="module")
def client(own_nats: str, infra: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    database_url = str(infra.database_url).rsplit("/", 1)[0] + f"/ingest_quota_{uuid.uuid4().hex[:8]}"
    ensure_database(database_url)
    settings = IngestSettings(
        nats_url=own_nats,
        database_url=database_url,
        artifact_url=Path(tmp_path_factory.mktemp("artifacts")).as_uri(),
        api_keys="acme-analyst:acme:analyst,acme-viewer:acme:viewer,globex-analyst:globex:analyst",
        max_concurrent_analyses=2,
        rate_limit_requests_per_minute=0,
        rate_limit_uploads_per_minute=0,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _upload(client: TestClient, headers: dict[str, str]) -> Any:
    files = {"file": ("d.csv", CSV, "text/csv")}
    data = {"name": f"d-{uuid.uuid4().hex[:8]}", "analysis": json.dumps({"methods": ["ols"]})}
    return client.post("/v1/datasets", files=files, data=data, headers=headers)


def _fail(nats_url: str, analysis_id: str) -> None:
    event = AnalysisFailed(
        correlation_id=analysis_id,
        tenant_id="acme",
        producer="estimator",
        analysis_id=analysis_id,
        stage="estimation",
        reason="test",
    )

    async def run() -> None:
        bus = Bus("test")
        await bus.connect(nats_url)
        try:
            await bus.publish_raw(event.subject, event.model_dump_json().encode(), str(event.event_id))
        finally:
            await bus.close()

    asyncio.run(run())


def test_the_quota_refuses_the_next_analysis_and_frees_a_finished_slot(
    client: TestClient, own_nats: str
) -> None:
    first, second = _upload(client, ANALYST), _upload(client, ANALYST)
    assert first.status_code == second.status_code == 202
    refused = _upload(client, ANALYST)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "30"
    assert "2 analyses in flight" in refused.json()["detail"] and "at most 2" in refused.json()["detail"]
    dataset_id = first.json()["dataset_id"]
    again = client.post("/v1/analyses", json={"dataset_id": dataset_id}, headers=ANALYST)
    assert again.status_code == 429
    assert client.put(f"/v1/datasets/{dataset_id}/mapping", json={}, headers=ANALYST).status_code == 429
    # a viewer is refused for its role, not told about the tenant's load
    assert client.post("/v1/analyses", json={"dataset_id": dataset_id}, headers=VIEWER).status_code == 403
    # another tenant is untouched
    assert _upload(client, GLOBEX).status_code == 202
    # reads are never limited by the quota
    assert client.get(f"/v1/analyses/{first.json()['analysis_id']}", headers=ANALYST).status_code == 200

    _fail(own_nats, first.json()["analysis_id"])
    deadline = time.monotonic() + 30
    while (
        client.get(f"/v1/analyses/{first.json()['analysis_id']}", headers=ANALYST).json()["status"]
        != "failed"
    ):
        assert time.monotonic() < deadline, "the failed event was never projected"
        time.sleep(0.1)
    assert _upload(client, ANALYST).status_code == 202
    assert _upload(client, ANALYST).status_code == 429
