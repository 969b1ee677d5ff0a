"""The caller's datasets as a list (GET /v1/datasets): one query, newest first."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cqox_ingest.datasets.models import DatasetListed, DatasetsOut
from cqox_ingest.db.models import Dataset, DatasetVersion
from cqox_shared.auth import Principal


async def listing(*, session: AsyncSession, caller: Principal, limit: int) -> DatasetsOut:
    """The caller's datasets, newest first, each with its latest version number."""
    latest = (
        sa.select(DatasetVersion.dataset_id, sa.func.max(DatasetVersion.version).label("latest"))
        .group_by(DatasetVersion.dataset_id)
        .subquery()
    )
    rows = (
        await session.execute(
            sa.select(Dataset, latest.c.latest)
            .outerjoin(latest, latest.c.dataset_id == Dataset.id)
            .where(Dataset.tenant_id == caller.tenant_id)
            .order_by(Dataset.created_at.desc(), Dataset.name)
            .limit(limit)
        )
    ).all()
    return DatasetsOut(
        datasets=[
            DatasetListed(dataset_id=d.id, name=d.name, created_at=d.created_at, latest_version=v)
            for d, v in rows
        ]
    )
