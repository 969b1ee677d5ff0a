"""Pytest fixtures that start real infrastructure (never mocks): NATS, PostgreSQL, the stack."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cqox_stack.processes import NatsServer, Postgres


@dataclass
class Infra:
    """URLs of the real servers started for a test session."""

    nats_url: str
    database_url: str
    root: Path


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    """A real nats-server (JetStream) and PostgreSQL on free ports, in a temp folder."""
    from cqox_shared.db import ensure_database

    root = Path(tempfile.mkdtemp(prefix="cqox-test-"))
    nats = NatsServer(root / "nats")
    postgres = Postgres(root / "postgres")
    try:
        nats.start()
        postgres.start()
        url = postgres.url("cqox_test")
        ensure_database(url)
        yield Infra(nats.url, url, root)
    finally:
        nats.stop()
        postgres.remove()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def own_nats(infra: Infra) -> Iterator[str]:
    """A nats-server of this test module's own, for tests that run a service in-process.

    A service's durable consumers on the session's shared server would work through every event
    other tests published before; on its own server it sees only its module's events.
    """
    root = Path(tempfile.mkdtemp(prefix="nats-", dir=infra.root))
    nats = NatsServer(root)
    try:
        nats.start()
        yield nats.url
    finally:
        nats.stop()
        shutil.rmtree(root, ignore_errors=True)
