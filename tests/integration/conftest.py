"""The whole stack as real processes on a real nats-server and PostgreSQL, once per session."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cqox_stack.stack import Stack
from tests.integration.sdk_session import client_fixture, run_fixture  # noqa: F401 (SDK and CLI tests)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
TEST_ENV = {
    "CQOX_ACK_WAIT_S": "5",  # a killed worker's message comes back quickly
    "CQOX_WEBHOOK_BACKOFF_S": "0.3",
    "CQOX_LOG_LEVEL": "INFO",
}


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Every service started as its own process, exactly as `make demo` does."""
    root = Path(tempfile.mkdtemp(prefix="cqox-it-"))
    running = Stack(root, env_overrides=TEST_ENV)
    try:
        running.start()
        yield running
    finally:
        running.remove()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def api(stack: Stack) -> Iterator[httpx.Client]:
    """HTTP client of the ingest API."""
    with httpx.Client(base_url=stack.api_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def truth() -> float:
    """True effect of the bundled sample."""
    return float(json.loads((EXAMPLES / "customers.meta.json").read_text())["true_ate"])


def upload(
    api: httpx.Client, path: Path, *, name: str | None = None, spec: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Upload a file with an optional analysis spec; assert it is accepted."""
    with path.open("rb") as handle:
        data = {"analysis": json.dumps(spec or {"methods": "auto"})}
        if name:
            data["name"] = name
        response = api.post("/v1/datasets", files={"file": (path.name, handle, "text/csv")}, data=data)
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


def wait_done(api: httpx.Client, analysis_id: str, timeout: float = 120) -> dict[str, Any]:
    """Poll until the analysis is completed, failed or rejected."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/v1/analyses/{analysis_id}").json()
        if body["status"] in ("completed", "failed", "rejected"):
            return body  # type: ignore[no-any-return]
        time.sleep(0.25)
    raise AssertionError(f"analysis {analysis_id} not done after {timeout}s: {body['status']}")


def metric(url: str, name: str, **labels: str) -> float:
    """Sum of a Prometheus sample across series matching the labels."""
    total = 0.0
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if not line.startswith(name + "{"):
            continue
        series, value = line.rsplit(" ", 1)
        if all(f'{k}="{v}"' in series for k, v in labels.items()):
            total += float(value)
    return total
