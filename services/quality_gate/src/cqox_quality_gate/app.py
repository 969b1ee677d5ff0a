"""Quality-gate wiring: hears dataset.mapped and analysis.estimated; says dataset.qualified |
dataset.rejected and analysis.assessed."""

from __future__ import annotations

from collections.abc import Sequence

from cqox_contracts.v1 import (
    AnalysisAssessed,
    AnalysisEstimated,
    DatasetMapped,
    DatasetQualified,
    DatasetRejected,
)
from cqox_quality_gate import handlers
from cqox_quality_gate.db import MIGRATIONS
from cqox_quality_gate.db.models import metadata
from cqox_quality_gate.domain import GateThresholds
from cqox_shared.bus import Subscription
from cqox_shared.cli import parse_service_args
from cqox_shared.runtime import ServiceRuntime, run_worker
from cqox_shared.settings import Settings

# The one name of this service (logs, durables, producer, metrics); its Postgres schema keeps the
# name `quality` (ADR 0016).
SERVICE = "quality-gate"


def build_runtime(
    settings: Settings | None = None, thresholds: GateThresholds | None = None
) -> ServiceRuntime:
    """The quality-gate runtime; thresholds from CQOX_GATE_* variables by default."""
    thresholds = thresholds or GateThresholds.from_env()
    return ServiceRuntime(
        SERVICE,
        settings=settings or Settings(),
        metadata=metadata,
        migrations=MIGRATIONS,
        subscriptions=[
            Subscription(
                DatasetMapped,
                handlers.data_gates_handler(thresholds),
                publishes=(DatasetQualified, DatasetRejected),
                compute=handlers.data_gates_work(thresholds),  # gates outside the transaction
                formerly="quality-dataset-mapped",
            ),
            Subscription(
                AnalysisEstimated,
                handlers.causal_gates_handler(thresholds),
                publishes=(AnalysisAssessed,),
                compute=handlers.causal_gates_work(thresholds),  # gates outside the transaction
                formerly="quality-analysis-estimated",
            ),
        ],
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point `cqox-quality-gate`."""
    parse_service_args(
        "cqox-quality-gate",
        "CQOx quality-gate worker: data gates before estimation and causal gates after (thresholds from CQOX_GATE_* variables).",
        Settings,
        argv,
    )
    run_worker(build_runtime())
