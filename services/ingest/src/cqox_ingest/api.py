"""HTTP API of the ingest service: datasets, analyses, their events (SSE) and reports."""

import asyncio
import contextlib
import hashlib
import json
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field, ValidationError

from cqox_contracts.v1 import (
    AnalysisRequested,
    AnalysisSpec,
    ColumnSchema,
    DatasetIngested,
    DatasetProfile,
    DatasetRef,
)
from cqox_ingest import schema_registry
from cqox_ingest.conversion import Converted, convert
from cqox_ingest.db.models import Analysis, AnalysisEvent, AuditEntry, Dataset, DatasetVersion
from cqox_ingest.domain import SSE_KEEPALIVE_S, TERMINAL, sse_poll_delay
from cqox_ingest.readers import IngestError, Limits, safe_filename
from cqox_shared.artifacts import ArtifactNotFoundError
from cqox_shared.auth import Principal
from cqox_shared.runtime import ServiceRuntime

CHUNK = 1 << 20
# Routes taking a file body: rate-limited as uploads (CQOX_RATE_LIMIT_UPLOADS_PER_MINUTE).
UPLOAD_ROUTES = (("POST", "/v1/datasets"),)


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


class AnalysisIn(BaseModel):
    """A new analysis of an existing dataset version."""

    dataset_id: str
    version: int | None = Field(default=None, description="Dataset version (default: latest)")
    methods: str | list[str] = Field(default="auto", description='"auto" or a list of method names')
    roles: dict[str, str | list[str]] = Field(default_factory=dict, description="Role overrides")
    ci_level: float = Field(default=0.95, gt=0, lt=1)
    seed: int | None = None
    options: dict[str, dict[str, float | int | str | bool]] = Field(
        default_factory=dict, description="Per-method options, e.g. {'cs_did': {'adjustment': 'dr'}}"
    )


SPEC_KEYS = ("methods", "roles", "ci_level", "seed", "options")


