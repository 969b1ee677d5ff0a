"""The upload route against a real nats-server and PostgreSQL: two concurrent first uploads of one
new dataset name are versions of one dataset (202 and 202), or the second is a breaking schema
change (409), never a 500 from the unique (tenant, name) constraint; a file that would have to be
read whole over the limit for that is refused with 413 and leaves nothing behind; an upload exists
on disk once while it is converted."""

from __future__ import annotations

import os
import stat
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from cqox_ingest.app import IngestSettings, create_app
from cqox_ingest.datasets import views
from cqox_ingest.readers import delimited
from cqox_shared.db import ensure_database

pytestmark = pytest.mark.integration

KEY = {"X-API-Key": "acme-key"}
PAIRS = 2  # the race is wide: the first upload holds its transaction while it stores its files


class _BoundedSettings(IngestSettings):
    max_whole_read_bytes: int = 8192  # stands in for 64 MiB


@pytest.fixture(scope="module")
def database_url(infra) -> str:  # type: ignore[no-untyped-def]
    url = str(infra.database_url).rsplit("/", 1)[0] + f"/ingest_race_{uuid.uuid4().hex[:8]}"
    ensure_database(url)
    return url


@pytest.fixture(scope="module")
def client(
    own_nats: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    artifacts = tmp_path_factory.mktemp("artifacts")
    settings = _BoundedSettings(
        nats_url=own_nats,
        database_url=database_url,
        artifact_url=f"file://{artifacts}",
        api_keys="acme-key:acme:analyst",
        rate_limit_uploads_per_minute=0,
        rate_limit_requests_per_minute=0,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _together(client: TestClient, name: str, bodies: list[bytes]) -> list[httpx.Response]:
    def post(body: bytes) -> httpx.Response:
        return client.post(
            "/v1/datasets", headers=KEY, files={"file": (f"{name}.csv", body)}, data={"name": name}
        )

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


def _datasets(database_url: str, name: str) -> int:
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        count = conn.execute(
            sa.text("SELECT count(*) FROM ingest.datasets WHERE name = :n"), {"n": name}
        ).scalar_one()
    engine.dispose()
    return int(count)


def test_same_schema_first_uploads_become_versions_1_and_2(client: TestClient, database_url: str) -> None:
    body = b"unit,treated,y\n" + b"".join(f"u{i},{i % 2},{i * 0.5}\n".encode() for i in range(2000))
    for pair in range(PAIRS):
        name = f"race-same-{pair}"
        responses = _together(client, name, [body, body])
        assert [r.status_code for r in responses] == [202, 202], [r.text for r in responses]
        assert sorted(r.json()["version"] for r in responses) == [1, 2]
        assert len({r.json()["dataset_id"] for r in responses}) == 1
        assert _datasets(database_url, name) == 1


def test_breaking_first_uploads_give_one_202_and_one_clean_409(client: TestClient, database_url: str) -> None:
    rows = range(2000)
    with_y = b"unit,treated,y\n" + b"".join(f"u{i},{i % 2},{i * 0.5}\n".encode() for i in rows)
    with_z = b"unit,treated,z\n" + b"".join(f"u{i},{i % 2},{i * 0.5}\n".encode() for i in rows)
    for pair in range(PAIRS):
        name = f"race-breaking-{pair}"
        responses = _together(client, name, [with_y, with_z])
        codes = sorted(r.status_code for r in responses)
        assert codes == [202, 409], [r.text for r in responses]
        refused = next(r for r in responses if r.status_code == 409).json()
        assert "breaking schema change" in refused["detail"] and refused["diff"]["breaking"] is True
        assert _datasets(database_url, name) == 1


def test_a_file_that_would_be_read_whole_over_the_limit_is_refused_with_413(
    client: TestClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delimited, "STREAM_BLOCK_BYTES", 4096)  # so the late value is past block one
    body = b"unit,y\n" + b"".join(f"u{i},{i}\n".encode() for i in range(3000)) + b"u,late text\n"
    response = client.post(
        "/v1/datasets", headers=KEY, files={"file": ("late.csv", body)}, data={"name": "late-retype"}
    )
    assert response.status_code == 413, response.text
    detail = response.json()["detail"]
    assert "column 'y'" in detail and "8192-byte limit" in detail and "one type throughout" in detail
    assert _datasets(database_url, "late-retype") == 0


def test_an_upload_is_on_disk_once_while_it_is_converted(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # every temporary file of this process here
    # 1.5 MB: past the 1 MiB that Starlette's spooled file keeps in memory
    body = b"unit,y\n" + b"".join(f"u{i:07d},{i % 97}\n".encode() for i in range(100_000))
    copies: list[set[tuple[int, int]]] = []
    convert = views.convert

    def counting(raw: Path, *args: Any, **kwargs: Any) -> Any:
        # Files of the upload's size: named ones under the temp dir, and open ones (a spooled
        # temporary file has no name), told apart by inode.
        found = {
            (st.st_dev, st.st_ino)
            for p in tmp_path.rglob("*")
            if p.is_file() and (st := p.stat()).st_size == len(body)
        }
        for fd in os.listdir("/proc/self/fd"):
            try:
                st = os.fstat(int(fd))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_size == len(body):
                found.add((st.st_dev, st.st_ino))
        copies.append(found)
        return convert(raw, *args, **kwargs)

    monkeypatch.setattr(views, "convert", counting)
    response = client.post(
        "/v1/datasets", headers=KEY, files={"file": ("big.csv", body)}, data={"name": "one-copy"}
    )
    assert response.status_code == 202, response.text
    assert [len(found) for found in copies] == [1]
    assert not any(tmp_path.iterdir())  # the work directory is gone with the request
