"""A fit holds no database transaction (ADR 0022): while an estimator pool fits, its connections
to the real PostgreSQL are idle, none in a transaction (pg_stat_activity); the result is then
recorded in one short transaction, once per event id. Every connection carries the configured
statement and idle-in-transaction timeouts."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from cqox_contracts.v1 import EstimateCompleted, EstimateRequested, RoleMapping
from cqox_estimator import handlers
from cqox_estimator.app import EstimatorSettings, build_runtime
from cqox_estimator.db.models import EstimateRecord
from cqox_shared.harness import HandlerHarness, scratch_database

pytestmark = pytest.mark.integration


def _frame(n: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    treated = rng.integers(0, 2, size=n)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {"id": np.arange(n), "t": treated, "x": x, "y": 1.0 + 2.0 * treated + x + rng.normal(size=n)}
    )


class SlowFit:
    """The real fit, held at its start until the test lets it go (a fit that takes minutes)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        self.real = handlers.run

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        self.entered.set()
        assert self.release.wait(60), "the test never released the fit"
        return self.real(*args, **kwargs)


async def _estimator_sessions(url: str) -> list[Any]:
    """What the estimator's connections are doing now, as PostgreSQL sees them."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    sa.text(
                        "SELECT pid, state, xact_start FROM pg_stat_activity "
                        "WHERE datname = current_database() AND application_name = 'cqox-estimator'"
                    )
                ).all()
            )
    finally:
        engine.dispose()


async def test_a_fit_in_progress_holds_no_transaction_and_records_once(
    infra, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    url = scratch_database(infra.database_url, "short_tx")
    settings = EstimatorSettings(
        database_url=url,
        artifact_url=f"file://{tmp_path}",
        db_statement_timeout_s=7,
        db_idle_in_transaction_timeout_s=11,
    )
    slow = SlowFit()
    monkeypatch.setattr(handlers, "run", slow)
    async with HandlerHarness(build_runtime(["worker"], ["ols"], settings)) as harness:
        request = EstimateRequested(
            correlation_id="an_tx", producer="estimator", analysis_id="an_tx", method="ols",
            dataset=harness.store_frame(_frame()), design="observational", seed=1,
            roles=RoleMapping(treatment="t", outcome="y", unit="id", covariates=["x"]),
        )  # fmt: skip
        fitting = asyncio.create_task(harness.run(request))
        assert await asyncio.to_thread(slow.entered.wait, 30), "the fit never started"
        await asyncio.sleep(0.3)
        during = await _estimator_sessions(url)
        slow.release.set()
        run = await fitting
        again = await harness.run(request)  # redelivered after it was recorded
        (record,) = await harness.rows(
            sa.select(EstimateRecord.status).where(EstimateRecord.analysis_id == "an_tx")
        )
        async with harness.transaction() as session:
            limits = (
                await session.execute(
                    sa.text(
                        "SELECT current_setting('statement_timeout'), current_setting('idle_in_transaction_session_timeout')"
                    )
                )
            ).one()
    # the idempotency check ran on a pooled connection, which is back in the pool, idle
    assert during, "no estimator connection found: application_name not set?"
    assert all(row.xact_start is None and row.state == "idle" for row in during), during
    (completed,) = run.emitted
    assert run.outcome == "ok" and isinstance(completed, EstimateCompleted)
    assert abs(completed.result.estimate - 2.0) < 0.3
    assert again.outcome == "duplicate" and again.emitted == [] and slow.calls == 1  # not fitted twice
    assert record.status == "completed"
    assert tuple(limits) == ("7s", "11s")