def _spec(
    methods: Any, roles: Any, ci_level: Any = 0.95, seed: Any = None, options: Any = None
) -> AnalysisSpec:
    if isinstance(methods, str) and methods != "auto":
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    try:
        return AnalysisSpec(
            methods=methods, roles=roles or {}, ci_level=ci_level, seed=seed, options=options or {}
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise HTTPException(422, f"invalid analysis spec ({where}): {error['msg']}") from exc


def router(runtime: ServiceRuntime, auth: Callable[..., Principal], max_upload_bytes: int) -> APIRouter:
    """Routes bound to the service runtime and the auth dependency."""
    api = APIRouter(prefix="/v1")
    settings = runtime.settings
    limits = Limits(
        max_columns=getattr(settings, "max_columns", Limits.max_columns),
        max_cell_bytes=getattr(settings, "max_cell_bytes", Limits.max_cell_bytes),
        max_inflated_bytes=getattr(settings, "max_inflated_bytes", Limits.max_inflated_bytes),
        max_inflation_ratio=getattr(settings, "max_inflation_ratio", Limits.max_inflation_ratio),
    )
    Caller = Annotated[Principal, Depends(auth)]

    async def _audit(session: Any, caller: Principal, action: str, target: str, **detail: Any) -> None:
        session.add(
            AuditEntry(
                tenant_id=caller.tenant_id, role=caller.role, action=action, target=target, detail=detail
            )
        )

    @api.post("/datasets", status_code=202)
    async def upload_dataset(
        caller: Caller,
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
    ) -> dict[str, Any]:
        """Store a file, convert it to Parquet once, register its schema and profile, start an analysis."""
        caller.require("analyst")
        try:
            raw_spec = json.loads(analysis) if analysis else {}
        except json.JSONDecodeError as exc:
            raise HTTPException(422, f"the 'analysis' field is not valid JSON: {exc}") from exc
        if not isinstance(raw_spec, dict):
            raise HTTPException(422, "the 'analysis' field must be a JSON object")
        unknown = sorted(set(raw_spec) - set(SPEC_KEYS))
        if unknown:
            raise HTTPException(
                422, f"unknown key(s) in 'analysis': {', '.join(unknown)}; known: {', '.join(SPEC_KEYS)}"
            )
        spec = _spec(
            raw_spec.get("methods", "auto"),
            raw_spec.get("roles"),
            raw_spec.get("ci_level", 0.95),
            raw_spec.get("seed"),
            raw_spec.get("options"),
        )
        filename = safe_filename(file.filename)
        renamed = (
            []
            if not file.filename or filename == file.filename
            else [f"file name {str(file.filename)[:200]!r} stored as {filename!r}"]
        )
        dataset_name = (name or Path(filename).stem or "dataset").strip()[:300]
        with tempfile.TemporaryDirectory(prefix="cqox-upload-") as tmp:
            raw_path, parquet_path = Path(tmp) / "raw", Path(tmp) / "data.parquet"
            size, digest = await _spool(file, raw_path, max_upload_bytes)
            converted = await asyncio.to_thread(
                convert, raw_path, parquet_path, filename, encoding=encoding, sheet=sheet, limits=limits
            )
            return await _register(
                caller,
                Upload(
                    dataset_name=dataset_name,
                    filename=filename,
                    table=converted,
                    notes=renamed + converted.notes,
                    raw_path=raw_path,
                    parquet_path=parquet_path,
                    size=size,
                    digest=digest,
                    columns=converted.columns,
                    profile=converted.profile,
                ),
                spec,
                allow_breaking,
            )

    async def _register(
        caller: Principal, up: Upload, spec: AnalysisSpec, allow_breaking: bool
    ) -> dict[str, Any]:
        stored: list[str] = []
        store = runtime.store
        assert store is not None
        try:
            async with runtime.transaction() as ctx:
                session = ctx.session
                dataset_name = up.dataset_name
                dataset = await session.scalar(
                    sa.select(Dataset)
                    .where(Dataset.tenant_id == caller.tenant_id, Dataset.name == dataset_name)
                    .with_for_update()
                )
                if dataset is None:
                    dataset = Dataset(id=str(uuid.uuid4()), tenant_id=caller.tenant_id, name=dataset_name)
                    session.add(dataset)
                    await session.flush()
                latest = await _one_version(session, dataset.id, None)
                change = schema_registry.diff(
                    latest.columns if latest else None, up.columns, latest.version if latest else None
                )
                if change.breaking and not allow_breaking:
                    raise IngestError(
                        409,
                        f"version {latest.version + 1 if latest else 1} of {dataset_name!r} "
                        f"{schema_registry.describe(change)}: a breaking schema change. Upload with "
                        "allow_breaking=true to accept it, or under another name",
                        diff=change.model_dump(mode="json"),
                    )
                version = (latest.version if latest else 0) + 1
                prefix = f"{caller.tenant_id}/datasets/{dataset.id}/v{version}"
                raw_uri = await asyncio.to_thread(store.put_file, f"{prefix}/raw/{up.filename}", up.raw_path)
                stored.append(raw_uri)
                parquet_uri = await asyncio.to_thread(
                    store.put_file,
                    f"{prefix}/data.parquet",
                    up.parquet_path,
                    "application/vnd.apache.parquet",
                )
                stored.append(parquet_uri)
                notes = up.notes + (
                    ["breaking schema change accepted (allow_breaking)"] if change.breaking else []
                )
                session.add(
                    DatasetVersion(
                        dataset_id=dataset.id,
                        version=version,
                        filename=up.filename,
                        file_format=up.table.file_format,
                        encoding=up.table.encoding,
                        raw_uri=raw_uri,
                        parquet_uri=parquet_uri,
                        size_bytes=up.size,
                        sha256=up.digest,
                        n_rows=up.table.n_rows,
                        n_columns=len(up.columns),
                        columns=[c.model_dump() for c in up.columns],
                        notes=notes,
                        profile=up.profile.model_dump(mode="json"),
                        schema_diff=change.model_dump(mode="json"),
                    )
                )
                analysis_id = str(uuid.uuid4())
                session.add(
                    Analysis(
                        id=analysis_id,
                        tenant_id=caller.tenant_id,
                        dataset_id=dataset.id,
                        dataset_version=version,
                        status="accepted",
                        spec=spec.model_dump(mode="json"),
                        assignments=[],
                        estimates=[],
                        failures=[],
                        gates=[],
                        notifications=[],
                        planned_methods=[],
                    )
                )
                await _audit(
                    session, caller, "dataset.upload", dataset.id, version=version, filename=up.filename
                )
                ref = DatasetRef(
                    dataset_id=dataset.id,
                    version=version,
                    name=dataset_name,
                    parquet_uri=parquet_uri,
                    n_rows=up.table.n_rows,
                    columns=up.columns,
                )
                await ctx.emit(
                    DatasetIngested(
                        correlation_id=analysis_id,
                        tenant_id=caller.tenant_id,
                        producer="ingest",
                        dataset=ref,
                        raw_uri=raw_uri,
                        analysis_id=analysis_id,
                        spec=spec,
                        file_format=up.table.file_format,
                        encoding=up.table.encoding,
                        notes=notes,
                        profile=up.profile,
                        schema_diff=change,
                    )
                )
        except BaseException:
            for uri in stored:  # a refused or failed upload leaves nothing behind
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(store.delete, uri)
            raise
        return {
            "dataset_id": dataset.id,
            "version": version,
            "analysis_id": analysis_id,
            "format": up.table.file_format,
            "encoding": up.table.encoding,
            "rows": up.table.n_rows,
            "columns": [c.model_dump() for c in up.columns],
            "notes": notes,
            "schema_diff": change.model_dump(mode="json"),
            "links": _links(dataset.id, analysis_id),
        }

    @api.get("/datasets/{dataset_id}")
    async def get_dataset(dataset_id: str, caller: Caller) -> dict[str, Any]:
        """A dataset with its versions and the current mapping (role → column, confidence)."""
        async with runtime.sessions() as session:  # type: ignore[misc]
            dataset = await _dataset(session, dataset_id, caller)
            versions = await _all_versions(session, dataset_id)
            mapped = await session.scalar(
                sa.select(Analysis)
                .where(Analysis.dataset_id == dataset_id, Analysis.roles.is_not(None))
                .order_by(Analysis.updated_at.desc())
                .limit(1)
            )
        return {
            "dataset_id": dataset.id,
            "name": dataset.name,
            "created_at": dataset.created_at,
            "latest_version": versions[-1].version if versions else None,
            "versions": [_version(v) for v in versions],
            "mapping": None
            if mapped is None
            else {
                "analysis_id": mapped.id,
                "version": mapped.dataset_version,
                "design": mapped.design,
                "needs_confirmation": mapped.needs_confirmation,
                "roles": mapped.roles,
                "assignments": mapped.assignments,
                **_mapping_context(mapped),
            },
        }

    @api.get("/datasets/{dataset_id}/versions")
    async def list_versions(dataset_id: str, caller: Caller) -> dict[str, Any]:
        """Every version of a dataset with its schema change from the one before."""
        async with runtime.sessions() as session:  # type: ignore[misc]
            dataset = await _dataset(session, dataset_id, caller)
            versions = await _all_versions(session, dataset_id)
        return {
            "dataset_id": dataset.id,
            "name": dataset.name,
            "versions": [_version(v, with_profile=False) for v in versions],
        }

    @api.get("/datasets/{dataset_id}/schema")
    async def latest_schema(dataset_id: str, caller: Caller) -> dict[str, Any]:
        """The registered schema and profile of the latest version."""
        return await _schema(dataset_id, None, caller)

    @api.get("/datasets/{dataset_id}/versions/{version}/schema")
    async def version_schema(dataset_id: str, version: int, caller: Caller) -> dict[str, Any]:
        """The registered schema and profile of one version."""
        return await _schema(dataset_id, version, caller)

    async def _schema(dataset_id: str, version: int | None, caller: Principal) -> dict[str, Any]:
        async with runtime.sessions() as session:  # type: ignore[misc]
            dataset = await _dataset(session, dataset_id, caller)
            row = await _one_version(session, dataset_id, version)
        if row is None:
            raise HTTPException(404, f"dataset {dataset_id} has no version {version}")
        return {
            "dataset_id": dataset.id,
            "name": dataset.name,
            "version": row.version,
            "format": row.file_format,
            "encoding": row.encoding,
            "columns": row.columns,
            "schema_diff": row.schema_diff,
            "profile": row.profile,
        }

    @api.post("/analyses", status_code=202)
    async def create_analysis(body: AnalysisIn, caller: Caller) -> dict[str, Any]:
        """Start a new analysis of a stored dataset version."""
        caller.require("analyst")
        spec = _spec(body.methods, body.roles, body.ci_level, body.seed, body.options)
        analysis_id = str(uuid.uuid4())
        async with runtime.transaction() as ctx:
            dataset = await _dataset(ctx.session, body.dataset_id, caller)
            version = await _one_version(ctx.session, dataset.id, body.version)
            if version is None:
                raise HTTPException(404, f"dataset {dataset.id} has no version {body.version}")
            ctx.session.add(
                Analysis(
                    id=analysis_id,
                    tenant_id=caller.tenant_id,
                    dataset_id=dataset.id,
                    dataset_version=version.version,
                    status="accepted",
                    spec=spec.model_dump(mode="json"),
                    assignments=[],
                    estimates=[],
                    failures=[],
                    gates=[],
                    notifications=[],
                    planned_methods=[],
                )
            )
            await _audit(ctx.session, caller, "analysis.create", analysis_id, dataset_id=dataset.id)
            ref = DatasetRef(
                dataset_id=dataset.id,
                version=version.version,
                name=dataset.name,
                parquet_uri=version.parquet_uri,
                n_rows=version.n_rows,
                columns=[ColumnSchema.model_validate(c) for c in version.columns],
            )
            await ctx.emit(
                AnalysisRequested(
                    correlation_id=analysis_id,
                    tenant_id=caller.tenant_id,
                    producer="ingest",
                    dataset=ref,
                    analysis_id=analysis_id,
                    spec=spec,
                )
            )
        return {
            "analysis_id": analysis_id,
            "dataset_id": dataset.id,
            "version": version.version,
            "links": _links(dataset.id, analysis_id),
        }

    @api.get("/analyses/{analysis_id}")
    async def get_analysis(analysis_id: str, caller: Caller) -> dict[str, Any]:
        """Status, estimates, gates and report links of an analysis."""
        async with runtime.sessions() as session:  # type: ignore[misc]
            analysis = await _analysis(session, analysis_id, caller)
        report = None
        if analysis.report:
            report = {
                **analysis.report,
                "url": f"/v1/analyses/{analysis_id}/report",
                "path": _local_path(analysis.report["uri"]),
            }
        return {
            "analysis_id": analysis.id,
            "dataset_id": analysis.dataset_id,
            "version": analysis.dataset_version,
            "status": analysis.status,
            "spec": analysis.spec,
            "design": analysis.design,
            "roles": analysis.roles,
            "mapping": analysis.assignments,
            "needs_confirmation": analysis.needs_confirmation,
            **_mapping_context(analysis),
            "planned_methods": analysis.planned_methods,
            "estimates": analysis.estimates,
            "failures": analysis.failures,
            "gates": analysis.gates,
            "report": report,
            "notifications": analysis.notifications,
            "error": analysis.error,
            "created_at": analysis.created_at,
            "updated_at": analysis.updated_at,
            "links": _links(analysis.dataset_id, analysis.id),
        }

    @api.get("/analyses/{analysis_id}/events")
    async def stream_events(analysis_id: str, request: Request, caller: Caller) -> StreamingResponse:
        """Server-Sent Events: every event of the analysis as it happens; ends when it is done."""
        async with runtime.sessions() as session:  # type: ignore[misc]
            await _analysis(session, analysis_id, caller)
        last = int(request.headers.get("last-event-id") or 0)
        return StreamingResponse(
            _events(analysis_id, last, request),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def _events(analysis_id: str, after: int, request: Request) -> AsyncIterator[bytes]:
        idle, empty_polls = 0.0, 0
        while not await request.is_disconnected():
            async with runtime.sessions() as session:  # type: ignore[misc]
                rows = (
                    await session.scalars(
                        sa.select(AnalysisEvent)
                        .where(AnalysisEvent.analysis_id == analysis_id, AnalysisEvent.seq > after)
                        .order_by(AnalysisEvent.seq)
                        .limit(500)
                    )
                ).all()
                status = await session.scalar(sa.select(Analysis.status).where(Analysis.id == analysis_id))
            for row in rows:
                after = row.seq
                data = {
                    "seq": row.seq,
                    "event_type": row.event_type,
                    "subject": row.subject,
                    "producer": row.producer,
                    "occurred_at": row.occurred_at.isoformat(),
                    "summary": row.summary,
                }
                yield f"id: {row.seq}\nevent: {row.event_type}\ndata: {json.dumps(data)}\n\n".encode()
            if not rows and status in TERMINAL:
                yield f"event: end\ndata: {json.dumps({'status': status})}\n\n".encode()
                return
            if rows:
                idle, empty_polls = 0.0, 0
                continue
            empty_polls += 1
            delay = sse_poll_delay(empty_polls)
            idle += delay
            if idle >= SSE_KEEPALIVE_S:
                idle = 0.0
                yield b": keep-alive\n\n"
            await asyncio.sleep(delay)

    @api.get("/analyses/{analysis_id}/report")
    async def get_report(analysis_id: str, caller: Caller) -> Response:
        """The self-contained HTML report."""
        return await _artifact(analysis_id, "report", caller)

    @api.get("/analyses/{analysis_id}/artifacts/{name}")
    async def get_artifact(analysis_id: str, name: str, caller: Caller) -> Response:
        """A figure or other artifact of the analysis, by name."""
        return await _artifact(analysis_id, name, caller)

    async def _artifact(analysis_id: str, name: str, caller: Principal) -> Response:
        async with runtime.sessions() as session:  # type: ignore[misc]
            analysis = await _analysis(session, analysis_id, caller)
        artifacts = {a["name"]: a for a in (analysis.report or {}).get("artifacts", [])}
        if name not in artifacts:
            raise HTTPException(
                404, f"analysis {analysis_id} has no artifact {name!r} (yet); status {analysis.status}"
            )
        assert runtime.store is not None
        try:
            body = await asyncio.to_thread(runtime.store.get_bytes, artifacts[name]["uri"])
        except ArtifactNotFoundError as exc:
            raise HTTPException(404, f"artifact {name!r} is missing from the store") from exc
        return Response(body, media_type=artifacts[name]["media_type"])

    return api


async def _spool(upload: UploadFile, path: Path, limit: int) -> tuple[int, str]:
    """Copy the upload to a file in chunks, refusing it (413) once it passes the limit."""
    size = 0
    digest = hashlib.sha256()
    with path.open("wb") as out:
        while chunk := await upload.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise HTTPException(
                    413, f"the file is larger than the {limit}-byte limit (CQOX_MAX_UPLOAD_BYTES)"
                )
            digest.update(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


async def _all_versions(session: Any, dataset_id: str) -> list[DatasetVersion]:
    """Every version of a dataset, oldest first."""
    query = sa.select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id)
    return list((await session.scalars(query.order_by(DatasetVersion.version))).all())


async def _one_version(session: Any, dataset_id: str, version: int | None) -> DatasetVersion | None:
    """The given version of a dataset, or its latest when `version` is None."""
    query = sa.select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id)
    if version is not None:
        query = query.where(DatasetVersion.version == version)
    return await session.scalar(query.order_by(DatasetVersion.version.desc()).limit(1))  # type: ignore[no-any-return]


async def _dataset(session: Any, dataset_id: str, caller: Principal) -> Dataset:
    dataset = await session.get(Dataset, dataset_id)
    if dataset is None or dataset.tenant_id != caller.tenant_id:
        raise HTTPException(404, f"no dataset {dataset_id}")
    return dataset  # type: ignore[no-any-return]


async def _analysis(session: Any, analysis_id: str, caller: Principal) -> Analysis:
    analysis = await session.get(Analysis, analysis_id)
    if analysis is None or analysis.tenant_id != caller.tenant_id:
        raise HTTPException(404, f"no analysis {analysis_id}")
    return analysis  # type: ignore[no-any-return]


def _version(v: DatasetVersion, with_profile: bool = True) -> dict[str, Any]:
    extra = {"profile": v.profile} if with_profile else {}
    return {
        **extra,
        "version": v.version,
        "filename": v.filename,
        "format": v.file_format,
        "encoding": v.encoding,
        "schema_diff": v.schema_diff,
        "rows": v.n_rows,
        "columns": v.columns,
        "size_bytes": v.size_bytes,
        "sha256": v.sha256,
        "parquet_uri": v.parquet_uri,
        "raw_uri": v.raw_uri,
        "notes": v.notes,
        "created_at": v.created_at,
    }


def _links(dataset_id: str, analysis_id: str) -> dict[str, str]:
    return {
        "dataset": f"/v1/datasets/{dataset_id}",
        "analysis": f"/v1/analyses/{analysis_id}",
        "events": f"/v1/analyses/{analysis_id}/events",
        "report": f"/v1/analyses/{analysis_id}/report",
    }


def _local_path(uri: str) -> str | None:
    parsed = urlparse(uri)
    return parsed.path if parsed.scheme == "file" else None


def _mapping_context(analysis: Analysis) -> dict[str, Any]:
    """Designs the mapping considered (supported or not, and why), its notes and threshold."""
    context = analysis.mapping_context or {}
    return {
        "designs": context.get("designs", []),
        "mapping_notes": context.get("notes", []),
        "confidence_threshold": context.get("confidence_threshold"),
        "dictionary_version": context.get("dictionary_version"),
        "mapping_confirmed": context.get("confirmed", False),
    }
