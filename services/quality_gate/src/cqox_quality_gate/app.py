"""Quality-gate wiring: hears dataset.mapped and analysis.estimated; says dataset.qualified |
dataset.rejected and analysis.assessed."""

from __future__ import annotations

from collections.abc import Sequence

from cqox_contracts.v1 import AnalysisEstimated, DatasetMapped
from cqox_quality_gate import handlers
from cqox_quality_gate.db import MIGRATIONS
from cqox_quality_gate.db.models import metadata
from cqox_quality_gate.domain import GateThresholds
from cqox_shared.bus import Subscription
from cqox_shared.cli import parse_service_args
from cqox_shared.runtime import ServiceRuntime, run_worker
from cqox_shared.settings import Settings


def build_runtime(
    settings: Settings | None = None, thresholds: GateThresholds | None = None
) -> ServiceRuntime:
    """The quality-gate runtime; thresholds from CQOX_GATE_* variables by default."""
    thresholds = thresholds or GateThresholds.from_env()
    return ServiceRuntime(
        "quality-gate",
        settings=settings or Settings(),
        metadata=metadata,
        migrations=MIGRATIONS,
        subscriptions=[
            Subscription(
                DatasetMapped.subject_template,
                "quality-dataset-mapped",
                handlers.data_gates_handler(thresholds),
            ),
            Subscription(
                AnalysisEstimated.subject_template,
                "quality-analysis-estimated",
                handlers.causal_gates_handler(thresholds),
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
