"""Treatment codes: 0/1, arm codes 0..k-1 (0 = reference) or continuous values, and arm sizes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cqox_estimator.estimators.errors import MIN_ROWS_PER_ARM, BinaryTreatmentRequired, EstimationError
from cqox_shared.causal.treatment import TreatmentCodingError, apply_coding

# Two-level string codings we can read without guessing which level is the treatment.
_TREATED_TOKENS = frozenset({"1", "1.0", "true", "t", "yes", "y", "treated", "treatment", "on"})
_CONTROL_TOKENS = frozenset({"0", "0.0", "false", "f", "no", "n", "control", "untreated", "off"})


def treatment_codes(
    values: pd.Series,
    name: str,
    mapped: dict[str, int] | None = None,
    *,
    multi_arm: bool = False,
    continuous: bool = False,
    method: str | None = None,
) -> tuple[NDArray[np.int64] | NDArray[np.float64], dict[str, int], list[str]]:
    """Treatment codes, the coding shown to the user, and the arm labels (multi-valued only).

    With `continuous`, a numeric treatment not coded 0/1 is returned as its float values with an
    empty coding (a 0/1 one, or one a confirmed coding covers, is coded as before).
    """
    levels = pd.unique(values)
    as_values = (
        continuous
        and pd.api.types.is_numeric_dtype(values)
        and not pd.api.types.is_bool_dtype(values)
        and not set(np.asarray(levels, dtype=float)) <= {0.0, 1.0}
    )
    if len(levels) > 2:
        if mapped:
            # A confirmed coding that covers every level pools them into two arms, as before.
            try:
                codes, coding = _mapped_treatment_codes(values, name, mapped)
            except EstimationError:
                if not multi_arm and not as_values and method is None:
                    raise
            else:
                return codes, coding, []
        if multi_arm:
            return _multi_arm_codes(values, name, mapped or {})
        if as_values:
            return values.to_numpy(dtype=float), {}, []
        shown = ", ".join(repr(v) for v in sorted(map(str, levels))[:5])
        more = "" if len(levels) <= 5 else f" and {len(levels) - 5} more"
        who = f"{method} needs a binary treatment: " if method else ""
        raise BinaryTreatmentRequired(
            f"{who}treatment {name!r} must be binary but has {len(levels)} distinct values ({shown}{more})"
        )
    if as_values and not mapped:
        return values.to_numpy(dtype=float), {}, []
    codes, coding = _binary_treatment_codes(values, name, mapped, levels)
    return codes, coding, []


def _binary_treatment_codes(
    values: pd.Series, name: str, mapped: dict[str, int] | None, levels: Any
) -> tuple[NDArray[np.int64], dict[str, int]]:
    if mapped:
        return _mapped_treatment_codes(values, name, mapped)
    if pd.api.types.is_bool_dtype(values):
        codes = values.astype(bool).to_numpy().astype(np.int64)
        return codes, {"True": 1, "False": 0}
    if pd.api.types.is_numeric_dtype(values):
        if not set(np.asarray(levels, dtype=float)) <= {0.0, 1.0}:
            raise EstimationError(
                f"numeric treatment {name!r} must be coded 0/1; found values "
                f"{', '.join(str(v) for v in sorted(levels))}"
            )
        return values.to_numpy(dtype=float).astype(np.int64), {"1": 1, "0": 0}
    return _string_treatment_codes(values, name)


def _multi_arm_codes(
    values: pd.Series, name: str, mapped: dict[str, int]
) -> tuple[NDArray[np.int64], dict[str, int], list[str]]:
    """Code a k-level treatment 0..k-1 with 0 the reference (control) level.

    The reference is the level the confirmed coding maps to 0, else a recognised control label
    (control, no, 0, false, untreated...), else the smallest number (all levels numeric), else
    the first label in sorted text order. The other levels follow in numeric order (numbers) or
    sorted text order.
    """
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    text = values.map(_number_label) if numeric else values.astype(str).str.strip()
    labels = sorted(set(text))
    numbers = {label: _as_float(label) for label in labels}
    if all(number is not None for number in numbers.values()):
        labels.sort(key=lambda label: numbers[label] or 0.0)
    reference = _reference_level(labels, name, mapped)
    arms = [reference, *(label for label in labels if label != reference)]
    coding = {label: code for code, label in enumerate(arms)}
    codes: NDArray[np.int64] = np.asarray(text.map(coding), dtype=np.int64)
    return codes, coding, arms


def _reference_level(labels: list[str], name: str, mapped: dict[str, int]) -> str:
    stated = [str(label).strip() for label, code in mapped.items() if code == 0]
    if stated:
        by_value = {_as_float(label): label for label in labels}
        for label in stated:
            if label in labels:
                return label
            if (number := _as_float(label)) is not None and number in by_value:
                return by_value[number]
        raise EstimationError(
            f"the confirmed coding gives 0 to {', '.join(map(repr, stated))}, which is not a level of "
            f"treatment {name!r} (levels: {', '.join(map(repr, labels[:10]))})"
        )
    controls = [label for label in labels if label.lower() in _CONTROL_TOKENS]
    if len(controls) == 1:
        return controls[0]
    return labels[0]  # the smallest number, or the first in sorted text order


def _number_label(value: object) -> str:
    """A numeric level as text: integral floats without the trailing '.0' (2.0 -> '2')."""
    number = float(value)  # type: ignore[arg-type]
    return str(int(number)) if number.is_integer() else repr(number)


def _mapped_treatment_codes(
    values: pd.Series, name: str, mapped: dict[str, int]
) -> tuple[NDArray[np.int64], dict[str, int]]:
    """Code the treatment with the mapping's stated coding (the quality gate reads it the same way)."""
    try:
        codes, used = apply_coding(values, mapped, name)
    except TreatmentCodingError as exc:
        raise EstimationError(exc.reason) from exc
    return codes.astype(np.int64), used


