"""Summaries of per-unit effects: distribution, by covariate quantiles, top drivers."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

N_DRIVERS = 3
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def summarize_effects(
    effects: NDArray[np.float64], X: NDArray[np.float64], names: list[str]
) -> dict[str, float | str | None]:
    """Flat diagnostics describing how the per-unit effects vary and with which covariates."""
    effects = np.asarray(effects, dtype=float).reshape(-1)
    summary: dict[str, float | str | None] = {
        "cate_mean": float(effects.mean()),
        "cate_sd": float(effects.std(ddof=1)) if effects.size > 1 else 0.0,
        "cate_share_positive": float((effects > 0).mean()),
    }
    for q, value in zip(QUANTILES, np.quantile(effects, QUANTILES), strict=True):
        summary[f"cate_p{round(q * 100):02d}"] = float(value)
    if X.shape[1] == 0 or X.shape[0] != effects.shape[0]:
        summary["cate_top_drivers"] = ""
        return summary
    labels = names if len(names) == X.shape[1] else [f"x{j}" for j in range(X.shape[1])]
    drivers = top_drivers(effects, X)
    summary["cate_top_drivers"] = ", ".join(f"{labels[j]} ({weight:+.3g})" for j, weight in drivers)
    for j, _ in drivers:
        for k, value in enumerate(_mean_by_quartile(effects, X[:, j]), start=1):
            summary[f"cate_by_{labels[j]}_q{k}"] = value
    return summary


def top_drivers(effects: NDArray[np.float64], X: NDArray[np.float64]) -> list[tuple[int, float]]:
    """Covariates whose standardised linear association with the effects is largest."""
    scale = X.std(axis=0)
    varying = scale > 0
    if not varying.any() or effects.std() == 0:
        return []
    # Least squares of the effects on the standardised covariates (with an intercept), through
    # the small k x k normal equations of the centred columns: an SVD of the n x k design costs
    # as much as some of the fits it summarises.
    centred = X[:, varying] - X[:, varying].mean(axis=0)
    gram = centred.T @ centred / np.outer(scale[varying], scale[varying])
    moment = centred.T @ (effects - effects.mean()) / scale[varying]
    coef = np.linalg.lstsq(gram, moment, rcond=None)[0]
    columns = np.flatnonzero(varying)
    order = np.argsort(-np.abs(coef))[:N_DRIVERS]
    return [(int(columns[i]), float(coef[i])) for i in order]


def _mean_by_quartile(effects: NDArray[np.float64], column: NDArray[np.float64]) -> list[float | None]:
    edges = np.unique(np.quantile(column, [0.25, 0.5, 0.75]))
    bins = np.searchsorted(edges, column, side="right")
    return [float(effects[bins == k].mean()) if (bins == k).any() else None for k in range(4)]
