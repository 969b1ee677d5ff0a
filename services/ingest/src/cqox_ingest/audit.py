"""The audit log: who did what to which dataset or analysis (written in the caller's transaction)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cqox_ingest.db.models import AuditEntry
from cqox_shared.auth import Principal


def record(session: AsyncSession, caller: Principal, action: str, target: str, **detail: Any) -> None:
    """Add one audit entry to the session; it commits with the change it describes."""
    session.add(
        AuditEntry(tenant_id=caller.tenant_id, role=caller.role, action=action, target=target, detail=detail)
    )
