"""Turn a data frame and its role mapping into the arrays every estimator consumes."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cqox_contracts.v1 import RoleMapping
from cqox_shared.causal.covariates import CovariateError, aliased_columns, covariate_matrix

MIN_ROWS_PER_ARM = 10
# Per-row columns a method may ask for besides y, t and X (`CausalEstimator.design_roles`).
DESIGN_ROLES = ("instrument", "running_variable", "latitude", "longitude")

# Two-level string codings we can read without guessing which level is the treatment.
_TREATED_TOKENS = frozenset({"1", "1.0", "true", "t", "yes", "y", "treated", "treatment", "on"})
_CONTROL_TOKENS = frozenset({"0", "0.0", "false", "f", "no", "n", "control", "untreated", "off"})


class EstimationError(Exception):
    """The data cannot support this estimate; `reason` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DesignData:
    """Outcome, binary treatment and covariate matrix ready for fitting, with what was dropped."""

    y: NDArray[np.float64]
    # 0/1 (or arm codes 0..k-1); float64 values as given for a continuous treatment.
    t: NDArray[np.int64] | NDArray[np.float64]
    X: NDArray[np.float64]
    covariate_names: list[str]
    treatment: str
    outcome: str
    treatment_coding: dict[str, int]
    n_input: int
    n_dropped: int = 0
    dropped_reason: str = ""
    dropped_constant: list[str] = field(default_factory=list)
    # Covariate columns (one-hot names for categories) left out as linear combinations of others.
    dropped_aliased: list[str] = field(default_factory=list)
    rows: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    # Panel index of every used row (codes 0..k-1, time codes in time order); None outside panels.
    unit: NDArray[np.int64] | None = None
    # The unit labels in code order (unit code k is unit_labels[k]), for messages and diagnostics.
    unit_labels: list[str] | None = None
    time: NDArray[np.int64] | None = None
    # Codes of the mapped cluster column (panels only; None: cluster by unit).
    cluster: NDArray[np.int64] | None = None
    # Multi-valued treatment (multi-arm methods only): the level labels in code order, so
    # arms[0] is the reference (control) level and t holds 0..k-1. Empty for a binary treatment.
    arms: list[str] = field(default_factory=list)
    # Design roles of IV, RD and spatial methods (numeric, same rows as y); None when not asked for.
    instrument: NDArray[np.float64] | None = None
    running: NDArray[np.float64] | None = None
    latitude: NDArray[np.float64] | None = None
    longitude: NDArray[np.float64] | None = None

    @property
    def n(self) -> int:
        """Rows used."""
        return int(self.y.shape[0])

    @property
    def n_treated(self) -> int:
        """Rows outside the reference arm (t == 1 for a binary treatment)."""
        return int((self.t != 0).sum())

    @property
    def n_control(self) -> int:
        """Rows with t == 0."""
        return self.n - self.n_treated

    @property
    def continuous(self) -> bool:
        """Whether the treatment is used as continuous numeric values (not 0/1 or arm codes)."""
        return self.t.dtype.kind == "f"

    def describe(self) -> dict[str, float | str | None]:
        """Flat diagnostics describing how the design was built."""
        coding = ", ".join(f"{label}={code}" for label, code in self.treatment_coding.items())
        arms: dict[str, float | str | None] = {}
        if self.arms:
            arms = {"n_arms": float(len(self.arms)), "reference_arm": self.arms[0]}
        if self.continuous:
            coding = "numeric values as given (continuous)"
            arms = {"treatment_scale": "continuous", "n_treatment_values": float(np.unique(self.t).size)}
        return {
            "treatment_coding": coding,
            **arms,
            "n_covariate_columns": float(self.X.shape[1]),
            "covariate_columns": ", ".join(self.covariate_names),
            "dropped_constant_columns": ", ".join(self.dropped_constant),
            **(
                {"dropped_collinear_columns": ", ".join(self.dropped_aliased)} if self.dropped_aliased else {}
            ),
        }


