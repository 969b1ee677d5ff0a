"""What the analysis routes take and answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field

from cqox_ingest.db.models import Analysis


class AnalysisIn(BaseModel):
    """A new analysis of an existing dataset version."""

    dataset_id: str
    version: int | None = Field(default=None, description="Dataset version (default: latest)")
    methods: str | list[str] = Field(default="auto", description='"auto" or a list of method names')
    roles: dict[str, str | float | list[str]] = Field(
        default_factory=dict, description="Role overrides; 'cutoff' may be a number"
    )
    ci_level: float = Field(default=0.95, gt=0, lt=1)
    seed: int | None = Field(
        default=None,
        description=(
            "Seed of every random step, 0 to 2**32 - 1 (default: from the file's content: same file, "
            "same estimates)"
        ),
    )
    options: dict[str, dict[str, float | int | str | bool]] = Field(
        default_factory=dict, description="Per-method options, e.g. {'cs_did': {'adjustment': 'dr'}}"
    )
    sensitivity: list[str] = Field(
        default_factory=list,
        description="Methods to give a sensitivity panel besides the headline's; ['all'] for every one",
    )
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="Gate thresholds for this analysis, e.g. {'min_e_value': 1.5}"
    )


class AnalysisLinks(BaseModel):
    """Where to read a dataset and one of its analyses."""

    dataset: str
    analysis: str
    events: str
    report: str

    @classmethod
    def of(cls, dataset_id: str, analysis_id: str) -> AnalysisLinks:
        """The links of one analysis of one dataset."""
        return cls(
            dataset=f"/v1/datasets/{dataset_id}",
            analysis=f"/v1/analyses/{analysis_id}",
            events=f"/v1/analyses/{analysis_id}/events",
            report=f"/v1/analyses/{analysis_id}/report",
        )


class MappingContext(BaseModel):
    """Designs the mapping considered (supported or not, and why), its notes and threshold."""

    designs: list[dict[str, Any]] = Field(default_factory=list)
    mapping_notes: list[str] = Field(default_factory=list)
    confidence_threshold: float | None = None
    dictionary_version: str | None = None
    mapping_confirmed: bool = False

    @classmethod
    def of(cls, analysis: Analysis | sa.Row[Any]) -> MappingContext:
        """The mapping context kept in the analysis's read model."""
        context = analysis.mapping_context or {}
        return cls(
            designs=context.get("designs", []),
            mapping_notes=context.get("notes", []),
            confidence_threshold=context.get("confidence_threshold"),
            dictionary_version=context.get("dictionary_version"),
            mapping_confirmed=context.get("confirmed", False),
        )


class AnalysisCreated(BaseModel):
    """An accepted analysis request: follow it at the links."""

    analysis_id: str
    dataset_id: str
    version: int
    links: AnalysisLinks


class AnalysisOut(MappingContext):
    """Status, roles, estimates, gates and report of an analysis (the read model)."""

    analysis_id: str
    dataset_id: str
    version: int
    status: str
    spec: dict[str, Any]
    design: str | None
    roles: dict[str, Any] | None
    mapping: list[dict[str, Any]]
    needs_confirmation: bool
    planned_methods: list[str]
    seed: int | None = Field(
        default=None,
        description=(
            "The seed every random step used: the spec's, or derived from the uploaded file's "
            "content (the same file gives the same estimates); pass it as `seed` to repeat the draws "
            "on other data. Null until the estimates are in."
        ),
    )
    estimates: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    gates: list[dict[str, Any]]
    headline: dict[str, Any] | None = None
    sensitivity: list[dict[str, Any]] = Field(
        default_factory=list, description="Sensitivity to hidden confounding: the headline's panel first."
    )
    verdict: dict[str, Any] | None = Field(
        default=None, description="GO / CAUTION / HOLD with passed, failed and untestable assumptions."
    )
    report: dict[str, Any] | None
    notifications: list[dict[str, Any]]
    error: str | None
    created_at: datetime
    updated_at: datetime
    links: AnalysisLinks
