"""Mapping and quality gate hold no database transaction while they compute (ADR 0022), as the
estimator does (test_short_transactions.py): while the role inference or the data gates run, the
service's connections to the real PostgreSQL are idle, none in a transaction (pg_stat_activity);
the result is then recorded in one short transaction, once per event id."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from cqox_contracts.v1 import (
    AnalysisRequested,
    AnalysisSpec,
    DatasetMapped,
    Event,
    RoleMapping,
)
from cqox_mapping import handlers as mapping_handlers
from cqox_mapping.app import MappingSettings
from cqox_mapping.app import build_runtime as mapping_runtime
from cqox_quality_gate import handlers as gate_handlers
from cqox_quality_gate.app import build_runtime as gate_runtime
from cqox_quality_gate.domain import GateThresholds
from cqox_shared.harness import HandlerHarness, scratch_database
from cqox_shared.runtime import ServiceRuntime
from cqox_shared.settings import Settings

# A few seconds per case on a quiet machine, minutes on a busy one: `make faults`, not `make test`.
pytestmark = [pytest.mark.integration, pytest.mark.faults]


def _frame(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    treated = rng.integers(0, 2, size=n)
    spend = rng.gamma(2.0, 50.0, size=n)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:04d}" for i in range(n)],
            "received_coupon": treated,
            "past_spend": spend,
            "spend_next_90d": 0.5 * spend + 2.0 * treated + rng.normal(0, 5, n),
        }
    )


class Held:
    """The real computation, held at its start until the test lets it go (a slow one)."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        self.entered.set()
        assert self.release.wait(60), "the test never released the computation"
        return self.real(*args, **kwargs)


def _sessions(url: str, application: str) -> list[Any]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    sa.text(
                        "SELECT pid, state, xact_start FROM pg_stat_activity "
                        "WHERE datname = current_database() AND application_name = :app"
                    ),
                    {"app": application},
                ).all()
            )
    finally:
        engine.dispose()


def _mapping(url: str, tmp_path: Path) -> ServiceRuntime:
    return mapping_runtime(MappingSettings(database_url=url, artifact_url=f"file://{tmp_path}"))


def _gates(url: str, tmp_path: Path) -> ServiceRuntime:
    settings = Settings(database_url=url, artifact_url=f"file://{tmp_path}")
    return gate_runtime(settings, GateThresholds())


def _requested(harness: HandlerHarness) -> Event:
    return AnalysisRequested(
        correlation_id="an_map", producer="ingest", analysis_id="an_map",
        dataset=harness.store_frame(_frame(), dataset_id="ds_map"), spec=AnalysisSpec(),
    )  # fmt: skip


def _mapped(harness: HandlerHarness) -> Event:
    roles = RoleMapping(
        treatment="received_coupon", outcome="spend_next_90d", unit="customer_id", covariates=["past_spend"]
    )
    return DatasetMapped(
        correlation_id="an_gate", producer="mapping", analysis_id="an_gate",
        dataset=harness.store_frame(_frame(), dataset_id="ds_gate"), spec=AnalysisSpec(),
        roles=roles, assignments=[], design="observational",
    )  # fmt: skip


CASES = {
    # service: (its runtime, the module and name of the computation to hold, the event it hears)
    "mapping": (_mapping, mapping_handlers, "infer_roles", _requested),
    "quality-gate": (_gates, gate_handlers, "data_gates", _mapped),
}


@pytest.mark.parametrize("service", list(CASES))
async def test_a_computation_in_progress_holds_no_transaction_and_records_once(
    service: str, infra, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    build, module, attribute, event_of = CASES[service]
    url = scratch_database(infra.database_url, f"short_tx_{service.replace('-', '_')}")
    held = Held(getattr(module, attribute))
    monkeypatch.setattr(module, attribute, held)
    async with HandlerHarness(build(url, tmp_path)) as harness:
        event = event_of(harness)
        computing = asyncio.create_task(harness.run(event))
        assert await asyncio.to_thread(held.entered.wait, 30), "the computation never started"
        await asyncio.sleep(0.3)
        during = await asyncio.to_thread(_sessions, url, f"cqox-{service}")
        held.release.set()
        run = await computing
        again = await harness.run(event)  # redelivered after it was recorded
    # the reads before the computation ran on pooled connections, back in the pool, idle
    assert during, f"no {service} connection found: application_name not set?"
    assert all(row.xact_start is None and row.state == "idle" for row in during), during
    assert run.outcome == "ok" and len(run.emitted) == 1, run
    assert again.outcome == "duplicate" and again.emitted == [] and held.calls == 1  # not computed twice
