"""Evidence from how columns relate to each other: running variables and cutoffs, leakage.

Pure functions over pandas Series; no names involved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Threshold", "copies_outcome", "determines_treatment", "threshold_fit", "zero_one"]

# Cutoffs people use, tried first when they fall inside the gap the data leaves.
_CONVENTIONAL_CUTOFFS = (0.0, 0.5, 50.0, 21.0, 18.0, 65.0, 60.0, 100.0, 1.0)
_MIN_RUNNING_LEVELS = 20
# Relations between columns are judged on an even sample of big files (sorting a million rows per
# column adds seconds, not evidence).
_MAX_ROWS = 200_000


def _thin(frame: pd.DataFrame) -> pd.DataFrame:
    step = -(-len(frame) // _MAX_ROWS)
    return frame.iloc[::step] if step > 1 else frame


@dataclass(frozen=True)
class Threshold:
    """A rule 'treated when x ≥ cutoff' (or ≤): how well it reproduces the treatment."""

    cutoff: float
    accuracy: float
    above_is_treated: bool
    jump: float  # treated share just above minus just below (sign follows above_is_treated)
    point_mass: float  # largest share of one value on the untreated side (0 … 1)


def zero_one(series: pd.Series, coding: dict[str, int] | None = None) -> pd.Series | None:
    """The column as a float 0/1 series (NaN kept), or None when it is not two-level."""
    values = series.dropna()
    if values.nunique() != 2:
        return None
    if coding:
        mapped = series.map(lambda v: coding.get(str(v)) if pd.notna(v) else np.nan)
        return pd.to_numeric(mapped, errors="coerce").astype(float)
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        numbers = pd.to_numeric(series, errors="coerce").astype(float)
        low = float(numbers.min())
        return (numbers > low).astype(float).where(numbers.notna())
    return None


def _nice_cutoff(low: float, high: float, best: float) -> float:
    """The roundest number in [low, high): a conventional cutoff, else the fewest decimals."""
    for value in _CONVENTIONAL_CUTOFFS:
        if low < value <= high:
            return value
    for decimals in range(-3, 7):
        candidate = round(best, decimals)
        if low < candidate <= high:
            return float(candidate)
    return best


def threshold_fit(x: pd.Series, treated: pd.Series) -> Threshold | None:
    """The best single-threshold rule predicting a 0/1 treatment from a numeric column."""
    frame = _thin(pd.DataFrame({"x": pd.to_numeric(x, errors="coerce"), "t": treated}).dropna())
    if len(frame) < 20 or frame["x"].nunique() < _MIN_RUNNING_LEVELS or frame["t"].nunique() < 2:
        return None
    frame = frame.sort_values("x", kind="mergesort")
    xs = frame["x"].to_numpy(dtype=float)
    ts = frame["t"].to_numpy(dtype=float)
    n = len(xs)
    # Treated when x is at or above position i: accuracy = (untreated below + treated above) / n.
    untreated_below = np.concatenate([[0.0], np.cumsum(1 - ts)])
    treated_above = np.concatenate([[ts.sum()], ts.sum() - np.cumsum(ts)])
    # Only split between distinct values.
    valid = np.concatenate([[False], xs[1:] != xs[:-1], [False]])
    above = (untreated_below + treated_above) / n
    below = 1 - above
    above[~valid], below[~valid] = -1.0, -1.0
    i_above, i_below = int(np.argmax(above)), int(np.argmax(below))
    above_is_treated = above[i_above] >= below[i_below]
    i = i_above if above_is_treated else i_below
    accuracy = float(above[i] if above_is_treated else below[i])
    lower, upper = xs[i - 1], xs[i]
    cutoff = _nice_cutoff(float(lower), float(upper), float((lower + upper) / 2))
    window = max(10, n // 10)
    share_above = float(ts[i : i + window].mean())
    share_below = float(ts[max(0, i - window) : i].mean())
    jump = share_above - share_below if above_is_treated else share_below - share_above
    untreated = xs[:i] if above_is_treated else xs[i:]
    point_mass = float(pd.Series(untreated).value_counts(normalize=True).iloc[0]) if len(untreated) else 0.0
    return Threshold(
        cutoff=cutoff,
        accuracy=accuracy,
        above_is_treated=bool(above_is_treated),
        jump=jump,
        point_mass=point_mass,
    )


def copies_outcome(column: pd.Series, outcome: pd.Series) -> float | None:
    """Rank correlation with the outcome when it is near-deterministic (|rho| ≥ 0.98), else None."""
    x = pd.to_numeric(column, errors="coerce")
    y = pd.to_numeric(outcome, errors="coerce")
    pair = _thin(pd.DataFrame({"x": x, "y": y}).dropna())
    if len(pair) < 10 or pair["x"].nunique() < 5 or pair["y"].nunique() < 5:
        return None
    rho = pair["x"].rank().corr(pair["y"].rank())
    if rho is None or math.isnan(rho) or abs(rho) < 0.98:
        return None
    return float(rho)


def determines_treatment(column: pd.Series, treated: pd.Series, max_levels: int) -> bool:
    """True when every level of a categorical column has a single treatment value (a copy of it)."""
    pair = _thin(pd.DataFrame({"c": column.astype(str).where(column.notna()), "t": treated}).dropna())
    if len(pair) < 20 or not 2 <= pair["c"].nunique() <= max_levels:
        return False
    if pair["c"].nunique() > len(pair) / 10:
        return False
    share = pair.groupby("c")["t"].mean()
    purity = np.maximum(share, 1 - share)
    weights = pair["c"].value_counts().reindex(share.index)
    return bool((purity * weights).sum() / weights.sum() >= 0.995)
