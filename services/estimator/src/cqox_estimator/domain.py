"""Estimation as a pure function: data frame and roles in, `EstimateResult` out (no I/O)."""

from __future__ import annotations

import inspect
import time
from typing import Any

import numpy as np
import pandas as pd

from cqox_contracts.v1 import EstimateResult, RoleMapping
from cqox_estimator.estimators import REGISTRY, EstimationError, prepare


def estimate(
    method: str,
    df: pd.DataFrame,
    roles: RoleMapping,
    *,
    ci_level: float = 0.95,
    seed: int = 0,
    options: dict[str, Any] | None = None,
) -> EstimateResult:
    """Run one registered method on `df`; `EstimationError` says why the data cannot support it."""
    started = time.perf_counter()
    spec = REGISTRY.get(method)
    if spec is None:
        raise EstimationError(f"unknown method {method!r}; known methods: {', '.join(REGISTRY)}")
    if not 0 < ci_level < 1:
        raise EstimationError(f"ci_level must be between 0 and 1, got {ci_level}")
    missing = spec.missing_roles(roles)
    if missing:
        raise EstimationError(f"{method} needs the {', '.join(missing)} role(s)")
    accepted = set(inspect.signature(spec.estimator.__init__).parameters) - {"self"}
    unknown = sorted(set(options or {}) - accepted)
    if unknown:
        raise EstimationError(
            f"unknown option(s) for {method}: {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(accepted)) or 'none'}"
        )

    design = prepare(df, roles)
    estimator = spec.build(options)
    if "random_state" in accepted:
        estimator.set_params(random_state=seed)
    try:
        estimator.fit(design.y, design.t, X=design.X)
    except np.linalg.LinAlgError as exc:
        raise EstimationError(f"{method} failed numerically: {exc}") from exc
    return estimator.result(ci_level=ci_level, design=design, runtime_s=time.perf_counter() - started)
