"""Postgres access: async engine, one schema per service, Alembic migrations, messaging tables.

Every service schema holds two tables owned by the bus runtime:
`processed_events` (idempotency: one row per consumer and event id) and `outbox`
(events written in the same transaction as the effects, published afterwards).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import MetaData, Table, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine


def messaging_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Declare `processed_events` and `outbox` in the service's metadata (its schema)."""
    processed = Table(
        "processed_events",
        metadata,
        sa.Column("consumer", sa.String(200), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    outbox = Table(
        "outbox",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("headers", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Index(None, "published_at", postgresql_where=sa.text("published_at IS NULL")),
    )
    return processed, outbox


@dataclass(frozen=True)
class ConnectionLimits:
    """Server-side timeouts and TCP keepalives set on every pooled connection.

    `statement_timeout` ends a query (or a lock wait) that runs too long;
    `idle_in_transaction_session_timeout` ends a session that holds a transaction open while doing
    nothing, so a crashed or stuck handler cannot keep rows locked; keepalives let both ends notice
    a half-open connection (node loss) in about `keepalives_idle + interval * count` seconds
    instead of the kernel's two hours.

    `pre_ping` tests every connection with a round trip when it leaves the pool (a dead one is
    replaced before use). A service under read load turns it off (`CQOX_DB_POOL_PRE_PING=false`):
    then only a connection idle in the pool for `ping_idle_s` or more is tested (under load none
    is, and after a quiet spell, such as a PostgreSQL restart, each is), connections are recycled
    after `recycle_s`, keepalives find dead ones, and the first statement on a connection that
    died while in use invalidates the whole pool, so a caller may retry once (`is_dead_connection`).
    """

    statement_timeout_s: float = 60.0
    idle_in_transaction_timeout_s: float = 300.0
    connect_timeout_s: float = 10.0
    keepalives_idle_s: int = 30
    keepalives_interval_s: int = 10
    keepalives_count: int = 3
    application_name: str = "cqox"
    pre_ping: bool = True
    ping_idle_s: float = 2.0
    recycle_s: float = 1800.0

    @classmethod
    def from_settings(cls, settings: Any, application_name: str) -> ConnectionLimits:
        """The limits a service's settings configure (`CQOX_DB_*`)."""
        return cls(
            statement_timeout_s=settings.db_statement_timeout_s,
            idle_in_transaction_timeout_s=settings.db_idle_in_transaction_timeout_s,
            connect_timeout_s=settings.db_connect_timeout_s,
            keepalives_idle_s=settings.db_keepalives_idle_s,
            application_name=f"cqox-{application_name}",
            pre_ping=getattr(settings, "db_pool_pre_ping", True),
            recycle_s=getattr(settings, "db_pool_recycle_s", 1800.0),
        )

    def connect_args(self) -> dict[str, Any]:
        """psycopg connection arguments carrying these limits (0 turns a timeout off)."""
        options = (
            f"-c statement_timeout={int(self.statement_timeout_s * 1000)} "
            f"-c idle_in_transaction_session_timeout={int(self.idle_in_transaction_timeout_s * 1000)}"
        )
        return {
            "connect_timeout": max(1, int(self.connect_timeout_s)),
            "keepalives": 1,
            "keepalives_idle": self.keepalives_idle_s,
            "keepalives_interval": self.keepalives_interval_s,
            "keepalives_count": self.keepalives_count,
            "application_name": self.application_name[:63],
            "options": options,
        }


def create_engine(
    database_url: str, *, pool_size: int = 5, limits: ConnectionLimits | None = None
) -> AsyncEngine:
    """Async engine for `postgresql+psycopg://` URLs, every connection under `limits`."""
    limits = limits or ConnectionLimits()
    engine = create_async_engine(
        database_url,
        pool_size=pool_size,
        pool_pre_ping=limits.pre_ping,
        pool_recycle=int(limits.recycle_s) if limits.recycle_s > 0 else -1,
        connect_args=limits.connect_args(),
    )
    if not limits.pre_ping and limits.ping_idle_s > 0:
        _ping_when_idle(engine, limits.ping_idle_s)
    return engine


def _ping_when_idle(engine: AsyncEngine, idle_s: float) -> None:
    """Test a pooled connection on checkout only when it sat idle for `idle_s` or more; a dead one
    is replaced (the pool retries the checkout on `DisconnectionError`)."""
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < idle_s:
            return  # new, or in use a moment ago
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            # The test opened a transaction: end it, or an AUTOCOMMIT checkout (the ingest's status
            # read) fails with "can't change 'autocommit' now" and the API answers 500.
            dbapi_connection.rollback()
        except Exception as exc:
            raise sa.exc.DisconnectionError(f"pooled connection found dead: {exc}") from exc


def is_dead_connection(exc: BaseException) -> bool:
    """Whether `exc` says the connection died under the statement (the pool has been invalidated,
    so one retry gets a fresh connection), as opposed to an error of the statement itself."""
    return isinstance(exc, sa.exc.DBAPIError) and bool(exc.connection_invalidated)


def session_factory(engine: AsyncEngine) -> async_sessionmaker:  # type: ignore[type-arg]
    """Session factory that keeps objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def ensure_database(database_url: str) -> None:
    """Create the database named in the URL if it does not exist (embedded/dev setups)."""
    url = sa.engine.make_url(database_url)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
            ).scalar()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{url.database}"'))
    finally:
        admin.dispose()


def migrate(database_url: str, script_location: Path, schema: str) -> None:
    """Upgrade `schema` to head; replicas starting together serialise on an advisory lock."""
    from alembic import command
    from alembic.config import Config

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(hashtext(:s))"), {"s": f"cqox-migrate-{schema}"})
            try:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                conn.commit()
                config = Config()
                config.set_main_option("script_location", str(script_location))
                config.attributes["connection"] = conn
                config.attributes["schema"] = schema
                command.upgrade(config, "head")
                conn.commit()
            finally:
                conn.execute(
                    sa.text("SELECT pg_advisory_unlock(hashtext(:s))"), {"s": f"cqox-migrate-{schema}"}
                )
                conn.commit()
    finally:
        engine.dispose()


def run_migrations_env(target_metadata: MetaData) -> None:
    """Body of every service's Alembic env.py: version table and objects in the service schema."""
    from alembic import context

    config = context.config
    schema = config.attributes["schema"]
    connection = config.attributes.get("connection")
    if connection is None:  # offline/autogenerate from the CLI: URL from the environment
        import os

        engine = sa.create_engine(os.environ["CQOX_DATABASE_URL"])
        with engine.connect() as conn:
            _configure_and_run(context, conn, target_metadata, schema)
            conn.commit()
        return
    _configure_and_run(context, connection, target_metadata, schema)


def _configure_and_run(context, connection, target_metadata: MetaData, schema: str) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_name=lambda name, type_, parent: type_ != "schema" or name == schema,
    )
    with context.begin_transaction():
        context.run_migrations()


def create_messaging_tables(schema: str) -> None:
    """Migration step creating the runtime's tables (version 1) in `schema`; frozen, never edit.

    A later change to `messaging_tables` needs its own migration step in every service.
    """
    from alembic import op

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column(
            "headers", JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
        schema=schema,
    )
    op.create_index(
        f"ix_{schema}_outbox_published_at",
        "outbox",
        ["published_at"],
        unique=False,
        schema=schema,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column(
            "processed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
        schema=schema,
    )


def drop_messaging_tables(schema: str) -> None:
    """Migration step undoing `create_messaging_tables`."""
    from alembic import op

    op.drop_table("processed_events", schema=schema)
    op.drop_index(f"ix_{schema}_outbox_published_at", table_name="outbox", schema=schema)
    op.drop_table("outbox", schema=schema)
