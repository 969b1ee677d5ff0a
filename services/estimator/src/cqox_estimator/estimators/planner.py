"""How the planner chooses methods: the registry's methods that fit the design, roles and treatment."""

from __future__ import annotations

from typing import Literal

from cqox_contracts.v1 import RoleMapping
from cqox_estimator.estimators.registry import DESIGNS, REGISTRY
from cqox_shared.causal.treatment import with_derived_treatment


def select_methods(
    roles: RoleMapping,
    design: str,
    requested: Literal["auto"] | list[str],
    treatment_levels: int | None = None,
) -> tuple[list[str], dict[str, str]]:
    """Methods to run for this design and roles, plus a reason for each requested one skipped.

    With more than two treatment levels only methods that accept a multi-valued treatment
    (`multi_arm`) or a continuous numeric one (`continuous_treatment`) fit.
    """
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}; known: {', '.join(sorted(DESIGNS))}")
    roles = with_derived_treatment(roles, design)  # a sharp RD's treatment is 1(running >= cutoff)
    auto = requested == "auto"
    if isinstance(requested, str):
        names = list(REGISTRY) if auto else [requested]
    else:
        names = list(dict.fromkeys(requested))
    chosen: list[str] = []
    skipped: dict[str, str] = {}
    for name in names:
        reason = _unusable_reason(name, roles, design)
        estimator = REGISTRY[name].estimator if reason is None else None
        if (
            estimator is not None
            and (treatment_levels or 0) > 2
            and not (estimator.multi_arm or estimator.continuous_treatment)
        ):
            reason = f"{name} needs a binary treatment; the treatment has {treatment_levels} levels"
        if reason is None:
            chosen.append(name)
        elif not auto:
            skipped[name] = reason
    return chosen, skipped


def _unusable_reason(name: str, roles: RoleMapping, design: str) -> str | None:
    spec = REGISTRY.get(name)
    if spec is None:
        return f"unknown method {name!r}; known methods: {', '.join(REGISTRY)}"
    if design not in spec.designs:
        return f"{name} supports {', '.join(sorted(spec.designs))} designs, not {design}"
    missing = spec.missing_roles(roles)
    if missing:
        return f"{name} needs the {', '.join(missing)} role(s), which the mapping leaves empty"
    return None
