"""Visualization wiring: hears dataset.qualified (report language) and analysis.assessed, says report.generated."""

from __future__ import annotations

from collections.abc import Sequence

from cqox_contracts.v1 import AnalysisAssessed, DatasetQualified, ReportGenerated
from cqox_shared.bus import Subscription
from cqox_shared.cli import parse_service_args
from cqox_shared.runtime import ServiceRuntime, run_worker
from cqox_shared.settings import Settings
from cqox_visualization import handlers
from cqox_visualization.db import MIGRATIONS
from cqox_visualization.db.models import metadata

SERVICE = "visualization"


def build_runtime(settings: Settings | None = None) -> ServiceRuntime:
    """The visualization runtime."""
    return ServiceRuntime(
        SERVICE,
        settings=settings or Settings(),
        metadata=metadata,
        migrations=MIGRATIONS,
        subscriptions=[
            # The spec's report language arrives with the qualified dataset, long before the results.
            Subscription(DatasetQualified, handlers.remember_language),
            # Drawn and stored outside any transaction (compute), recorded in a short one (ADR 0022).
            Subscription(
                AnalysisAssessed,
                handlers.draw_report,
                publishes=(ReportGenerated,),
                compute=handlers.draw_report_work,
            ),
        ],
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point `cqox-visualization`."""
    parse_service_args(
        "cqox-visualization",
        "CQOx visualization worker: figures and the HTML/PDF report of each assessed analysis.",
        Settings,
        argv,
    )
    run_worker(build_runtime())
