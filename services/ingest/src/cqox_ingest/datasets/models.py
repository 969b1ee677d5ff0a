"""What the dataset routes take and answer, and an upload on its way to becoming a version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from cqox_contracts.v1 import ColumnSchema, DatasetProfile
from cqox_ingest.analyses.models import AnalysisLinks, MappingContext
from cqox_ingest.conversion import Converted


@dataclass
class Upload:
    """A read and converted upload, waiting to be registered as a dataset version."""

    dataset_name: str
    filename: str
    table: Converted
    notes: list[str]
    raw_path: Path
    parquet_path: Path
    size: int
    digest: str
    columns: list[ColumnSchema]
    profile: DatasetProfile


class DatasetUploaded(BaseModel):
    """A stored version and the analysis started with it."""

    dataset_id: str
    version: int
    analysis_id: str
    format: str
    encoding: str | None
    rows: int
    columns: list[dict[str, Any]]
    notes: list[str]
    schema_diff: dict[str, Any]
    links: AnalysisLinks


class VersionSummary(BaseModel):
    """One stored version of a dataset: its file, schema change and size (never its object URIs)."""

    version: int
    filename: str
    format: str
    encoding: str | None
    schema_diff: dict[str, Any] | None
    rows: int
    columns: list[dict[str, Any]]
    size_bytes: int
    sha256: str
    notes: list[str]
    created_at: datetime


class VersionOut(VersionSummary):
    """One stored version with its profile."""

    profile: dict[str, Any] | None


class DatasetMapping(MappingContext):
    """The latest mapping of a dataset's columns to roles (role → column, confidence)."""

    analysis_id: str
    version: int
    design: str | None
    needs_confirmation: bool
    roles: dict[str, Any] | None
    assignments: list[dict[str, Any]]


class DatasetOut(BaseModel):
    """A dataset with its versions and current mapping."""

    dataset_id: str
    name: str
    created_at: datetime
    latest_version: int | None
    versions: list[VersionOut]
    mapping: DatasetMapping | None


class DatasetListed(BaseModel):
    """A dataset in the caller's listing: its name, latest version and when it was created."""

    dataset_id: str
    name: str
    created_at: datetime
    latest_version: int | None


class DatasetsOut(BaseModel):
    """The caller's datasets, newest first."""

    datasets: list[DatasetListed]


class VersionsOut(BaseModel):
    """Every version of a dataset."""

    dataset_id: str
    name: str
    versions: list[VersionSummary]


class SchemaOut(BaseModel):
    """The registered schema and profile of one version."""

    dataset_id: str
    name: str
    version: int
    format: str
    encoding: str | None
    columns: list[dict[str, Any]]
    schema_diff: dict[str, Any] | None
    profile: dict[str, Any] | None


class MappingIn(BaseModel):
    """Roles to confirm or correct; empty roles accept the inferred mapping as it is."""

    roles: dict[str, str | list[str] | float] = Field(
        default_factory=dict,
        description="role -> column (a list for 'covariates' and 'excluded'; a number for 'cutoff')",
    )
    analysis_id: str | None = Field(
        default=None, description="The analysis to continue (default: the latest of this dataset)"
    )


class MappingLinks(BaseModel):
    """Where to follow the analysis that continues or re-runs with the confirmed roles."""

    dataset: str
    analysis: str
    events: str


class MappingConfirmed(BaseModel):
    """The confirmed roles and the analysis that continues with them (or re-runs)."""

    analysis_id: str
    dataset_id: str
    version: int
    continues: bool
    replaces_analysis_id: str | None
    roles: dict[str, str | list[str]]
    links: MappingLinks
