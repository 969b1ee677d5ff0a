"""What a column's values say about its role: a profile per column and evidence per role.

Binary or two-level text → treatment (coded 0/1, the coding stated); dates, years, quarters,
week numbers and other period labels (``cqox_shared.periods``: FY2019, Jan-2019, 令和2年) → time;
repeated ids → unit; continuous numbers → outcome.
"""

from __future__ import annotations

import datetime
import numbers
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from cqox_mapping.names import SynonymDictionary, normalise_level
from cqox_shared.periods import looks_like_periods

Kind = Literal["bool", "integer", "float", "datetime", "text", "empty", "other"]

_PROFILE_SAMPLE = 500
_DATE_TEXT = re.compile(
    r"^\s*(\d{4}[-/.]\d{1,2}([-/.]\d{1,2})?([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?"
    r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"
    r"|\d{4}\s*-?\s*[QqHh][1-4]"
    r"|[QqHh][1-4]\s*[-/ ]?\s*\d{4}"
    r"|\d{4}\s*-?\s*W\d{1,2}"
    r"|\d{4}\s*[年년]\s*(\d{1,2}\s*[月월]\s*(\d{1,2}\s*[日일])?|第?[1-4一二三四]\s*(四半期|季度|분기|季))?"
    r"|(令和|平成|昭和)\s*\d{1,2}\s*年(\s*\d{1,2}\s*月)?)"
    r"(Z|[+-]\d{2}:?\d{2})?\s*$"
)


# A column with at most this many levels keeps them in its profile (a treatment may have arms).
MAX_ARMS = 10


@dataclass(frozen=True)
class Profile:
    """What the values of one column look like."""

    kind: Kind
    n_rows: int
    n_non_null: int
    n_unique: int
    levels: tuple[str, ...]  # the levels of a column with 2..MAX_ARMS of them, else empty
    is_zero_one: bool
    is_id_like: bool
    is_free_text: bool
    is_year_like: bool
    is_date_text: bool

    @property
    def is_constant(self) -> bool:
        """At most one distinct value."""
        return self.n_unique <= 1

    @property
    def is_binary(self) -> bool:
        """Exactly two distinct values."""
        return self.n_unique == 2

    @property
    def is_numeric(self) -> bool:
        """Boolean, integer or float values."""
        return self.kind in ("bool", "integer", "float")

    @property
    def unique_ratio(self) -> float:
        """Distinct values per non-missing value."""
        return self.n_unique / self.n_non_null if self.n_non_null else 0.0

    @property
    def is_repeated_key(self) -> bool:
        """Integer or text values each shared by several rows, like units of a panel."""
        return (
            self.kind in ("integer", "text") and self.n_unique > 2 and self.n_unique <= 0.5 * self.n_non_null
        )


def _kind(series: pd.Series, values: pd.Series) -> Kind:
    dtype = series.dtype
    if values.empty:
        return "empty"
    if isinstance(dtype, pd.ArrowDtype):
        arrow_type = dtype.pyarrow_dtype
        if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
            return "datetime"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
        return "datetime"
    if pd.api.types.is_timedelta64_dtype(dtype) or pd.api.types.is_complex_dtype(dtype):
        return "other"
    if pd.api.types.is_numeric_dtype(dtype):
        floats = values.to_numpy(dtype="float64", na_value=np.nan)
        if not np.all(np.isfinite(floats)):
            return "float"
        return "integer" if np.all(np.equal(np.mod(floats, 1), 0)) else "float"
    sample = values.iloc[:_PROFILE_SAMPLE]
    if all(isinstance(v, bool | np.bool_) for v in sample):
        return "bool"
    if all(isinstance(v, datetime.date | np.datetime64) for v in sample):
        return "datetime"
    return "text"


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool | np.bool_)


