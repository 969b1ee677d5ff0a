"""The whole result as one JSON document (report.json): estimates, gates, sensitivity, figures."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cqox_contracts.v1 import AnalysisAssessed, FigureEntry


def report_document(event: AnalysisAssessed, figures: Sequence[FigureEntry], language: str) -> dict[str, Any]:
    """Everything the report shows, machine-readable, with the figure table."""
    return {
        "format": "cqox.report/v1",
        "analysis_id": event.analysis_id,
        "language": language,
        "dataset": {
            "dataset_id": event.dataset.dataset_id,
            "version": event.dataset.version,
            "name": event.dataset.name,
            "n_rows": event.dataset.n_rows,
            "columns": [column.name for column in event.dataset.columns],
        },
        "design": event.design,
        "seed": event.seed,
        "roles": event.roles.model_dump(mode="json", exclude_defaults=True),
        "headline": event.headline.model_dump(mode="json") if event.headline else None,
        "verdict": event.verdict.model_dump(mode="json") if event.verdict else None,
        "estimates": [e.model_dump(mode="json") for e in event.estimates],
        "failures": [f.model_dump(mode="json") for f in event.failures],
        "gates": [g.model_dump(mode="json") for g in event.gates],
        "sensitivity": [p.model_dump(mode="json") for p in event.sensitivity],
        "refutations": [r.model_dump(mode="json") for r in event.refutations],
        "figures": [f.model_dump(mode="json") for f in figures],
    }


def report_json(event: AnalysisAssessed, figures: Sequence[FigureEntry], language: str) -> bytes:
    """`report_document` as UTF-8 JSON bytes (NaN-free: the contracts already drop non-finite floats)."""
    return json.dumps(report_document(event, figures, language), ensure_ascii=False, indent=1).encode("utf-8")
