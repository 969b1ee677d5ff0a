"""Evidence from how columns relate to each other: running variables and cutoffs, leakage, event time.

Pure functions over pandas Series; no names involved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cqox_shared.periods import PeriodLabelError, period_order

__all__ = [
    "Threshold",
    "copies_outcome",
    "cutoff_agreement",
    "determines_treatment",
    "event_time",
    "follows_event_time",
    "threshold_fit",
    "zero_one",
]

# Cutoffs people use, tried first when they fall inside the gap the data leaves.
_CONVENTIONAL_CUTOFFS = (0.0, 0.5, 50.0, 21.0, 18.0, 65.0, 60.0, 100.0, 1.0)
_MIN_RUNNING_LEVELS = 20
# Relations between columns are judged on an even sample of big files (sorting a million rows per
# column adds seconds, not evidence).
_MAX_ROWS = 200_000
# Share of a column's spread among treated rows that the time since adoption must explain.
_EVENT_TIME_EXPLAINED = 0.8


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


def _level(value: object) -> str:
    """A value as the coding names its level: 1.0 as '1', numpy booleans as 'True' (as the profile does)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.bool_):
        return str(bool(value))
    return str(value)


def zero_one(series: pd.Series, coding: dict[str, int] | None = None) -> pd.Series | None:
    """The column as a float 0/1 series (NaN kept), or None when it is not two-level."""
    values = series.dropna()
    if values.nunique() != 2:
        return None
    if coding:
        mapped = series.map(lambda v: coding.get(_level(v)) if pd.notna(v) else np.nan)
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


def cutoff_agreement(x: pd.Series, treated: pd.Series, cutoff: float) -> tuple[float, float]:
    """How well 1(x ≥ cutoff) (or its reverse) reproduces a 0/1 treatment: (accuracy, jump at the cutoff).

    The jump is the treated share just above minus just below the cutoff (each side's nearest tenth
    of the rows), signed so that it is positive when the better-fitting side is the treated one.
    """
    frame = _thin(pd.DataFrame({"x": pd.to_numeric(x, errors="coerce"), "t": treated}).dropna())
    if frame.empty:
        return 0.0, 0.0
    above = frame["x"] >= cutoff
    share = float((above == (frame["t"] >= 0.5)).mean())
    accuracy = max(share, 1 - share)
    window = max(10, len(frame) // 10)
    near_above = frame.loc[above].nsmallest(window, "x")["t"]
    near_below = frame.loc[~above].nlargest(window, "x")["t"]
    if near_above.empty or near_below.empty:
        return accuracy, 0.0
    jump = float(near_above.mean() - near_below.mean())
    return accuracy, jump if share >= 0.5 else -jump


def event_time(time: pd.Series, unit: pd.Series, treated: pd.Series) -> pd.Series | None:
    """Periods since each unit's first treated period (0 at adoption, -1 the period before …).

    Periods are counted on the order of the time column's labels (``period_order``: quarters,
    fiscal years, month names sort as periods). Never-treated units get NaN. None when the time
    column cannot be ordered or nobody is treated.
    """
    try:
        keys = period_order(time)
    except PeriodLabelError:
        return None
    index = pd.Series(keys).rank(method="dense")
    frame = pd.DataFrame({"k": index.to_numpy(), "u": unit.to_numpy(), "t": treated.to_numpy()})
    first = frame.loc[frame["t"] >= 0.5].groupby("u")["k"].min()
    if first.empty:
        return None
    return pd.Series(frame["k"] - frame["u"].map(first), index=time.index, dtype="float64")


def _single_value(values: pd.Series) -> bool:
    """All values equal (missing counts as one value), without hashing them."""
    missing = values.isna().to_numpy()
    if missing.all():
        return True
    if missing.any():
        return False
    present = values.to_numpy()
    return bool((present == present[0]).all())


def follows_event_time(column: pd.Series, since: pd.Series, time: pd.Series, unit: pd.Series) -> bool:
    """True when a column is a function of the periods since first treatment: a lead/lag dummy.

    Among treated units its value is (nearly: 80 % of its spread) fixed by the event time, checked
    where several units share an event time; it varies with it; it takes a single value for never-treated units, and it is not
    a function of calendar time alone (a post-period indicator is one, and has its own role).
    """
    ever = since.notna().to_numpy()
    never = column[~ever]
    if len(never) and not _single_value(never):  # cheap check first: most covariates vary there
        return False
    values = pd.Series(pd.factorize(column, use_na_sentinel=False)[0], index=column.index)
    if values[ever].nunique() < 2:
        return False
    frame = _thin(pd.DataFrame({"c": values, "e": since, "t": time, "u": unit}))
    treated = frame.loc[frame["e"].notna()]
    if treated["u"].nunique() < 2:
        return False
    units_per_time = treated.groupby("e")["u"].nunique()
    shared = treated.loc[treated["e"].isin(units_per_time.index[units_per_time >= 2])]
    if shared["e"].nunique() < 2 or len(shared) < 0.5 * len(treated) or shared["c"].nunique() < 2:
        return False
    # How much of the column's spread among treated rows the event time explains (1 = all of it);
    # not 1 exactly, since a release may date adoption a year apart from the treatment column.
    overall = 1 - shared["c"].value_counts().iloc[0] / len(shared)
    within = 1 - shared.groupby(["e", "c"]).size().groupby(level="e").max().sum() / len(shared)
    if within > (1 - _EVENT_TIME_EXPLAINED) * overall:
        return False
    return not bool((frame.groupby("t")["c"].nunique() <= 1).all())