def _even_sample(values: pd.Series) -> pd.Series:
    step = max(1, len(values) // _PROFILE_SAMPLE)
    return values.iloc[::step].iloc[:_PROFILE_SAMPLE]


def profile(series: pd.Series, unit_named: bool) -> Profile:
    """Describe one column's values: kind, levels, uniqueness, id-, year- and date-likeness."""
    values = series.dropna()
    if values.dtype == object and all(_is_number(v) for v in values.iloc[:_PROFILE_SAMPLE]):
        # Python numbers in an object column (e.g. decimals): profile them as numbers.
        as_numbers = pd.to_numeric(series, errors="coerce")
        if as_numbers.notna().sum() == len(values):
            series, values = as_numbers, as_numbers.dropna()
    kind = _kind(series, values)
    if kind == "text" or kind == "other":
        values = values.astype(str)
    try:
        n_unique = int(values.nunique())
    except TypeError:  # unhashable cells (lists, dicts)
        values = values.astype(str)
        n_unique = int(values.nunique())
    n_non_null = len(values)

    levels: tuple[str, ...] = ()
    is_zero_one = False
    if 2 <= n_unique <= MAX_ARMS:
        distinct = sorted(values.unique().tolist(), key=str)
        levels = tuple(_format_level(v) for v in distinct)
        is_zero_one = n_unique == 2 and (
            kind == "bool" or (kind == "integer" and {float(v) for v in distinct} == {0.0, 1.0})
        )

    is_free_text = False
    is_date_text = False
    if kind == "text":
        sample = _even_sample(values)
        lengths = sample.str.len()
        is_free_text = bool(lengths.mean() >= 25 and sample.str.contains(" ").mean() >= 0.5)
        is_date_text = bool(sample.str.match(_DATE_TEXT).mean() >= 0.95) or looks_like_periods(
            sample, min_share=0.95
        )

    is_year_like = False
    span = 0.0
    if kind == "integer" and n_non_null:
        low, high = float(values.min()), float(values.max())
        span = high - low + 1
        years = low >= 1800 and high <= 2200
        year_months = low >= 180001 and high <= 220012 and bool(values.mod(100).between(1, 12).all())
        # A run of ids that happens to start near 2000 is not a calendar: years repeat across rows.
        unique_per_row = n_unique == n_non_null and n_non_null > 50
        is_year_like = (
            (years or year_months) and 1 < n_unique <= 300 and not unique_per_row and not unit_named
        )

    high_unique = n_unique >= 3 and n_non_null > 0 and n_unique / n_non_null >= 0.95
    is_id_like = high_unique and (
        (kind == "text" and not is_free_text and not is_date_text)
        or (kind == "integer" and (span <= 2 * n_unique or unit_named))
    )
    return Profile(
        kind=kind,
        n_rows=len(series),
        n_non_null=n_non_null,
        n_unique=n_unique,
        levels=levels,
        is_zero_one=is_zero_one,
        is_id_like=is_id_like,
        is_free_text=is_free_text,
        is_year_like=is_year_like,
        is_date_text=is_date_text,
    )


def _format_level(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.bool_):
        return str(bool(value))
    return str(value)


# --------------------------------------------------------------------------- value evidence


@dataclass(frozen=True)
class Evidence:
    """How strongly the values suit a role (0 … 1), and why, in words."""

    value: float
    text: str
    decisive: bool = False  # the values alone settle it (a key unique within every period of a panel)


def treatment_coding(p: Profile, dictionaries: tuple[SynonymDictionary, ...]) -> dict[str, int]:
    """0/1 coding of a two-level column: the level that reads as treated is 1 ('はい' → 1).

    Always explicit, also for 0/1 and boolean columns ({'0': 0, '1': 1}, {'False': 0, 'True': 1}):
    the quality gate and the estimator apply it with one function and need not guess.
    """
    if not p.is_binary:
        return {}
    if p.is_zero_one:
        return {level: int(level in ("1", "True")) for level in p.levels}
    first, second = p.levels
    treated = frozenset().union(*(d.treatment_levels for d in dictionaries))
    control = frozenset().union(*(d.control_levels for d in dictionaries))

    def reads_treated(level: str) -> int:
        norm = normalise_level(level)
        return (norm in treated) - (norm in control)

    if reads_treated(first) > reads_treated(second):
        return {first: 1, second: 0}
    if p.kind in ("integer", "float"):  # e.g. 1/2: the larger is treated
        return {first: 0, second: 1} if float(first) < float(second) else {first: 1, second: 0}
    return {first: 0, second: 1}


def reads_as_levels(p: Profile, dictionaries: tuple[SynonymDictionary, ...]) -> bool:
    """True when the levels read as treated/untreated words ('yes/no', 'はい/いいえ', 'A/B')."""
    if not p.is_binary or p.is_zero_one:
        return False
    treated = frozenset().union(*(d.treatment_levels for d in dictionaries))
    control = frozenset().union(*(d.control_levels for d in dictionaries))
    norms = {normalise_level(level) for level in p.levels}
    return bool(norms & treated) and bool(norms & control)


def looks_like_arms(p: Profile, dictionaries: tuple[SynonymDictionary, ...]) -> bool:
    """True when both levels name experiment arms ('A/B', 'test/control', '実験群/対照群')."""
    if not p.is_binary or p.is_zero_one:
        return False
    arms = frozenset().union(*(d.arm_levels for d in dictionaries))
    return all(normalise_level(level) in arms for level in p.levels)


def reads_as_arms(p: Profile, dictionaries: tuple[SynonymDictionary, ...]) -> bool:
    """True when every level of a 3+-level column names an arm: 'A/B/C', 'control/variant 1/variant 2'."""
    if len(p.levels) < 3:
        return False
    words = frozenset().union(*(d.arm_levels | d.treatment_levels | d.control_levels for d in dictionaries))

    def is_arm(level: str) -> bool:
        norm = normalise_level(level)
        first = norm.split(" ")[0] if norm else ""
        return (len(norm) == 1 and norm.isalpha()) or norm in words or first in words

    return all(is_arm(level) for level in p.levels)


def treatment_evidence(p: Profile, dictionaries: tuple[SynonymDictionary, ...]) -> Evidence | None:
    """Binary and two-level columns suit a treatment; many-valued numbers barely do."""
    if p.is_constant or p.is_id_like or p.is_year_like or p.is_date_text or p.kind == "datetime":
        return None
    if p.is_binary:
        if p.is_zero_one:
            return Evidence(1.0, "values binary 0/1" if p.kind != "bool" else "values boolean")
        coding = treatment_coding(p, dictionaries)
        stated = ", ".join(f"{level!r}→{code}" for level, code in sorted(coding.items(), key=lambda i: i[1]))
        if looks_like_arms(p, dictionaries) and any(len(level) > 1 for level in p.levels):
            # 'test/control', '実験群/対照群': the levels name the arms of a study
            return Evidence(1.0, f"values name treatment/control arms ({stated})", decisive=True)
        if reads_as_levels(p, dictionaries):
            return Evidence(1.0, f"values look like treatment/control ({stated})")
        return Evidence(0.8, f"values two-level ({stated})")
    if p.kind == "text" and p.levels and not p.is_free_text:
        shown = ", ".join(p.levels)
        if reads_as_arms(p, dictionaries):
            return Evidence(0.8, f"values read as {p.n_unique} experiment arms ({shown})")
        return Evidence(0.3, f"values multi-level text ({p.n_unique} levels: {shown})")
    if p.kind in ("integer", "float") and p.n_unique <= 9:
        return Evidence(0.3, f"values multi-valued ({p.n_unique} levels)")
    if p.kind in ("integer", "float"):
        return Evidence(0.15, f"values continuous ({p.n_unique} distinct)")
    return None


def outcome_evidence(p: Profile) -> Evidence | None:
    """Continuous numbers suit an outcome; binary ones less; text barely."""
    if p.is_constant or p.is_id_like or p.is_year_like:
        return None
    if p.kind == "float" and p.n_unique >= 10:
        return Evidence(1.0, f"values continuous ({p.n_unique} distinct)")
    if p.kind == "integer" and p.n_unique >= 10:
        return Evidence(0.8, f"values numeric ({p.n_unique} distinct)")
    if p.is_binary and p.is_numeric:
        return Evidence(0.5, "values binary")
    if p.is_binary:
        return Evidence(0.3, f"values two-level ({p.levels[0]!r}/{p.levels[1]!r})")
    if p.is_numeric:
        return Evidence(0.3, f"values numeric ({p.n_unique} levels)")
    return None


def time_evidence(p: Profile) -> Evidence | None:
    """Datetimes, date-like text, years and year-months suit a time axis."""
    if p.is_constant:
        return None
    if p.kind == "datetime":
        return Evidence(1.0, "values datetime")
    if p.is_date_text:
        return Evidence(0.9, "values date-like text")
    if p.is_year_like:
        return Evidence(0.8, "values year/period-like")
    if p.kind == "integer" and not p.is_id_like and not p.is_binary and p.n_unique <= 100:
        return Evidence(0.2, f"values small integers ({p.n_unique} levels)")
    return None


def unit_evidence(p: Profile, column: str, df: pd.DataFrame, time_column: str | None) -> Evidence | None:
    """Keys unique per row, or repeated once per period when there is a time axis."""
    if p.is_constant or p.is_binary or p.kind not in ("integer", "text") or p.is_free_text:
        return None
    if time_column is None:
        # Without a time axis a unit identifies a row.
        return Evidence(1.0, "values unique per row (id-like)") if p.is_id_like else None
    if p.is_repeated_key:
        pairs = df[[column, time_column]].dropna()
        repeated_pairs = pairs.duplicated().mean() if len(pairs) else 1.0
        if repeated_pairs == 0 and p.n_non_null >= 2 * p.n_unique:
            return Evidence(
                1.0,
                f"values repeat once per {time_column!r} ({p.n_unique} units, a panel key)",
                decisive=True,
            )
        if repeated_pairs <= 0.1:
            return Evidence(1.0, f"values repeat over {time_column!r} ({p.n_unique} units)")
        return Evidence(0.5, f"values repeat ({p.n_unique} levels)")
    if p.is_id_like:
        return Evidence(0.3, "values unique per row (id-like)")
    return None
