"""Mapping service wiring: hears dataset.ingested, analysis.requested and dataset.confirmed;
says dataset.mapped (or analysis.failed for overrides that cannot apply)."""

from __future__ import annotations

from collections.abc import Sequence

from cqox_contracts.v1 import (
    AnalysisFailed,
    AnalysisRequested,
    DatasetConfirmed,
    DatasetIngested,
    DatasetMapped,
)
from cqox_mapping import handlers
from cqox_mapping.db import MIGRATIONS
from cqox_mapping.db.models import metadata
from cqox_shared.bus import Subscription
from cqox_shared.cli import parse_service_args
from cqox_shared.runtime import ServiceRuntime, run_worker
from cqox_shared.settings import Settings

SERVICE = "mapping"


class MappingSettings(Settings):
    """Mapping settings (CQOX_ prefix)."""

    mapping_confidence_threshold: float = 0.6


def build_runtime(settings: MappingSettings | None = None) -> ServiceRuntime:
    """The mapping service's runtime with its subscriptions."""
    settings = settings or MappingSettings()
    threshold = settings.mapping_confidence_threshold
    says = (DatasetMapped, AnalysisFailed)
    return ServiceRuntime(
        SERVICE,
        settings=settings,
        metadata=metadata,
        migrations=MIGRATIONS,
        subscriptions=[
            # Inference outside any transaction (compute), recorded in a short one (ADR 0022).
            Subscription(
                DatasetIngested,
                handlers.map_roles_handler(threshold),
                publishes=says,
                compute=handlers.map_roles_work(threshold),
            ),
            Subscription(
                AnalysisRequested,
                handlers.map_roles_handler(threshold),
                publishes=says,
                compute=handlers.map_roles_work(threshold),
            ),
            Subscription(
                DatasetConfirmed,
                handlers.confirm_roles_handler(threshold),
                publishes=says,
                compute=handlers.confirm_roles_work(threshold),
            ),
        ],
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point `cqox-mapping`."""
    parse_service_args(
        "cqox-mapping",
        "CQOx mapping worker: infers the roles of a dataset's columns (hears dataset.ingested, analysis.requested, dataset.confirmed; says dataset.mapped).",
        MappingSettings,
        argv,
    )
    run_worker(build_runtime())