def prepare(
    df: pd.DataFrame,
    roles: RoleMapping,
    *,
    panel: bool = False,
    multi_arm: bool = False,
    method: str | None = None,
    covariates: bool = True,
    design_roles: tuple[str, ...] = (),
    min_rows_per_arm: int = MIN_ROWS_PER_ARM,
    continuous_treatment: bool = False,
) -> DesignData:
    """Build y, 0/1 t and the covariate matrix X from `df`, dropping rows with missing values.

    With `panel`, the unit and time columns are required too and coded into `unit`/`time`.
    With `multi_arm`, a treatment with k > 2 levels is coded 0..k-1 (0 = the reference level,
    see `_multi_arm_codes`) and its labels are kept in `arms`; otherwise such a treatment is
    refused, naming `method` when given. Without `covariates`, X has no columns (for methods
    that ignore them), but rows missing a covariate are dropped all the same. `design_roles`
    (`DESIGN_ROLES`) adds those numeric columns for IV, RD and spatial methods.
    `min_rows_per_arm` is the fewest rows each arm of a binary treatment needs.
    With `continuous_treatment`, a numeric treatment that is not coded 0/1 (two or more distinct
    values, e.g. years of schooling) is kept as its float values: no arms, no per-arm minimum.
    """
    treatment = _required_column(df, roles.treatment, "treatment")
    outcome = _required_column(df, roles.outcome, "outcome")
    used_covariates = _covariate_columns(df, roles, treatment, outcome)
    index = _panel_columns(df, roles, [treatment, outcome, *used_covariates]) if panel else []
    extra = _design_role_columns(df, roles, design_roles, [treatment, outcome, *used_covariates])
    used = list(dict.fromkeys([treatment, outcome, *used_covariates, *index, *extra.values()]))

    # Column by column (no copy of the frame): missing or non-finite values drop the row.
    series = {column: df[column] for column in used}
    masks = {column: _missing_mask(values) for column, values in series.items()}
    n_input = len(df)
    missing_any = np.zeros(n_input, dtype=bool)
    for mask in masks.values():
        missing_any |= mask
    n_dropped = int(missing_any.sum())
    dropped_reason = _dropped_reason(masks, n_dropped)
    if n_dropped == n_input:
        raise EstimationError(f"no usable rows: all {dropped_reason}")
    keep = ~missing_any
    if n_dropped:
        series = {column: values[keep] for column, values in series.items()}

    t, coding, arms = _treatment_codes(
        series[treatment],
        treatment,
        roles.treatment_coding,
        multi_arm=multi_arm,
        continuous=continuous_treatment,
        method=method,
    )
    y = _numeric_values(series[outcome], outcome, "outcome")
    numeric = {role: _numeric_values(series[column], column, role) for role, column in extra.items()}
    if arms:
        _check_multi_arms(t.astype(np.int64, copy=False), arms, treatment)
    elif t.dtype.kind != "f":  # a continuous treatment has no arms to size
        _check_arms(t.astype(np.int64, copy=False), treatment, min_rows_per_arm)
    aliased: list[str] = []
    if covariates:
        try:
            matrix = covariate_matrix(series, used_covariates, y.shape[0])
        except CovariateError as exc:
            raise EstimationError(exc.reason) from exc
        X, names, constant = matrix.X, matrix.names, matrix.constant
        drop = _aliased_covariates(t, X, names, treatment, matrix.max_abs)
        if drop:
            aliased = [names[j] for j in drop]
            keep_columns = np.setdiff1d(np.arange(X.shape[1]), drop)
            X = np.asfortranarray(X[:, keep_columns])
            names = [names[j] for j in keep_columns]
    else:
        X, names, constant = np.empty((y.shape[0], 0)), [], []
    unit_codes, unit_labels = None, None
    if index:
        codes, uniques = pd.factorize(series[index[0]], sort=True)
        unit_codes, unit_labels = np.asarray(codes, dtype=np.int64), [str(label) for label in uniques]
    return DesignData(
        y=y,
        t=t,
        X=X,
        covariate_names=names,
        treatment=treatment,
        outcome=outcome,
        treatment_coding=coding,
        n_input=n_input,
        n_dropped=n_dropped,
        dropped_reason=dropped_reason,
        dropped_constant=constant,
        dropped_aliased=aliased,
        rows=np.flatnonzero(keep),
        unit=unit_codes,
        unit_labels=unit_labels,
        time=_time_codes(series[index[1]]) if index else None,
        cluster=_codes(series[index[2]]) if len(index) > 2 else None,
        arms=arms,
        instrument=numeric.get("instrument"),
        running=numeric.get("running_variable"),
        latitude=numeric.get("latitude"),
        longitude=numeric.get("longitude"),
    )


