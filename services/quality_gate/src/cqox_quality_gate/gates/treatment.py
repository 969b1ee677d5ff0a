"""Turn a treatment column (0/1, bool or two-level labels) into a 0/1 indicator."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from cqox_shared.causal.treatment import TreatmentCodingError, apply_coding

# Labels (compared case-insensitively, stripped) that name the treated level of a two-level column.
TREATED_LABELS = frozenset({"1", "1.0", "true", "t", "yes", "y", "treated", "treatment", "treat"})


@dataclass(frozen=True)
class TreatmentCoding:
    """How a treatment column was read: the treated/control levels and a 0/1/NaN indicator."""

    levels: tuple[str, ...]
    treated_level: str | None
    control_level: str | None
    indicator: pd.Series | None
    """1.0 treated, 0.0 control, NaN missing; None when the column does not have 1 or 2 levels."""
    pooled: bool = False
    """The mapping's coding pools more than two levels into the two arms."""

    @property
    def is_binary(self) -> bool:
        """True when the column has two observed levels, or a coding pools its levels into two arms."""
        return (len(self.levels) == 2 or self.pooled) and self.indicator is not None

    @property
    def n_treated(self) -> int:
        """Rows in the treated arm."""
        return 0 if self.indicator is None else int((self.indicator == 1.0).sum())

    @property
    def n_control(self) -> int:
        """Rows in the control arm."""
        return 0 if self.indicator is None else int((self.indicator == 0.0).sum())


def _is_treated_label(value: object) -> bool:
    return str(value).strip().lower() in TREATED_LABELS


def _treated_value(series: pd.Series, levels: list[object]) -> object | None:
    """The treated level among the observed levels (None when the only level is control)."""
    if is_bool_dtype(series.dtype):
        return True
    if is_numeric_dtype(series.dtype):
        if set(levels) <= {0, 1}:
            return next((level for level in levels if level == 1), None)
        return max(levels, key=float) if len(levels) == 2 else None  # type: ignore[arg-type]
    treated_like = [level for level in levels if _is_treated_label(level)]
    if len(levels) == 1:
        return levels[0] if treated_like else None
    if len(treated_like) == 1:
        return treated_like[0]
    return sorted(levels, key=str)[-1]


def _same_label(level: object, label: str) -> bool:
    """True when a column value is the mapping's label ('はい' == 'はい', 2.0 == '2')."""
    if str(level).strip() == label.strip():
        return True
    try:
        return float(level) == float(label)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _mapped_treated_value(levels: list[object], coding: Mapping[str, int]) -> object | None:
    """The observed level the mapping codes as 1, or None when the coding names none of them."""
    treated_labels = [label for label, code in coding.items() if code == 1]
    return next(
        (level for level in levels if any(_same_label(level, label) for label in treated_labels)), None
    )


def code_treatment(series: pd.Series, coding: Mapping[str, int] | None = None) -> TreatmentCoding:
    """Read a treatment column as 0/1.

    The treated level is the one the mapping's `coding` gives 1 (e.g. {'いいえ': 0, 'はい': 1})
    when there is one; otherwise True for booleans; 1 for numeric 0/1 (else the larger of two
    numbers); for labels, the one level in `TREATED_LABELS` (e.g. "yes", "treated"), else the last
    level in sorted text order. Columns with more than two levels get no indicator.
    """
    observed = series.dropna()
    levels: list[object] = list(observed.unique())
    names = tuple(sorted(str(level) for level in levels))
    if coding:
        # The mapping's explicit coding, applied by the same function the estimator uses.
        try:
            codes, used = apply_coding(series, dict(coding), str(series.name))
        except TreatmentCodingError:
            pass  # it does not cover every level (a multi-valued treatment): read the levels below
        else:
            treated_labels = [label for label, code in used.items() if code == 1]
            control_labels = [label for label, code in used.items() if code == 0]
            return TreatmentCoding(
                levels=names,
                treated_level=", ".join(treated_labels) or None,
                control_level=", ".join(control_labels) or None,
                indicator=pd.Series(codes, index=series.index, name=series.name),
                pooled=len(levels) > 2,
            )
    if len(levels) not in (1, 2):
        return TreatmentCoding(levels=names, treated_level=None, control_level=None, indicator=None)
    mapped = _mapped_treated_value(levels, coding) if coding else None
    treated = mapped if mapped is not None else _treated_value(series, levels)
    control = [level for level in levels if treated is None or level != treated]
    missing = series.isna().to_numpy()
    is_treated = series.isin([] if treated is None else [treated]).to_numpy(dtype=bool)
    indicator = pd.Series(
        np.where(missing, np.nan, is_treated.astype(float)), index=series.index, name=series.name
    )
    return TreatmentCoding(
        levels=names,
        treated_level=None if treated is None else str(treated),
        control_level=str(control[0]) if control else None,
        indicator=indicator,
    )
