"""Confirming the mapping (PUT /v1/datasets/{id}/mapping): a person confirms or corrects the roles the mapping inferred.

The analysis waiting for confirmation continues with the given roles; a finished (or still
running) analysis is not touched: a new analysis re-runs it with the corrected roles. Either way
the API says `cqox.v1.dataset.confirmed`; the mapping service re-maps, remembers the roles for the
dataset and re-emits `cqox.v1.dataset.mapped`, so the analysis is re-planned.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from fastapi import HTTPException
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from cqox_contracts.v1 import AnalysisSpec, ColumnSchema, DatasetConfirmed, Design
from cqox_ingest import audit
from cqox_ingest.datasets.models import MappingConfirmed, MappingIn, MappingLinks
from cqox_ingest.datasets.service import version_ref
from cqox_ingest.db.models import Analysis, Dataset, DatasetVersion
from cqox_shared.auth import Principal
from cqox_shared.runtime import ServiceRuntime

WAITING = "awaiting_confirmation"
# Keys that name a value rather than a column.
_VALUE_KEYS = frozenset({"cutoff"})
# Labels of the treatment column, not column names: checked by the mapping service.
_LEVEL_KEYS = frozenset({"treated_level", "reference_level"})


async def confirm(
    runtime: ServiceRuntime, caller: Principal, dataset_id: str, body: MappingIn
) -> MappingConfirmed:
    """Confirm or override the roles and say dataset.confirmed: the waiting analysis continues,
    a finished (or running) one is left alone and a new analysis re-runs it."""
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
                Analysis.accepted(
                    analysis_id, caller.tenant_id, dataset_id, version.version, spec.model_dump(mode="json")
                )
            )
        audit.record(
            session,
            caller,
            "dataset.mapping",
            dataset_id,
            analysis_id=analysis_id,
            roles=roles,
            continues=continues,
        )
        await ctx.emit(
            DatasetConfirmed(
                correlation_id=analysis_id,
                tenant_id=caller.tenant_id,
                producer=ctx.producer,
                dataset=version_ref(dataset.name, version),
                analysis_id=analysis_id,
                spec=spec,
                roles=roles,
                replaces_analysis_id=None if continues or target is None else target.id,
            )
        )
    return MappingConfirmed(
        analysis_id=analysis_id,
        dataset_id=dataset_id,
        version=version.version,
        continues=continues,
        replaces_analysis_id=None if continues or target is None else target.id,
        roles=roles,
        links=MappingLinks(
            dataset=f"/v1/datasets/{dataset_id}",
            analysis=f"/v1/analyses/{analysis_id}",
            events=f"/v1/analyses/{analysis_id}/events",
        ),
    )


async def _target_analysis(
    session: AsyncSession, dataset_id: str, analysis_id: str | None
) -> Analysis | None:
    """The named analysis, else the latest one waiting for confirmation, else the latest one."""
    if analysis_id is not None:
        analysis = await session.get(Analysis, analysis_id)
        if analysis is None or analysis.dataset_id != dataset_id:
            raise HTTPException(404, f"dataset {dataset_id} has no analysis {analysis_id}")
        return analysis
    latest = sa.select(Analysis).where(Analysis.dataset_id == dataset_id).order_by(Analysis.created_at.desc())
    waiting = await session.scalar(latest.where(Analysis.status == WAITING).limit(1))
    return waiting if waiting is not None else await session.scalar(latest.limit(1))


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
        if role == "design":
            # Randomisation cannot be seen in the data: the user may state the design.
            if not isinstance(value, str) or value not in set(Design):
                raise HTTPException(
                    422, f"'design' must be one of {', '.join(sorted(Design))}, got {value!r}"
                )
            checked[role] = value
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
