"""PUT /v1/datasets/{id}/mapping: a person confirms or corrects the roles the mapping inferred.

The analysis waiting for confirmation continues with the given roles; a finished (or still
running) analysis is not touched: a new analysis re-runs it with the corrected roles. Either way
the API says `cqox.v1.dataset.confirmed`; the mapping service re-maps, remembers the roles for the
dataset and re-emits `cqox.v1.dataset.mapped`, so the analysis is re-planned.
"""

import uuid
from collections.abc import Callable
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field, ValidationError

from cqox_contracts.v1 import AnalysisSpec, ColumnSchema, DatasetConfirmed, DatasetRef
from cqox_ingest.db.models import Analysis, AuditEntry, Dataset, DatasetVersion
from cqox_shared.auth import Principal
from cqox_shared.runtime import ServiceRuntime

WAITING = "awaiting_confirmation"
# Keys that name a value rather than a column.
_VALUE_KEYS = frozenset({"cutoff"})
# Labels of the treatment column, not column names: checked by the mapping service.
_LEVEL_KEYS = frozenset({"treated_level", "reference_level"})


class MappingIn(BaseModel):
    """Roles to confirm or correct; empty roles accept the inferred mapping as it is."""

    roles: dict[str, str | list[str] | float] = Field(
        default_factory=dict,
        description="role -> column (a list for 'covariates' and 'excluded'; a number for 'cutoff')",
    )
    analysis_id: str | None = Field(
        default=None, description="The analysis to continue (default: the latest of this dataset)"
    )


def router(runtime: ServiceRuntime, auth: Callable[..., Principal]) -> APIRouter:
    """The mapping-confirmation route bound to the service runtime and the auth dependency."""
    api = APIRouter(prefix="/v1")
    Caller = Annotated[Principal, Depends(auth)]

    @api.put("/datasets/{dataset_id}/mapping", status_code=202)
    async def confirm_mapping(dataset_id: str, body: MappingIn, caller: Caller) -> dict[str, Any]:
        """Confirm or override the roles; the waiting analysis continues, a finished one re-runs."""
        caller.require("analyst")
        async with runtime.transaction() as ctx:
            session = ctx.session
            dataset = await session.get(Dataset, dataset_id)
            if dataset is None or dataset.tenant_id != caller.tenant_id:
                raise HTTPException(404, f"no dataset {dataset_id}")
            target = await _target_analysis(session, dataset_id, body.analysis_id)
            versions = sa.select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id)
            if target is not None:
                versions = versions.where(DatasetVersion.version == target.dataset_version)
            version = await session.scalar(versions.order_by(DatasetVersion.version.desc()).limit(1))
            if version is None:
                raise HTTPException(404, f"dataset {dataset_id} has no stored version")
            columns = [ColumnSchema.model_validate(c) for c in version.columns]
            roles = _checked_roles(body.roles, {c.name for c in columns})
            try:
                spec = AnalysisSpec.model_validate(target.spec) if target is not None else AnalysisSpec()
                spec = spec.model_copy(update={"roles": roles})
            except ValidationError as exc:
                raise HTTPException(422, f"invalid roles: {exc.errors()[0]['msg']}") from exc

            continues = target is not None and target.status == WAITING
            if continues:
                assert target is not None
                analysis_id = target.id
            else:
                analysis_id = str(uuid.uuid4())
                session.add(
                    Analysis(
                        id=analysis_id,
                        tenant_id=caller.tenant_id,
                        dataset_id=dataset_id,
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
            session.add(
                AuditEntry(
                    tenant_id=caller.tenant_id,
                    role=caller.role,
                    action="dataset.mapping",
                    target=dataset_id,
                    detail={"analysis_id": analysis_id, "roles": roles, "continues": continues},
                )
            )
            await ctx.emit(
                DatasetConfirmed(
                    correlation_id=analysis_id,
                    tenant_id=caller.tenant_id,
                    producer="ingest",
                    dataset=DatasetRef(
                        dataset_id=dataset_id,
                        version=version.version,
                        name=dataset.name,
                        parquet_uri=version.parquet_uri,
                        n_rows=version.n_rows,
                        columns=columns,
                    ),
                    analysis_id=analysis_id,
                    spec=spec,
                    roles=roles,
                    replaces_analysis_id=None if continues or target is None else target.id,
                )
            )
        return {
            "analysis_id": analysis_id,
            "dataset_id": dataset_id,
            "version": version.version,
            "continues": continues,
            "replaces_analysis_id": None if continues or target is None else target.id,
            "roles": roles,
            "links": {
                "dataset": f"/v1/datasets/{dataset_id}",
                "analysis": f"/v1/analyses/{analysis_id}",
                "events": f"/v1/analyses/{analysis_id}/events",
            },
        }

    return api


async def _target_analysis(session: Any, dataset_id: str, analysis_id: str | None) -> Analysis | None:
    """The named analysis, else the latest one waiting for confirmation, else the latest one."""
    if analysis_id is not None:
        analysis = await session.get(Analysis, analysis_id)
        if analysis is None or analysis.dataset_id != dataset_id:
            raise HTTPException(404, f"dataset {dataset_id} has no analysis {analysis_id}")
        return analysis  # type: ignore[no-any-return]
    latest = sa.select(Analysis).where(Analysis.dataset_id == dataset_id).order_by(Analysis.created_at.desc())
    waiting = await session.scalar(latest.where(Analysis.status == WAITING).limit(1))
    return waiting if waiting is not None else await session.scalar(latest.limit(1))  # type: ignore[no-any-return]


def _checked_roles(
    roles: dict[str, str | list[str] | float], columns: set[str]
) -> dict[str, str | list[str]]:
    """Refuse (422) roles naming columns the dataset does not have; the mapping checks the rest."""
    checked: dict[str, str | list[str]] = {}
    for role, value in roles.items():
        if role in _VALUE_KEYS:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise HTTPException(422, f"{role!r} must be a number, got {value!r}")
            checked[role] = str(value)
            continue
        if role in _LEVEL_KEYS:
            if not isinstance(value, str) or not value.strip():
                raise HTTPException(422, f"{role!r} must be a level of the treatment column, got {value!r}")
            checked[role] = value
            continue
        if isinstance(value, int | float):
            raise HTTPException(422, f"role {role!r} takes a column name, got {value!r}")
        names = [value] if isinstance(value, str) else list(value)
        missing = [n for n in names if n not in columns]
        if missing:
            raise HTTPException(
                422,
                f"role {role!r}: no column {', '.join(map(repr, missing))}; "
                f"columns: {', '.join(sorted(columns))}",
            )
        checked[role] = value
    return checked
