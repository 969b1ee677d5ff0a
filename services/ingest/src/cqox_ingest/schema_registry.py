"""The schema registry's rule: a new version may add columns; removing or retyping one is breaking."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cqox_contracts.v1 import ColumnRetype, ColumnSchema, SchemaDiff

# A column that was entirely missing had no real type: giving it one later is not a change.
UNTYPED = {"null"}


def diff(
    previous: Sequence[dict[str, Any]] | None, current: Sequence[ColumnSchema], version: int | None
) -> SchemaDiff:
    """How `current` differs from the previous version's columns (as stored: name, dtype, nullable)."""
    if previous is None:
        return SchemaDiff()
    old = {c["name"]: c["dtype"] for c in previous}
    new = {c.name: c.dtype for c in current}
    removed = [name for name in old if name not in new]
    retyped = [
        ColumnRetype(name=name, old_dtype=old[name], new_dtype=new[name])
        for name in old
        if name in new and old[name] != new[name] and old[name] not in UNTYPED
    ]
    return SchemaDiff(
        previous_version=version,
        added=[name for name in new if name not in old],
        removed=removed,
        retyped=retyped,
        breaking=bool(removed or retyped),
    )


def describe(change: SchemaDiff) -> str:
    """One sentence naming what a breaking change removes and retypes."""
    parts = []
    if change.removed:
        parts.append("removes " + ", ".join(repr(n) for n in change.removed))
    if change.retyped:
        parts.append(
            "retypes " + ", ".join(f"{c.name!r} ({c.old_dtype} → {c.new_dtype})" for c in change.retyped)
        )
    return " and ".join(parts)
