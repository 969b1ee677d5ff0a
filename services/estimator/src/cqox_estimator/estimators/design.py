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
from cqox_estimator.estimators.errors import MIN_ROWS_PER_ARM, EstimationError
from cqox_estimator.estimators.rank import aliased_covariates
from cqox_estimator.estimators.treatment import (
    check_arms,
    check_multi_arms,
    check_panel_arms,
    treatment_codes,
)
from cqox_shared.causal.covariates import CovariateError, covariate_matrix
from cqox_shared.periods import PeriodLabelError, period_order

# Per-row columns a method may ask for besides y, t and X (`CausalEstimator.design_roles`): the
# role and the keyword `CausalEstimator.fit` takes its values as. A new design role is one entry.
DESIGN_ROLES: dict[str, str] = {
    "instrument": "instrument",
    "running_variable": "running",
    "latitude": "latitude",
    "longitude": "longitude",
    "post": "post",
}


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
    # Design roles the method asked for (numeric, same rows as y), keyed by their `fit` keyword.
    design_values: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    # Panels whose treated unit-periods fall below the per-arm row floor: how little data the
    # treated arm has (`check_panel_arms`); empty otherwise.
    thin_treated_arm: str = ""

    @property
    def instrument(self) -> NDArray[np.float64] | None:
        """The instrument of every used row (IV methods)."""
        return self.design_values.get("instrument")

    @property
    def running(self) -> NDArray[np.float64] | None:
        """The running variable of every used row (RD methods)."""
        return self.design_values.get("running")

    @property
    def latitude(self) -> NDArray[np.float64] | None:
        """The latitude of every used row (spatial methods)."""
        return self.design_values.get("latitude")

    @property
    def longitude(self) -> NDArray[np.float64] | None:
        """The longitude of every used row (spatial methods)."""
        return self.design_values.get("longitude")

    @property
    def post(self) -> NDArray[np.float64] | None:
        """The post-period indicator of every used row (repeated cross-sections)."""
        return self.design_values.get("post")

    def fit_keywords(self) -> dict[str, Any]:
        """Everything `CausalEstimator.fit` takes besides y, t and X, from this design."""
        return {
            "unit": self.unit,
            "time": self.time,
            "cluster": self.cluster,
            "unit_labels": self.unit_labels,
            **self.design_values,
        }

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
            **({"thin_treated_arm": self.thin_treated_arm} if self.thin_treated_arm else {}),
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
    `min_rows_per_arm` is the fewest rows each arm of a binary treatment needs; in a panel, the
    fewest untreated unit-periods, the treated arm needing one unit-period (`check_panel_arms`).
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

    t, coding, arms = treatment_codes(
        series[treatment],
        treatment,
        roles.treatment_coding,
        multi_arm=multi_arm,
        continuous=continuous_treatment,
        method=method,
    )
    y = _numeric_values(series[outcome], outcome, "outcome")
    numeric = {role: _numeric_values(series[column], column, role) for role, column in extra.items()}
    unit_codes, unit_labels = None, None
    if index:
        codes, uniques = pd.factorize(series[index[0]], sort=True)
        unit_codes, unit_labels = np.asarray(codes, dtype=np.int64), [str(label) for label in uniques]
    thin_arm = ""
    if arms:
        check_multi_arms(t.astype(np.int64, copy=False), arms, treatment)
    elif t.dtype.kind != "f" and unit_codes is not None:  # a panel: its arms are units over time
        thin_arm = check_panel_arms(t.astype(np.int64, copy=False), unit_codes, treatment, min_rows_per_arm)
    elif t.dtype.kind != "f":  # a continuous treatment has no arms to size
        check_arms(t.astype(np.int64, copy=False), treatment, min_rows_per_arm)
    aliased: list[str] = []
    if covariates:
        try:
            matrix = covariate_matrix(series, used_covariates, y.shape[0])
        except CovariateError as exc:
            raise EstimationError(exc.reason) from exc
        X, names, constant = matrix.X, matrix.names, matrix.constant
        drop = aliased_covariates(t, X, names, treatment, matrix.max_abs)
        if drop:
            aliased = [names[j] for j in drop]
            keep_columns = np.setdiff1d(np.arange(X.shape[1]), drop)
            X = np.asfortranarray(X[:, keep_columns])
            names = [names[j] for j in keep_columns]
    else:
        X, names, constant = np.empty((y.shape[0], 0)), [], []
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
        design_values={DESIGN_ROLES[role]: values for role, values in numeric.items()},
        thin_treated_arm=thin_arm,
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
        # Coordinates and the post-period indicator may also be covariates; the others may not.
        coordinate = role in ("latitude", "longitude", "post")
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

    Period labels ('2010-Q4', 'Q4 2010', 'FY2019', 'H1 2020', 'Jan-2019', '2023年2月', era
    years) are ordered as periods (`cqox_shared.periods`, shared with the mapping); other text
    whose labels are all numbers and separators by its numbers, else by the dates pandas reads
    from it, and anything else as text.
    """
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return _codes(values)
    try:
        return _codes(period_order(values))
    except PeriodLabelError:
        pass
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