def _design_role_columns(
    df: pd.DataFrame, roles: RoleMapping, design_roles: tuple[str, ...], used: list[str]
) -> dict[str, str]:
    """The column of each asked-for design role, checked against `used` ([treatment, outcome,
    *covariates]). Coordinates may also be covariates (location as a confounder); an instrument or
    a running variable may not (it would absorb the variation the design rests on)."""
    columns: dict[str, str] = {}
    for role in design_roles:
        if role not in DESIGN_ROLES:
            raise ValueError(f"unknown design role {role!r}")
        column = _required_column(df, getattr(roles, role), role.replace("_", " "))
        coordinate = role in ("latitude", "longitude")
        if column in (used[:2] if coordinate else used):
            also = (
                "the treatment or the outcome" if coordinate else "the treatment, the outcome or a covariate"
            )
            raise EstimationError(f"the {role.replace('_', ' ')} column {column!r} cannot also be {also}")
        columns[role] = column
    return columns


def _panel_columns(df: pd.DataFrame, roles: RoleMapping, used: list[str]) -> list[str]:
    unit = _required_column(df, roles.unit, "unit")
    time = _required_column(df, roles.time, "time")
    clash = [c for c in (unit, time) if c in used]
    if clash or unit == time:
        raise EstimationError(
            f"the unit and time columns ({unit!r}, {time!r}) must differ from each other and from "
            "the treatment, outcome and covariates"
        )
    cluster = roles.cluster
    if not cluster or cluster == unit:
        return [unit, time]
    _required_column(df, cluster, "cluster")
    if cluster in (time, *used[:2]):
        raise EstimationError(f"the cluster column {cluster!r} cannot be the time, treatment or outcome")
    return [unit, time, cluster]


_DIGITS = re.compile(r"\d+")


