"""Bad files through the HTTP API: a 4xx naming the problem, and nothing half-written."""

from __future__ import annotations

import importlib.util
import json
import select
import socket
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
import sqlalchemy as sa

from cqox_stack.stack import Stack
from tests.integration.conftest import REPO

pytestmark = pytest.mark.integration


def _state(stack: Stack) -> tuple[int, int, int, int]:
    engine = sa.create_engine(stack.database_url)
    with engine.connect() as conn:
        counts = [
            conn.execute(sa.text(f"SELECT count(*) FROM ingest.{table}")).scalar_one()
            for table in ("datasets", "dataset_versions", "analyses", "outbox")
        ]
    engine.dispose()
    files = sum(1 for p in stack.artifacts.rglob("*") if p.is_file()) if stack.artifacts.exists() else 0
    return counts[0], counts[1], counts[2], files


CORPUS: list[tuple[str, bytes, int, str]] = [
    ("ragged.csv", b"a,b\n1,2\n3,4,5\n", 422, "line 3 has 3 fields"),
    ("bad.json", b'[{"a": 1},\n {"a": }]', 422, "invalid JSON at line 2"),
    (
        "wide.csv",
        (",".join(f"c{i}" for i in range(3000)) + "\n" + ",".join(["1"] * 3000)).encode(),
        422,
        "3000 columns",
    ),
    ("cell.csv", b"a,b\n1," + b"x" * (3 << 20) + b"\n", 422, "column 'b', row 1"),
    ("dup.csv", b"a,a\n1,2\n", 422, "duplicate column names"),
    ("page.csv", b"<html><body>Please sign in</body></html>", 415, "HTML"),
    ("header-only.csv", "顧客,売上\n".encode("cp932"), 422, "no data rows"),
]


@pytest.mark.parametrize(("name", "content", "status", "fragment"), CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_file_corpus(
    api: httpx.Client, stack: Stack, name: str, content: bytes, status: int, fragment: str
) -> None:
    before = _state(stack)
    response = api.post("/v1/datasets", files={"file": (name, content)})
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]
    assert _state(stack) == before


def test_zip_bomb_xlsx_is_refused(api: httpx.Client, stack: Stack, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("cqox_bench_workbook", REPO / "bench/ingest/workbook.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = module.write_xlsx(tmp_path / "bomb.xlsx", {"s": [["a"], [1]]}, padding=120 << 20)
    before = _state(stack)
    with path.open("rb") as handle:
        response = api.post("/v1/datasets", files={"file": ("bomb.xlsx", handle)})
    assert response.status_code == 413 and "zip bomb" in response.json()["detail"]
    assert _state(stack) == before


def test_unsafe_file_name_is_stored_safely(api: httpx.Client, stack: Stack) -> None:
    response = api.post(
        "/v1/datasets",
        files={"file": ("..\\..\\etc/win<>|pass.csv", b"unit,y\na,1\nb,2\n")},
        data={"name": "unsafe-name", "analysis": json.dumps({"methods": ["diff_in_means"]})},
    )
    assert response.status_code == 202, response.text
    version = api.get(f"/v1/datasets/{response.json()['dataset_id']}").json()["versions"][0]
    assert version["filename"] == "win_pass.csv" and "raw_uri" not in version  # no object URIs shown
    stored = list(stack.artifacts.rglob("win_pass.csv"))
    assert stored and all(".." not in p.relative_to(stack.artifacts).parts for p in stored)
    assert any("stored as 'win_pass.csv'" in n for n in version["notes"])


def _raw_upload(stack: Stack, headers: str, chunks: int, chunked: bool) -> tuple[int, bytes]:
    """Send an upload by hand and stop as soon as the server answers; return (status, response).

    The server closes the connection after refusing; bytes still in flight then make the kernel
    reset it, which can discard the answer. Small blocks with a check between them keep that
    window short, and a reset before any answer was read is retried.
    """
    for _ in range(3):
        try:
            return _raw_upload_once(stack, headers, chunks, chunked)
        except ConnectionResetError:
            continue
    raise AssertionError("the connection was reset three times before the server answered")


def _raw_upload_once(stack: Stack, headers: str, chunks: int, chunked: bool) -> tuple[int, bytes]:
    url = urlparse(stack.api_url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as conn:
        conn.sendall(headers.encode())
        preamble = b'--B\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\na,b\n'
        block = b"1,2\n" * (1 << 14)  # 64 KiB
        for index in range(chunks):
            if select.select([conn], [], [], 0)[0]:
                break  # the server has answered
            payload = preamble + block if index == 0 else block
            try:
                conn.sendall(b"%x\r\n%s\r\n" % (len(payload), payload) if chunked else payload)
            except (BrokenPipeError, ConnectionResetError):
                break
        response = b""
        while b"\r\n\r\n" not in response:
            part = conn.recv(65536)
            if not part:
                break
            response += part
            if select.select([conn], [], [], 0.5)[0]:
                response += conn.recv(65536)
    return int(response.split(b" ", 2)[1]), response


def test_oversized_uploads_get_413_before_they_are_read_whole(stack: Stack, api: httpx.Client) -> None:
    before = _state(stack)
    limit = 200 * 1024 * 1024
    head = "POST /v1/datasets HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
    # refused on the declared length alone: no body byte needs to be sent
    status, body = _raw_upload(stack, head + f"Content-Length: {limit * 5}\r\n\r\n", chunks=0, chunked=False)
    assert status == 413 and b"the limit is" in body
    status, body = _raw_upload(
        stack, head + "Transfer-Encoding: chunked\r\n\r\n", chunks=16 * 400, chunked=True
    )
    assert status == 413 and b"limit" in body
    assert _state(stack) == before
    assert api.get("/health/ready").status_code in (200, 404)  # still serving
