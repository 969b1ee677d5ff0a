"""A pool without pre-ping (the ingest's, for read load) still survives a PostgreSQL restart: a
connection idle in the pool is tested before use and replaced if dead, one in constant use is not
tested (no round trip per read), and a statement on one that died in use says so, for one retry."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from cqox_shared.db import ConnectionLimits, create_engine, is_dead_connection
from cqox_stack.processes import Postgres

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL of this module's own: it is restarted here."""
    root = Path(tempfile.mkdtemp(prefix="cqox-pool-"))
    server = Postgres(root / "postgres")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.remove()
        shutil.rmtree(root, ignore_errors=True)


async def _pid(engine: sa.ext.asyncio.AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())


async def test_idle_connections_are_tested_busy_ones_are_not_and_a_dead_one_is_flagged(
    postgres: Postgres,
) -> None:
    limits = ConnectionLimits(pre_ping=False, ping_idle_s=0.5)
    engine = create_engine(postgres.url("postgres"), pool_size=1, limits=limits)
    try:
        first = await _pid(engine)
        assert await _pid(engine) == first  # reused at once: the same connection, untested
        postgres.stop()
        postgres.start()
        # Used again at once (within ping_idle_s of its return): not tested, so the statement
        # meets the dead connection and the error says the pool was invalidated (retry once).
        with pytest.raises(sa.exc.DBAPIError) as failed:
            await _pid(engine)
        assert is_dead_connection(failed.value)
        fresh = await _pid(engine)  # the retry gets a new connection
        assert fresh != first
        postgres.stop()
        postgres.start()
        await asyncio.sleep(0.6)  # idle past ping_idle_s: tested on checkout, replaced, no error
        assert await _pid(engine) != fresh
    finally:
        await engine.dispose()


async def test_a_connection_tested_when_idle_can_switch_to_autocommit(postgres: Postgres) -> None:
    """The idle test leaves no transaction open: the ingest's status read runs in AUTOCOMMIT, which
    psycopg refuses to switch to inside a transaction (GET /v1/analyses/{id} answered 500)."""
    limits = ConnectionLimits(pre_ping=False, ping_idle_s=0.2)
    engine = create_engine(postgres.url("postgres"), pool_size=1, limits=limits)
    reader = engine.execution_options(isolation_level="AUTOCOMMIT")
    try:
        first = await _pid(reader)
        await asyncio.sleep(0.3)  # idle past ping_idle_s: tested on checkout, then read in autocommit
        assert await _pid(reader) == first
    finally:
        await engine.dispose()