def _time_codes(values: pd.Series) -> NDArray[np.int64]:
    """Period codes 0..k-1 in time order, also for text periods that do not sort as text.

    '2023年10月' sorts before '2023年2月' as text; periods whose labels are all numbers and
    separators ('2023年2月', '2021Q3', '2021-W05', '2023-01-15') are ordered by their numbers,
    other text by the dates pandas reads from it, and anything else as text.
    """
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return _codes(values)
    labels = pd.unique(values.astype(str))
    keys = {label: tuple(int(d) for d in _DIGITS.findall(label)) for label in labels}
    if all(keys.values()) and len(set(keys.values())) == len(keys):
        order = {label: rank for rank, label in enumerate(sorted(labels, key=keys.__getitem__))}
        return np.asarray(values.astype(str).map(order), dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dates = pd.to_datetime(pd.Series(labels), errors="coerce", format="mixed")
    if dates.notna().all() and dates.is_unique:
        order = {
            label: rank for rank, label in enumerate(pd.Series(labels).iloc[np.argsort(dates.to_numpy())])
        }
        return np.asarray(values.astype(str).map(order), dtype=np.int64)
    return _codes(values)


def _codes(values: pd.Series) -> NDArray[np.int64]:
    """Integer codes 0..k-1 of a key column, in sorted order of its values (time order for time)."""
    codes, _ = pd.factorize(values, sort=True)
    return np.asarray(codes, dtype=np.int64)


def _required_column(df: pd.DataFrame, column: str | None, role: str) -> str:
    if not column:
        raise EstimationError(f"no column is mapped to the {role} role")
    if column not in df.columns:
        raise EstimationError(f"the {role} column {column!r} is not in the data")
    return column


def _covariate_columns(df: pd.DataFrame, roles: RoleMapping, treatment: str, outcome: str) -> list[str]:
    absent = [c for c in roles.covariates if c not in df.columns]
    if absent:
        raise EstimationError(f"covariate column(s) not in the data: {', '.join(absent)}")
    clash = [c for c in roles.covariates if c in (treatment, outcome)]
    if clash:
        raise EstimationError(
            f"column(s) {', '.join(clash)} cannot be both a covariate and the treatment/outcome"
        )
    return list(dict.fromkeys(roles.covariates))


def _missing_mask(values: pd.Series) -> NDArray[np.bool_]:
    """Rows whose value is missing, or infinite in a numeric (or mixed object) column."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biu":  # NumPy ints and bools hold no NA
        return np.zeros(len(values), dtype=bool)
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return ~np.isfinite(values.to_numpy())
    if pd.api.types.is_float_dtype(dtype):  # nullable Float64
        return ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    mask = np.asarray(values.isna(), dtype=bool)
    if pd.api.types.is_object_dtype(dtype):
        return mask | np.asarray(values.isin([np.inf, -np.inf]), dtype=bool)
    return mask


def _dropped_reason(masks: dict[str, NDArray[np.bool_]], n_dropped: int) -> str:
    if n_dropped == 0:
        return ""
    counts = {column: int(mask.sum()) for column, mask in masks.items()}
    detail = ", ".join(f"{col} ({k})" for col, k in counts.items() if k > 0)
    return f"{n_dropped} rows with missing or non-finite values in: {detail}"


def _treatment_codes(
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
        raise EstimationError(
            f"{who}treatment {name!r} must be binary but has {len(levels)} distinct values "
            f"({shown}{more}){_multi_arm_hint(method)}"
        )
    if as_values and not mapped:
        return values.to_numpy(dtype=float), {}, []
    codes, coding = _binary_treatment_codes(values, name, mapped, levels)
    return codes, coding, []


def _multi_arm_hint(method: str | None) -> str:
    """Which methods would accept the multi-valued treatment (asked of the registry lazily)."""
    if method is None:
        return ""
    from cqox_estimator.estimators.registry import REGISTRY  # the registry imports this module

    accepting = [name for name, spec in REGISTRY.items() if spec.estimator.multi_arm]
    return f"; methods that accept a multi-valued treatment: {', '.join(accepting)}" if accepting else ""


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
    """Code the treatment with the mapping's stated coding (e.g. {'いいえ': 0, 'はい': 1})."""
    if set(mapped.values()) - {0, 1}:
        raise EstimationError(f"the treatment coding of {name!r} must map labels to 0 or 1, got {mapped}")
    text = values.astype(str).str.strip()
    lookup = {str(label).strip(): code for label, code in mapped.items()}
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        # Numbers compare by value, so a coding {'1': 0, '2': 1} also reads 1.0 and 2.0.
        by_value = {_as_float(label): code for label, code in lookup.items()}
        text = values.astype(float).astype(str)
        lookup = {str(value): code for value, code in by_value.items() if value is not None}
    if pd.api.types.is_bool_dtype(values):
        # Booleans read from yes/no text keep their source labels in the coding; True is treated.
        lookup = {"True": 1, "False": 0, **lookup}
    unknown = sorted(set(text) - set(lookup))
    if unknown:
        raise EstimationError(
            f"treatment {name!r} has value(s) {', '.join(map(repr, unknown[:5]))} that the confirmed "
            f"coding {mapped} does not cover; add them to the mapping's treatment_coding"
        )
    codes: NDArray[np.int64] = np.asarray(text.map(lookup), dtype=np.int64)
    used = {label: lookup[label] for label in sorted(set(text), key=lambda label: -lookup[label])}
    return codes, used


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


def _numeric_values(values: pd.Series, name: str, role: str) -> NDArray[np.float64]:
    """A column as floats, or a refusal naming its role and a value that is not a number."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype=float)
    converted = pd.to_numeric(values, errors="coerce")
    bad = values[converted.isna()]
    if not bad.empty:
        raise EstimationError(
            f"{role.replace('_', ' ')} {name!r} must be numeric; {len(bad)} values are not "
            f"(e.g. {bad.iloc[0]!r})"
        )
    return converted.to_numpy(dtype=float)


def _check_multi_arms(t: NDArray[np.int64], arms: list[str], name: str) -> None:
    counts = np.bincount(t, minlength=len(arms))
    thin = [f"{label!r} ({int(count)})" for label, count in zip(arms, counts, strict=True)
            if count < MIN_ROWS_PER_ARM]  # fmt: skip
    if thin:
        raise EstimationError(
            f"too few rows per arm of treatment {name!r}: {', '.join(thin)}; "
            f"at least {MIN_ROWS_PER_ARM} per arm are needed"
        )


def _check_arms(t: NDArray[np.int64], name: str, minimum: int = MIN_ROWS_PER_ARM) -> None:
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


def _aliased_covariates(
    t: NDArray[np.int64] | NDArray[np.float64],
    X: NDArray[np.float64],
    names: list[str],
    treatment: str,
    max_abs: NDArray[np.float64] | None = None,
) -> list[int]:
    """Covariate columns of X that are linear combinations of the intercept and earlier covariates.

    They are left out, as R's `lm` and Stata leave out aliased terms; the treatment is never left
    out: when it is a linear combination of the intercept and the covariates (it has no variation
    of its own left to estimate from), this raises. A multi-valued t (codes 0..k-1) enters as its
    k-1 arm indicators, a continuous (float) t as itself.
    """
    if max_abs is None:
        max_abs = np.abs(X).max(axis=0) if X.size else np.empty(0)
    if _clearly_full_rank(t, X, max_abs):
        return []
    arms = _treatment_columns(t)
    design = np.column_stack([np.ones(t.shape[0]), X, arms])
    aliased = aliased_columns(design, keep=1)
    covariates = [j - 1 for j in aliased if j <= X.shape[1]]
    if len(covariates) < len(aliased):
        kept = [names[j] for j in range(X.shape[1]) if j not in covariates]
        raise EstimationError(
            f"treatment {treatment!r} is a linear combination of the intercept and the covariates "
            f"({', '.join(kept[:8])}{' ...' if len(kept) > 8 else ''}): no variation is left to "
            "estimate its effect from; drop the covariates that determine it"
        )
    return covariates


SCREEN_ROWS = 1024


def _clearly_full_rank(
    t: NDArray[np.int64] | NDArray[np.float64], X: NDArray[np.float64], max_abs: NDArray[np.float64]
) -> bool:
    """Cheap sufficient condition for the QR check above to find full rank.

    S = [1, t, X] with columns scaled by their largest absolute value (as the QR check does).
    For every `step`-th row S_m of S (about SCREEN_ROWS rows), sigma_min(S) >= sigma_min(S_m) (more rows only add to
    S'S), and sigma_min(S_m) >= sqrt(lambda_min(C)) * min_j |S_m,j| for C the correlation-like
    cross-product of S_m with unit-norm columns. The QR check's smallest diagonal is at least
    sigma_min(S) and its tolerance is at most sigma_max(S) <= sqrt(n k) (entries are at most 1)
    times its relative tolerance; a tenfold margin over that bound returns True. Anything closer
    to singular (or a screen sample missing a level) goes to the exact QR check.
    """
    continuous = t.dtype.kind == "f"
    # arm indicators: 1 for a binary treatment; a continuous treatment is one column
    m = 1 if continuous or not t.size else max(1, int(t.max()))
    n, k = X.shape[0], X.shape[1] + 1 + m
    step = max(1, n // SCREEN_ROWS)
    t_scale = float(np.abs(t).max()) if continuous and t.size else 1.0
    scale = np.concatenate([np.ones(1), np.full(m, t_scale or 1.0), np.where(max_abs > 0, max_abs, 1.0)])
    rows_X = X[::step]
    sample = np.empty((rows_X.shape[0], k))
    sample[:, 0] = 1.0
    sample[:, 1 : 1 + m] = _treatment_columns(t[::step], m)
    sample[:, 1 + m :] = rows_X
    sample /= scale
    gram = sample.T @ sample
    norms = np.sqrt(np.diag(gram))
    if not np.isfinite(gram).all() or not (norms > 0).all():
        return False
    eigenvalues = np.linalg.eigvalsh(gram / np.outer(norms, norms))
    if eigenvalues[0] <= 1e-9 * eigenvalues[-1]:
        return False
    sigma_min = np.sqrt(eigenvalues[0]) * norms.min()
    qr_tol = np.sqrt(n * k) * max(n, k) * np.finfo(float).eps * 1e3
    return bool(sigma_min > 10 * qr_tol)


def _treatment_columns(
    t: NDArray[np.int64] | NDArray[np.float64], n_contrasts: int | None = None
) -> NDArray[np.float64]:
    """The treatment's columns in [1, t, X]: a continuous (float) t itself, else its arm dummies."""
    if t.dtype.kind == "f":
        return np.asarray(t, dtype=float)[:, None]
    return arm_dummies(t.astype(np.int64), n_contrasts)


def arm_dummies(t: NDArray[np.int64], n_contrasts: int | None = None) -> NDArray[np.float64]:
    """Indicators of arms 1..m (m = n_contrasts, default max t) as an n x m float matrix.

    For a binary 0/1 t this is t itself as one column.
    """
    m = max(1, int(t.max())) if n_contrasts is None and t.size else int(n_contrasts or 1)
    return np.asarray(t[:, None] == np.arange(1, m + 1)[None, :], dtype=float)
