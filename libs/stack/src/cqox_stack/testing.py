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
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)
