"""Dataset routes: upload a file (a new version), read versions, schemas and profiles, confirm the
roles the mapping inferred."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile

from cqox_ingest.analyses.service import spec_from_form
from cqox_ingest.conversion import convert
from cqox_ingest.datasets import listing, mapping, service
from cqox_ingest.datasets.models import (
    DatasetOut,
    DatasetsOut,
    DatasetUploaded,
    MappingConfirmed,
    MappingIn,
    SchemaOut,
    Upload,
    VersionsOut,
)
from cqox_ingest.datasets.streamed_form import Spooled, StreamedUploadRoute
from cqox_ingest.dependencies import Caller, Runtime, UploadLimits
from cqox_ingest.readers import safe_filename

router = APIRouter(prefix="/v1", tags=["datasets"])


async def upload_dataset(
    request: Request,
    caller: Caller,
    runtime: Runtime,
    limits: UploadLimits,
    file: Annotated[
        UploadFile, File(description="CSV/TSV (optionally .gz/.zip), JSON, NDJSON, Parquet, Arrow, Excel")
    ],
    name: Annotated[str | None, Form()] = None,
    analysis: Annotated[str | None, Form(description="JSON analysis spec")] = None,
    encoding: Annotated[str | None, Form(description="Text encoding; detected when absent")] = None,
    sheet: Annotated[str | None, Form(description="Excel sheet name or 0-based index")] = None,
    allow_breaking: Annotated[
        bool, Form(description="Accept a version that removes or retypes columns")
    ] = False,
) -> DatasetUploaded:
    """Store a file, convert it to Parquet once, register its schema and profile, start an analysis."""
    caller.require("analyst")
    spec = spec_from_form(analysis)
    filename = safe_filename(file.filename)
    renamed = (
        []
        if not file.filename or filename == file.filename
        else [f"file name {str(file.filename)[:200]!r} stored as {filename!r}"]
    )
    dataset_name = (name or Path(filename).stem or "dataset").strip()[:300]
    # The body was written once, as it arrived, into the request's work directory (StreamedUploadRoute).
    workdir: Path = request.state.workdir
    spooled: Spooled = request.state.spooled["file"]
    parquet_path = workdir / "data.parquet"
    converted = await asyncio.to_thread(
        convert, spooled.path, parquet_path, filename, encoding=encoding, sheet=sheet, limits=limits
    )
    upload = Upload(
        dataset_name=dataset_name,
        filename=filename,
        table=converted,
        notes=renamed + converted.notes,
        raw_path=spooled.path,
        parquet_path=parquet_path,
        size=spooled.size,
        digest=spooled.digest,
        columns=converted.columns,
        profile=converted.profile,
    )
    return await service.register(runtime, caller, upload, spec, allow_breaking=allow_breaking)


router.add_api_route(
    "/datasets",
    upload_dataset,
    methods=["POST"],
    status_code=202,
    route_class_override=StreamedUploadRoute,
)


@router.get("/datasets")
async def list_datasets(
    caller: Caller, runtime: Runtime, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> DatasetsOut:
    """The caller's datasets, newest first, with their latest version."""
    async with runtime.sessions() as session:  # type: ignore[misc]
        return await listing.listing(session=session, caller=caller, limit=limit)


@router.get("/datasets/{dataset_id}")
async def get_dataset(dataset_id: str, caller: Caller, runtime: Runtime) -> DatasetOut:
    """A dataset with its versions and the current mapping (role → column, confidence)."""
    async with runtime.sessions() as session:  # type: ignore[misc]
        return await service.describe(session=session, dataset_id=dataset_id, caller=caller)


@router.get("/datasets/{dataset_id}/versions")
async def list_versions(dataset_id: str, caller: Caller, runtime: Runtime) -> VersionsOut:
    """Every version of a dataset with its schema change from the one before."""
    async with runtime.sessions() as session:  # type: ignore[misc]
        return await service.versions(session=session, dataset_id=dataset_id, caller=caller)


@router.get("/datasets/{dataset_id}/schema")
async def latest_schema(dataset_id: str, caller: Caller, runtime: Runtime) -> SchemaOut:
    """The registered schema and profile of the latest version."""
    async with runtime.sessions() as session:  # type: ignore[misc]
        return await service.schema(session=session, dataset_id=dataset_id, version=None, caller=caller)


@router.get("/datasets/{dataset_id}/versions/{version}/schema")
async def version_schema(dataset_id: str, version: int, caller: Caller, runtime: Runtime) -> SchemaOut:
    """The registered schema and profile of one version."""
    async with runtime.sessions() as session:  # type: ignore[misc]
        return await service.schema(session=session, dataset_id=dataset_id, version=version, caller=caller)


@router.put("/datasets/{dataset_id}/mapping", status_code=202)
async def confirm_mapping(
    dataset_id: str, body: MappingIn, caller: Caller, runtime: Runtime
) -> MappingConfirmed:
    """Confirm or override the roles; the waiting analysis continues, a finished one re-runs."""
    caller.require("analyst")
    return await mapping.confirm(runtime, caller, dataset_id, body)
