"""Dataset service functions: register an upload as a new version, read datasets and
their versions. Database functions take a keyword-only `session`."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import sqlalchemy as sa
from fastapi import HTTPException
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from cqox_contracts.v1 import AnalysisSpec, ColumnSchema, DatasetIngested, DatasetRef
from cqox_ingest import audit, schema_registry
from cqox_ingest.analyses.models import AnalysisLinks, MappingContext
from cqox_ingest.datasets.models import (
    DatasetMapping,
    DatasetOut,
    DatasetUploaded,
    SchemaOut,
    Upload,
    VersionOut,
    VersionsOut,
    VersionSummary,
)
from cqox_ingest.db.models import Analysis, Dataset, DatasetVersion
from cqox_ingest.readers import IngestError
from cqox_shared.auth import Principal
from cqox_shared.db import is_dead_connection
from cqox_shared.runtime import ServiceRuntime


async def register(
    runtime: ServiceRuntime, caller: Principal, up: Upload, spec: AnalysisSpec, *, allow_breaking: bool
) -> DatasetUploaded:
    """Store the raw file and its Parquet copy as the dataset's next version, start an analysis
    and say dataset.ingested; a refused (409 breaking schema change) or failed upload leaves
    nothing behind. Tried again once on a pooled connection that had died (PostgreSQL restarted
    since it was opened); PostgreSQL down raises OperationalError, which the app answers 503."""
    for attempt in (1, 2):
        try:
            return await _register(runtime, caller, up, spec, allow_breaking=allow_breaking)
        except sa.exc.DBAPIError as exc:
            if attempt == 2 or not is_dead_connection(exc):
                raise
    raise AssertionError("unreachable")


async def _register(
    runtime: ServiceRuntime, caller: Principal, up: Upload, spec: AnalysisSpec, *, allow_breaking: bool
) -> DatasetUploaded:
    stored: list[str] = []
    store = runtime.store
    assert store is not None
    try:
        async with runtime.transaction() as ctx:
            session = ctx.session
            dataset_name = up.dataset_name
            dataset = await _locked_dataset(session=session, tenant_id=caller.tenant_id, name=dataset_name)
            latest = await one_version(session=session, dataset_id=dataset.id, version=None)
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
            stored_version = DatasetVersion(
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
            session.add(stored_version)
            analysis_id = str(uuid.uuid4())
            session.add(
                Analysis.accepted(
                    analysis_id, caller.tenant_id, dataset.id, version, spec.model_dump(mode="json")
                )
            )
            audit.record(session, caller, "dataset.upload", dataset.id, version=version, filename=up.filename)
            ref = version_ref(dataset_name, stored_version)
            await ctx.emit(
                DatasetIngested(
                    correlation_id=analysis_id,
                    tenant_id=caller.tenant_id,
                    producer=ctx.producer,
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
    return DatasetUploaded(
        dataset_id=dataset.id,
        version=version,
        analysis_id=analysis_id,
        format=up.table.file_format,
        encoding=up.table.encoding,
        rows=up.table.n_rows,
        columns=[c.model_dump() for c in up.columns],
        notes=notes,
        schema_diff=change.model_dump(mode="json"),
        links=AnalysisLinks.of(dataset.id, analysis_id),
    )


def version_ref(name: str, version: DatasetVersion) -> DatasetRef:
    """The claim check the events carry for one stored version of the dataset called `name`."""
    return DatasetRef(
        dataset_id=version.dataset_id,
        version=version.version,
        name=name,
        parquet_uri=version.parquet_uri,
        n_rows=version.n_rows,
        columns=[ColumnSchema.model_validate(c) for c in version.columns],
        sha256=version.sha256,
    )


async def _locked_dataset(*, session: AsyncSession, tenant_id: str, name: str) -> Dataset:
    """The tenant's dataset of this name, created if new, locked until the transaction ends.

    Two first uploads of one name race: the insert does nothing when the name exists, and waits for
    a concurrent uncommitted insert of it to commit; the locking select then sees that row, so the
    second upload becomes version 2 (or a 409 breaking change), never a unique-constraint error.
    """
    await session.execute(
        pg_insert(Dataset)
        .values(id=str(uuid.uuid4()), tenant_id=tenant_id, name=name)
        .on_conflict_do_nothing(index_elements=[Dataset.tenant_id, Dataset.name])
    )
    dataset = await session.scalar(
        sa.select(Dataset).where(Dataset.tenant_id == tenant_id, Dataset.name == name).with_for_update()
    )
    assert dataset is not None  # inserted above, or present and committed
    return dataset


async def get(*, session: AsyncSession, dataset_id: str, caller: Principal) -> Dataset:
    """The caller's dataset, or 404 (another tenant's dataset does not exist for them)."""
    dataset = await session.get(Dataset, dataset_id)
    if dataset is None or dataset.tenant_id != caller.tenant_id:
        raise HTTPException(404, f"no dataset {dataset_id}")
    return dataset


async def all_versions(*, session: AsyncSession, dataset_id: str) -> list[DatasetVersion]:
    """Every version of a dataset, oldest first."""
    query = sa.select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id)
    return list((await session.scalars(query.order_by(DatasetVersion.version))).all())


async def one_version(
    *, session: AsyncSession, dataset_id: str, version: int | None
) -> DatasetVersion | None:
    """The given version of a dataset, or its latest when `version` is None."""
    query = sa.select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id)
    if version is not None:
        query = query.where(DatasetVersion.version == version)
    return await session.scalar(query.order_by(DatasetVersion.version.desc()).limit(1))


async def describe(*, session: AsyncSession, dataset_id: str, caller: Principal) -> DatasetOut:
    """A dataset with its versions and the mapping of its latest mapped analysis."""
    dataset = await get(session=session, dataset_id=dataset_id, caller=caller)
    versions = await all_versions(session=session, dataset_id=dataset_id)
    mapped = await session.scalar(
        sa.select(Analysis)
        .where(Analysis.dataset_id == dataset_id, Analysis.roles.is_not(None))
        .order_by(Analysis.updated_at.desc())
        .limit(1)
    )
    return DatasetOut(
        dataset_id=dataset.id,
        name=dataset.name,
        created_at=dataset.created_at,
        latest_version=versions[-1].version if versions else None,
        versions=[VersionOut(**_summary(v).model_dump(), profile=v.profile) for v in versions],
        mapping=None
        if mapped is None
        else DatasetMapping(
            analysis_id=mapped.id,
            version=mapped.dataset_version,
            design=mapped.design,
            needs_confirmation=mapped.needs_confirmation,
            roles=mapped.roles,
            assignments=mapped.assignments,
            **MappingContext.of(mapped).model_dump(),
        ),
    )


async def versions(*, session: AsyncSession, dataset_id: str, caller: Principal) -> VersionsOut:
    """Every version of a dataset with its schema change from the one before."""
    dataset = await get(session=session, dataset_id=dataset_id, caller=caller)
    rows = await all_versions(session=session, dataset_id=dataset_id)
    return VersionsOut(dataset_id=dataset.id, name=dataset.name, versions=[_summary(v) for v in rows])


async def schema(
    *, session: AsyncSession, dataset_id: str, version: int | None, caller: Principal
) -> SchemaOut:
    """The registered schema and profile of one version (the latest when `version` is None)."""
    dataset = await get(session=session, dataset_id=dataset_id, caller=caller)
    row = await one_version(session=session, dataset_id=dataset_id, version=version)
    if row is None:
        raise HTTPException(404, f"dataset {dataset_id} has no version {version}")
    return SchemaOut(
        dataset_id=dataset.id,
        name=dataset.name,
        version=row.version,
        format=row.file_format,
        encoding=row.encoding,
        columns=row.columns,
        schema_diff=row.schema_diff,
        profile=row.profile,
    )


def _summary(v: DatasetVersion) -> VersionSummary:
    return VersionSummary(
        version=v.version,
        filename=v.filename,
        format=v.file_format,
        encoding=v.encoding,
        schema_diff=v.schema_diff,
        rows=v.n_rows,
        columns=v.columns,
        size_bytes=v.size_bytes,
        sha256=v.sha256,
        notes=v.notes,
        created_at=v.created_at,
    )