def _as_float(label: str) -> float | None:
    try:
        return float(label)
    except ValueError:
        return None


def _string_treatment_codes(values: pd.Series, name: str) -> tuple[NDArray[np.int64], dict[str, int]]:
    text = values.astype(str)
    normalised = text.str.strip().str.lower()
    coding: dict[str, int] = {}
    for raw, token in sorted(set(zip(text, normalised, strict=True))):
        if token in _TREATED_TOKENS:
            coding[raw] = 1
        elif token in _CONTROL_TOKENS:
            coding[raw] = 0
        else:
            raise EstimationError(
                f"cannot tell which level of treatment {name!r} is the treatment: {raw!r} is not "
                "a recognised yes/no, true/false, 1/0 or treated/control label; recode it as 0/1"
            )
    coding = dict(sorted(coding.items(), key=lambda item: -item[1]))
    codes: NDArray[np.int64] = np.asarray(text.map(coding), dtype=np.int64)
    return codes, coding


def check_multi_arms(t: NDArray[np.int64], arms: list[str], name: str) -> None:
    """Raise unless every arm of a multi-valued treatment has MIN_ROWS_PER_ARM rows."""
    counts = np.bincount(t, minlength=len(arms))
    thin = [f"{label!r} ({int(count)})" for label, count in zip(arms, counts, strict=True)
            if count < MIN_ROWS_PER_ARM]  # fmt: skip
    if thin:
        raise EstimationError(
            f"too few rows per arm of treatment {name!r}: {', '.join(thin)}; "
            f"at least {MIN_ROWS_PER_ARM} per arm are needed"
        )


def check_arms(t: NDArray[np.int64], name: str, minimum: int = MIN_ROWS_PER_ARM) -> None:
    """Raise unless a 0/1 treatment has both arms, each with at least `minimum` rows."""
    n_treated, n = int(t.sum()), int(t.shape[0])
    n_control = n - n_treated
    if n_treated == 0 or n_control == 0:
        missing_arm = "treated" if n_treated == 0 else "control"
        raise EstimationError(
            f"no {missing_arm} rows: treatment {name!r} has {n_treated} treated and "
            f"{n_control} control rows among {n} usable rows"
        )
    if min(n_treated, n_control) < minimum:
        raise EstimationError(
            f"too few rows per arm: {n_treated} treated and {n_control} control rows; "
            f"at least {minimum} per arm are needed"
        )


def check_panel_arms(
    t: NDArray[np.int64], unit: NDArray[np.int64], name: str, minimum: int = MIN_ROWS_PER_ARM
) -> str:
    """Raise unless a panel's 0/1 treatment has treated and untreated unit-periods; say how thin
    the treated arm is.

    In a panel the treated arm is its units followed over time: each is compared with its own
    untreated periods and with the other units, so one treated unit over a few periods is a valid
    (if weak) DiD. The floor of `minimum` rows applies to the untreated unit-periods only; when the
    treated unit-periods fall below it, the returned note says on how little the estimate rests
    (empty otherwise). Inference with few treated units is the treated_clusters gate's to judge.
    """
    n_treated, n = int(t.sum()), int(t.shape[0])
    n_control = n - n_treated
    if n_treated == 0 or n_control == 0:
        check_arms(t, name, minimum)  # raises: one arm is empty
    if n_control < minimum:
        raise EstimationError(
            f"too few rows per arm: {n_treated} treated and {n_control} control rows (untreated "
            f"unit-periods); a panel needs at least {minimum} untreated unit-periods to estimate "
            "the unit and period effects"
        )
    if n_treated >= minimum:
        return ""
    treated_units = int(np.unique(unit[t == 1]).size)
    other_units = int(np.unique(unit).size) - treated_units
    return (
        f"thin treated arm: {treated_units} treated unit(s) over {n_treated} treated unit-period(s), "
        f"below the {minimum} rows per arm a cross-section needs; the panel compares them with their "
        f"own earlier periods and with {other_units} other unit(s), so the estimate rests on "
        f"{n_treated} observation(s) and its cluster-robust SE is unreliable with so few treated "
        "units (treated_clusters)"
    )
