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
    columns = [j for j, _ in drivers]
    if columns:  # the quartiles of every driver in one call
        edges = np.quantile(X[:, columns], [0.25, 0.5, 0.75], axis=0)
        for position, j in enumerate(columns):
            means = _mean_by_quartile(effects, X[:, j], edges[:, position])
            for k, value in enumerate(means, start=1):
                summary[f"cate_by_{labels[j]}_q{k}"] = value
    return summary


def top_drivers(effects: NDArray[np.float64], X: NDArray[np.float64]) -> list[tuple[int, float]]:
    """Covariates whose standardised linear association with the effects is largest."""
    if effects.std() == 0:
        return []
    # Least squares of the effects on the standardised covariates (with an intercept), through
    # the small k x k normal equations of the centred columns: an SVD of the n x k design costs
    # as much as some of the fits it summarises. One centred copy of X gives the cross-products
    # and the scales (sd = sqrt(diag / n)).
    centred = X - X.mean(axis=0)
    cross = centred.T @ centred
    moment = centred.T @ (effects - effects.mean())
    scale = np.sqrt(np.diag(cross) / X.shape[0])
    columns = np.flatnonzero(scale > 0)
    if not columns.size:
        return []
    scale = scale[columns]
    gram = cross[np.ix_(columns, columns)] / np.outer(scale, scale)
    coef = np.linalg.lstsq(gram, moment[columns] / scale, rcond=None)[0]
    order = np.argsort(-np.abs(coef))[:N_DRIVERS]
    return [(int(columns[i]), float(coef[i])) for i in order]


def _mean_by_quartile(
    effects: NDArray[np.float64], column: NDArray[np.float64], quartiles: NDArray[np.float64]
) -> list[float | None]:
    edges = np.unique(quartiles)
    bins = np.zeros(column.shape[0], dtype=np.intp)
    for edge in edges:  # bin k holds the values with k edges at or below them
        bins += column >= edge
    counts = np.bincount(bins, minlength=4)
    sums = np.bincount(bins, weights=effects, minlength=4)
    return [float(sums[k] / counts[k]) if counts[k] else None for k in range(4)]
