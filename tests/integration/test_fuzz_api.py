"""schemathesis against the OpenAPI documents of both HTTP services (ingest and notification), each
served by a real server (uvicorn on a free port) on a real nats-server and PostgreSQL: every
operation, valid and invalid inputs, with a fixed seed and a bounded number of examples. No answer
may be a server error, and every answer must match the document (status code, content type, body
schema)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (  # type: ignore[attr-defined]
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from cqox_ingest.app import IngestSettings, create_app
from cqox_notification.app import NotificationSettings
from cqox_notification.app import create_app as create_notification_app
from cqox_shared.db import ensure_database
from cqox_stack.processes import free_port

pytestmark = pytest.mark.integration

ADMIN = {"X-API-Key": "fuzz-admin"}
NOTIFICATION_ANALYST = {"X-API-Key": "fuzz-analyst"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 8  # per operation and mode: bounded so the whole run stays within ~30 s


def has_invalid_inputs(document: dict[str, Any], method: str, path: str) -> bool:
    """Whether an operation takes anything that can be invalid: a body, a query parameter or a
    path parameter that is not any string (a free string path parameter has no invalid value)."""
    spec = document["paths"][path][method.lower()]
    parameters = spec.get("parameters", [])
    return "requestBody" in spec or any(
        p["in"] != "path" or p.get("schema", {}).get("type") != "string" for p in parameters
    )


@contextmanager
def served(app: Any) -> Iterator[str]:
    """An app under uvicorn on a free loopback port, until the block ends."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.2)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive(), "the server did not stop"


def database(infra: Any, name: str) -> str:
    """A fresh database on the session's PostgreSQL."""
    url = str(infra.database_url).rsplit("/", 1)[0] + f"/{name}_{uuid.uuid4().hex[:8]}"
    ensure_database(url)
    return url


@pytest.fixture(scope="module")
def base_url(own_nats: str, infra: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = create_app(
        IngestSettings(
            nats_url=own_nats,
            database_url=database(infra, "ingest_fuzz"),
            artifact_url=Path(tmp_path_factory.mktemp("artifacts")).as_uri(),
            api_keys="fuzz-admin:fuzz:admin",
            auth_pepper="fuzz-pepper-0123456789abcdef0123",
            rate_limit_requests_per_minute=0,
            rate_limit_uploads_per_minute=0,
        )
    )
    with served(app) as url:
        yield url


@pytest.fixture(scope="module")
def notification_url(own_nats: str, infra: Any) -> Iterator[str]:
    app = create_notification_app(
        NotificationSettings(
            nats_url=own_nats,
            database_url=database(infra, "notification_fuzz"),
            api_keys="fuzz-analyst:fuzz:analyst",
            auth_pepper="fuzz-pepper-0123456789abcdef0123",
            # Generated URLs must not reach out: only loopback targets could pass, and none listens.
            webhook_allow_private_targets=False,
            rate_limit_requests_per_minute=0,
        )
    )
    with served(app) as url:
        yield url


def fuzz(base_url: str, headers: dict[str, str], *, at_least: int) -> None:
    """Run every operation of the server's document, positive and (where inputs can be invalid)
    negative cases; fail with every violation found."""
    document = httpx.get(f"{base_url}/openapi.json", headers=headers, timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= at_least
    failures: list[str] = []
    for operation in operations:
        modes = [GenerationMode.POSITIVE]
        if has_invalid_inputs(document, operation.method, operation.path):
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:

            @seed(16)
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(mode))
            def run(case: schemathesis.Case) -> None:
                response = case.call(base_url=base_url, headers=headers, timeout=30)
                case.validate_response(response, checks=CHECKS, headers=headers)

            started = time.monotonic()
            try:
                run()
            except Unsatisfiable:
                pass  # e.g. a query of optional free strings: nothing is invalid
            except (
                Exception,
                BaseExceptionGroup,
            ) as exc:  # schemathesis' FailureGroup is a BaseExceptionGroup
                failures.append(f"{operation.label} ({mode.value}): {str(exc)[:1500]}")
            print(f"{operation.label} {mode.value}: {time.monotonic() - started:.1f} s")  # -s shows the cost
    assert not failures, "\n\n".join(failures)


def test_every_operation_answers_within_its_document(base_url: str) -> None:
    fuzz(base_url, ADMIN, at_least=15)


def test_every_notification_operation_answers_within_its_document(notification_url: str) -> None:
    fuzz(notification_url, NOTIFICATION_ANALYST, at_least=4)
