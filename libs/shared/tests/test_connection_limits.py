"""What every service's Postgres connections carry, and which failures count as an outage (ADR 0022).
No servers: the connection arguments and the error classification alone."""

from __future__ import annotations

import psycopg
import sqlalchemy as sa

from cqox_shared.bus import is_database_unavailable
from cqox_shared.db import ConnectionLimits
from cqox_shared.settings import Settings


def test_settings_set_the_timeouts_keepalives_and_name_of_every_connection() -> None:
    settings = Settings(
        db_statement_timeout_s=2.5, db_idle_in_transaction_timeout_s=40, db_keepalives_idle_s=7
    )
    args = ConnectionLimits.from_settings(settings, "quality-gate").connect_args()
    assert args["options"] == "-c statement_timeout=2500 -c idle_in_transaction_session_timeout=40000"
    assert (
        args["keepalives"],
        args["keepalives_idle"],
        args["keepalives_interval"],
        args["keepalives_count"],
    ) == (
        1,
        7,
        10,
        3,
    )
    assert args["application_name"] == "cqox-quality-gate" and args["connect_timeout"] == 10


def test_defaults_bound_every_statement_and_every_idle_transaction() -> None:
    options = ConnectionLimits().connect_args()["options"]
    assert "statement_timeout=60000" in options and "idle_in_transaction_session_timeout=300000" in options


def _wrapped(orig: BaseException) -> sa.exc.DBAPIError:
    return sa.exc.OperationalError("SELECT 1", {}, orig)


def test_a_lost_or_refused_connection_is_an_outage_a_failed_query_is_not() -> None:
    assert is_database_unavailable(_wrapped(psycopg.OperationalError("connection refused")))
    assert is_database_unavailable(psycopg.OperationalError("server closed the connection unexpectedly"))
    assert is_database_unavailable(ConnectionResetError())
    refused = RuntimeError("handler failed")
    refused.__cause__ = _wrapped(psycopg.OperationalError("connection refused"))
    assert is_database_unavailable(refused)
    # the server answered: a statement timeout, a constraint, a bug
    assert not is_database_unavailable(_wrapped(psycopg.errors.QueryCanceled("statement timeout")))
    assert not is_database_unavailable(
        sa.exc.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("dup"))
    )
    assert not is_database_unavailable(ValueError("bad data"))
    assert not is_database_unavailable(FileNotFoundError("no such parquet"))
