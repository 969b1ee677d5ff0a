"""Data gates: checks on a mapped dataset before any estimation runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from cqox_contracts.v1 import GateResult, RoleMapping
from cqox_quality_gate.gates.thresholds import GateThresholds
from cqox_quality_gate.gates.treatment import TreatmentCoding, code_treatment

REQUIRED_ROLES = ("treatment", "outcome")
# Roles no analysis can do without: the complete cases are the rows with all of them (unit and time
# too under panel designs, where they index the rows). Rows missing a covariate are dropped as well.
CASE_ROLES = ("treatment", "outcome", "instrument", "running_variable")
INDEXED_DESIGNS = frozenset({"panel", "synthetic_control"})
# Most treatment levels read as arms of a multi-arm comparison; more look like a dose or an id.
MAX_ARMS = 10
# Designs whose treatment the `treatment_arms` gate reads differently:
# - their methods also take a continuous numeric treatment (2SLS with years of schooling, a dose):
#   there a numeric treatment with more than two values is a dose, not arms;
CONTINUOUS_TREATMENT_DESIGNS = frozenset({"iv"})
# - they have one to three treated units by design, so a few treated rows (their post-adoption
#   periods) are expected: one row per arm is asked; the method checks periods and donors itself.
FEW_TREATED_DESIGNS = frozenset({"synthetic_control"})
# - they compare groups of units followed over time: an arm is a group of units (ever treated or
#   never treated) with every period the DiD uses, not the treated unit-periods alone.
UNIT_GROUP_DESIGNS = frozenset({"panel"})


def mapped_columns(roles: RoleMapping) -> list[tuple[str, str]]:
    """Every (role, column) the mapping names, in a stable order, each column once."""
    pairs: list[tuple[str, str]] = []
    for role in ("treatment", "outcome", "unit", "time"):
        column = getattr(roles, role)
        if column:
            pairs.append((role, column))
    pairs.extend(("covariate", column) for column in roles.covariates)
    for role in ("instrument", "running_variable", "cluster", "weight"):
        column = getattr(roles, role)
        if column:
            pairs.append((role, column))
    seen: set[str] = set()
    unique: list[tuple[str, str]] = []
    for role, column in pairs:
        if column not in seen:
            seen.add(column)
            unique.append((role, column))
    return unique


def numeric_values(series: pd.Series) -> pd.Series | None:
    """The column as floats (bools as 0/1), or None when non-missing values are not numbers."""
    if is_bool_dtype(series.dtype) or is_numeric_dtype(series.dtype):
        return series.astype(float)
    coerced = pd.to_numeric(series, errors="coerce")
    if bool((coerced.isna() & series.notna()).any()):
        return None
    return coerced.astype(float)


def _required_roles_gate(roles: RoleMapping) -> GateResult:
    unmapped = [role for role in REQUIRED_ROLES if not getattr(roles, role)]
    message = (
        "Treatment and outcome are both mapped."
        if not unmapped
        else f"No column is mapped to {' and '.join(unmapped)}; map one before estimating."
    )
    return GateResult(
        name="required_roles",
        category="data",
        threshold=0.0,
        value=float(len(unmapped)),
        passed=not unmapped,
        severity="error",
        message=message,
        details={"unmapped_roles": ", ".join(unmapped) or None},
    )


def _columns_present_gate(df: pd.DataFrame, pairs: list[tuple[str, str]]) -> GateResult:
    absent = [(role, column) for role, column in pairs if column not in df.columns]
    listing = ", ".join(f"{column!r} ({role})" for role, column in absent)
    message = (
        f"All {len(pairs)} mapped columns are in the data."
        if not absent
        else f"Mapped column(s) missing from the data: {listing}; fix the mapping or re-upload."
    )
    return GateResult(
        name="columns_present",
        category="data",
        threshold=0.0,
        value=float(len(absent)),
        passed=not absent,
        severity="error",
        message=message,
        applies_to=[column for _, column in absent],
        details={f"missing:{column}": role for role, column in absent},
    )


def _completeness_gate(df: pd.DataFrame, role: str, column: str, thresholds: GateThresholds) -> GateResult:
    """Missing share of one mapped column: a warning, never a rejection (the methods run on the
    complete cases; `complete_cases` decides whether enough of them remain)."""
    n_rows = len(df)
    n_missing = int(df[column].isna().sum())
    share = n_missing / n_rows if n_rows else 1.0
    limit = thresholds.max_missing_share
    passed = share <= limit
    if passed:
        message = f"Column {column!r} ({role}) is {share:.1%} missing, within the {limit:.0%} cap."
    elif role in REQUIRED_ROLES:
        message = (
            f"Column {column!r} ({role}) is {share:.1%} missing, above the {limit:.0%} cap; the methods "
            f"use the {n_rows - n_missing} rows where it is present (see complete_cases"
            + (" and attrition)." if role == "outcome" else ").")
        )
    else:
        message = (
            f"Column {column!r} ({role}) is {share:.1%} missing, above the {limit:.0%} cap; rows without "
            "it are dropped: drop it from the covariates or impute it to keep them."
        )
    return GateResult(
        name=f"completeness:{column}",
        category="data",
        threshold=limit,
        value=share,
        passed=passed,
        severity="warning",
        message=message,
        applies_to=[column],
        details={"role": role, "n_missing": float(n_missing), "n_rows": float(n_rows)},
    )


def _case_columns(pairs: list[tuple[str, str]], design: str | None) -> tuple[list[str], list[str]]:
    """The columns no analysis can do without, and the covariates (a row missing one is dropped
    too, but the covariate could be dropped instead)."""
    roles = CASE_ROLES + (("unit", "time") if design in INDEXED_DESIGNS else ())
    needed = [column for role, column in pairs if role in roles]
    covariates = [column for role, column in pairs if role == "covariate"]
    return needed, covariates


def _complete_cases_gate(
    df: pd.DataFrame, pairs: list[tuple[str, str]], thresholds: GateThresholds, design: str | None
) -> GateResult:
    """Share of rows with the treatment, the outcome and any design column present. Too few
    (below `min_complete_share`) rejects the dataset; otherwise the methods run on the complete
    cases. Covariates count apart: a sparse covariate is better dropped than the rows."""
    needed_all, covariates_all = _case_columns(pairs, design)
    needed = [c for c in needed_all if c in df.columns]
    covariates = [c for c in covariates_all if c in df.columns]
    n_rows = len(df)
    complete = df[needed].notna().all(axis=1) if needed else pd.Series(True, index=df.index)
    n_complete = int(complete.sum())
    with_covariates = complete & df[covariates].notna().all(axis=1) if covariates else complete
    n_usable = int(with_covariates.sum())
    share = n_complete / n_rows if n_rows else 0.0
    limit = thresholds.min_complete_share
    passed = n_rows > 0 and share >= limit
    listing = ", ".join(repr(c) for c in needed)
    if not passed:
        worst = max(needed, key=lambda c: int(df[c].isna().to_numpy().sum()), default=None)
        hint = f" (most missing: {worst!r})" if worst is not None and n_rows else ""
        message = (
            f"Only {n_complete} of {n_rows} rows ({share:.1%}) have {listing}{hint}, below the "
            f"{limit:.0%} minimum; recover the missing values or map columns that are filled in."
        )
    elif n_usable == n_rows:
        message = f"All {n_rows} rows have every used column."
    else:
        message = f"{n_complete} of {n_rows} rows ({share:.1%}) have {listing}"
        if n_usable < n_complete:
            sparse = max(covariates, key=lambda c: int(df[c].isna().to_numpy().sum()))
            message += (
                f"; {n_usable} ({n_usable / n_rows:.1%}) also have every covariate, and the methods run "
                f"on those (most missing: {sparse!r}; drop it from the covariates or impute it to keep "
                "more rows)."
            )
        else:
            message += "; the methods run on them."
    return GateResult(
        name="complete_cases",
        category="data",
        threshold=limit,
        value=share,
        passed=passed,
        severity="error",
        message=message,
        applies_to=needed,
        details={
            "n_complete": float(n_complete),
            "n_complete_with_covariates": float(n_usable),
            "n_rows": float(n_rows),
            "columns": ", ".join(needed),
        },
    )


def _attrition_gate(
    df: pd.DataFrame, roles: RoleMapping, thresholds: GateThresholds, design: str | None
) -> GateResult:
    """Outcomes missing among rows that have a treatment (attrition), overall and by arm.

    Complete-case estimates assume the outcome is missing at random within each arm; attrition
    that differs between arms can bias them however large the sample. The gate flags it and
    points to Lee (2009) bounds, which assume only that treatment moves attrition one way.
    """
    treatment, outcome = roles.treatment, roles.outcome
    limit, differential_limit = thresholds.max_attrition, thresholds.max_differential_attrition
    if not treatment or treatment not in df.columns or not outcome or outcome not in df.columns:
        return _unavailable("attrition", "attrition", treatment if treatment else outcome, limit)
    assigned = df[df[treatment].notna()]
    missing = assigned[outcome].isna()
    n_assigned, n_missing = len(assigned), int(missing.sum())
    overall = n_missing / n_assigned if n_assigned else 0.0
    details: dict[str, float | str | None] = {
        "n_assigned": float(n_assigned),
        "n_missing_outcome": float(n_missing),
        "max_differential_attrition": differential_limit,
    }
    arms = _arm_labels(assigned[treatment], roles, design)
    differential: float | None = None
    if arms is not None:
        shares = missing.groupby(arms).mean()
        for level, share in shares.items():
            details[f"attrition[{level}]"] = float(share)
        if len(shares) >= 2:
            differential = float(shares.max() - shares.min())
            details["differential_attrition"] = differential
            details["most_attrition_arm"] = str(shares.idxmax())
            details["least_attrition_arm"] = str(shares.idxmin())
    overall_ok = overall <= limit
    differential_ok = differential is None or differential <= differential_limit
    by_arm = ""
    if arms is not None:
        listing = ", ".join(f"{level}: {share:.1%}" for level, share in shares.items())
        by_arm = f" (by {treatment!r} arm: {listing})"
    if n_missing == 0:
        message = f"Every row with a treatment has its outcome {outcome!r}: no attrition."
    elif overall_ok and differential_ok:
        message = (
            f"Outcome {outcome!r} is missing for {overall:.1%} of rows with a treatment{by_arm}, within "
            f"the {limit:.0%} overall and {differential_limit * 100:g}-point differential limits."
        )
    else:
        problems = []
        if not overall_ok:
            problems.append(f"above the {limit:.0%} limit")
        if differential is not None and not differential_ok:
            problems.append(
                f"the arms differ by {differential * 100:.1f} percentage points, above the "
                f"{differential_limit * 100:g}-point limit"
            )
        message = (
            f"Outcome {outcome!r} is missing for {overall:.1%} of rows with a treatment{by_arm}: "
            f"{'; '.join(problems)}. Estimates use the complete cases and assume outcomes are missing "
            "at random within arms; read the Lee (2009) bounds (method lee_bounds, experiments) for "
            "what selective attrition could do, or follow up the missing outcomes."
        )
    return GateResult(
        name="attrition",
        category="data",
        threshold=limit,
        value=overall,
        passed=overall_ok and differential_ok,
        severity="warning",
        message=message,
        applies_to=[outcome],
        details=details,
    )


def _arm_labels(values: pd.Series, roles: RoleMapping, design: str | None) -> pd.Series | None:
    """Each row's arm as a label, or None for a continuous treatment (no arms to compare)."""
    coding = code_treatment(values, roles.treatment_coding)
    if len(coding.levels) > MAX_ARMS:
        return None
    continuous = design in CONTINUOUS_TREATMENT_DESIGNS and numeric_values(values) is not None
    if len(coding.levels) > 2 and continuous:
        return None
    numeric = numeric_values(values)
    if numeric is not None and bool((numeric == numeric.round()).all()):
        return numeric.astype("int64").astype(str)  # 1.0 -> "1"
    return values.astype(str)


def _unavailable(name: str, role: str, column: str | None, threshold: float) -> GateResult:
    what = f"column {column!r} is not in the data" if column else "no column is mapped"
    return GateResult(
        name=name,
        category="data",
        threshold=threshold,
        value=None,
        passed=False,
        severity="error",
        message=f"The {role} cannot be checked because {what}; fix the role mapping.",
    )


def _treatment_arms_gate(
    df: pd.DataFrame, roles: RoleMapping, min_arm: int, design: str | None = None
) -> GateResult:
    treatment = roles.treatment
    min_arm = 1 if design in FEW_TREATED_DESIGNS else min_arm
    if not treatment or treatment not in df.columns:
        return _unavailable("treatment_arms", "treatment", treatment, float(min_arm))
    usable = df[treatment]
    if roles.outcome and roles.outcome in df.columns:
        usable = usable[df[roles.outcome].notna()]
    coding = code_treatment(usable, roles.treatment_coding)
    details: dict[str, float | str | None] = {
        "n_levels": float(len(coding.levels)),
        "levels": ", ".join(coding.levels[:10]),
        "treated_level": coding.treated_level,
        "control_level": coding.control_level,
        "n_treated": float(coding.n_treated),
        "n_control": float(coding.n_control),
    }
    numeric = numeric_values(usable) if len(coding.levels) > 2 else None
    if design in CONTINUOUS_TREATMENT_DESIGNS and numeric is not None:
        smallest, passed, message, details = _continuous_verdict(treatment, numeric, details)
    elif len(coding.levels) > 2:
        smallest, passed, message, details = _multi_arm_verdict(treatment, usable, min_arm, details)
    elif design in UNIT_GROUP_DESIGNS and (groups := _unit_groups(df, roles, coding)) is not None:
        smallest, passed, message, details = _unit_group_verdict(treatment, roles, groups, min_arm, details)
    else:
        smallest, passed, message = _binary_verdict(treatment, coding, min_arm)
    return GateResult(
        name="treatment_arms",
        category="data",
        threshold=float(min_arm),
        value=float(smallest),
        passed=passed,
        severity="error",
        message=message,
        applies_to=[treatment],
        details=details,
    )


def _unit_groups(df: pd.DataFrame, roles: RoleMapping, coding: TreatmentCoding) -> pd.DataFrame | None:
    """Per usable row of a panel: its unit and whether that unit is ever treated (None without
    a unit column or a two-level treatment)."""
    unit = roles.unit
    if not coding.is_binary or coding.indicator is None or not unit or unit not in df.columns:
        return None
    frame = pd.DataFrame({"unit": df.loc[coding.indicator.index, unit], "treated": coding.indicator})
    frame = frame.dropna()
    if frame.empty:
        return None
    frame["ever"] = frame.groupby("unit")["treated"].transform("max").astype(int)
    return frame


def _unit_group_verdict(
    treatment: str,
    roles: RoleMapping,
    groups: pd.DataFrame,
    min_arm: int,
    details: dict[str, float | str | None],
) -> tuple[int, bool, str, dict[str, float | str | None]]:
    """A panel's arms are groups of units: those ever treated and those never treated, each with
    every period it is observed in (a DiD compares the groups' changes, so a treated unit's
    pre-adoption rows belong to its arm). The minimum applies to each group's unit-periods; the
    units are counted and named in the message (`treated_clusters` judges few treated units)."""
    units = groups.groupby("ever")["unit"].nunique()
    rows = groups.groupby("ever").size()
    n_units = {arm: int(units.get(arm, 0)) for arm in (1, 0)}
    n_rows = {arm: int(rows.get(arm, 0)) for arm in (1, 0)}
    unit = roles.unit
    details = {
        **details,
        "arms_counted_as": "groups of units (ever treated / never treated)",
        "n_treated_units": float(n_units[1]),
        "n_control_units": float(n_units[0]),
        "n_treated_unit_periods": float(n_rows[1]),
        "n_control_unit_periods": float(n_rows[0]),
    }
    smallest = min(n_rows.values())
    passed = smallest >= min_arm
    counts = (
        f"{n_units[1]} {unit!r} units ever treated ({n_rows[1]} unit-periods) and {n_units[0]} never "
        f"treated ({n_rows[0]} unit-periods)"
    )
    if not n_units[0] or not n_units[1]:
        passed = False
        message = (
            f"Treatment {treatment!r} leaves no {'never' if not n_units[0] else 'ever'}-treated "
            f"{unit!r} units ({counts}); a panel comparison needs both groups."
        )
    elif passed:
        message = (
            f"Treatment {treatment!r} splits the panel into {counts}: arms are counted as groups of "
            f"units, each with at least {min_arm} unit-periods."
        )
    else:
        message = (
            f"Treatment {treatment!r} splits the panel into {counts}: arms are counted as groups of "
            f"units, and one has fewer than {min_arm} unit-periods; collect more units or periods."
        )
    return smallest, passed, message, details


def _binary_verdict(treatment: str, coding: TreatmentCoding, min_arm: int) -> tuple[int, bool, str]:
    """Smallest arm, pass/fail and message for a one- or two-level treatment."""
    smallest = min(coding.n_treated, coding.n_control)
    passed = coding.is_binary and smallest >= min_arm
    if passed:
        message = (
            f"Treatment {treatment!r} has two arms ({coding.n_treated} treated, "
            f"{coding.n_control} control), each with at least {min_arm} rows."
        )
    elif not coding.is_binary:
        only = coding.levels[0] if coding.levels else "none"
        message = (
            f"Treatment {treatment!r} has a single arm ({only}); a comparison needs both "
            "treated and control rows."
        )
    else:
        message = (
            f"Treatment arm sizes {coding.n_treated} treated / {coding.n_control} control are "
            f"below the minimum of {min_arm} rows per arm; collect more data."
        )
    return smallest, passed, message


def _continuous_verdict(
    treatment: str, values: pd.Series, details: dict[str, float | str | None]
) -> tuple[int, bool, str, dict[str, float | str | None]]:
    """A numeric treatment with more than two values, in a design whose methods take it as is.

    It has no arms to size: the value reported is the number of rows with a treatment value.
    """
    observed = values.dropna()
    k = int(observed.nunique())
    low, high = float(observed.min()), float(observed.max())
    details = {
        **details,
        "treatment_scale": "continuous",
        "treatment_min": low,
        "treatment_max": high,
        "n_nonzero": float((observed != 0).sum()),
        "n_zero": float((observed == 0).sum()),
    }
    message = (
        f"Treatment {treatment!r} is a continuous treatment ({k} values, {low:g} to {high:g}): only "
        "methods that accept one will run."
    )
    return len(observed), k >= 2, message, details


def _multi_arm_verdict(
    treatment: str, usable: pd.Series, min_arm: int, details: dict[str, float | str | None]
) -> tuple[int, bool, str, dict[str, float | str | None]]:
    """Three to MAX_ARMS levels are arms (multi-arm methods compare each with the reference)."""
    sizes = usable.dropna().astype(str).value_counts()
    details = {**details, **{f"n[{level}]": float(n) for level, n in sizes.items()}}
    smallest = int(sizes.min())
    if len(sizes) > MAX_ARMS:
        passed, message = (
            False,
            f"Treatment {treatment!r} has {len(sizes)} levels; up to {MAX_ARMS} arms can be compared. "
            "Group its levels, or map a binary treatment.",
        )
    elif smallest < min_arm:
        passed, message = (
            False,
            f"Treatment {treatment!r} has {len(sizes)} arms but the smallest has {smallest} rows, "
            f"below the minimum of {min_arm}; collect more data or merge thin arms.",
        )
    else:
        passed, message = (
            True,
            f"Treatment {treatment!r} has {len(sizes)} arms, each with at least {min_arm} rows; "
            "methods that accept a multi-valued treatment compare each arm with the reference.",
        )
    return smallest, passed, message, details


def _outcome_variance_gate(df: pd.DataFrame, roles: RoleMapping) -> GateResult:
    outcome = roles.outcome
    if not outcome or outcome not in df.columns:
        return _unavailable("outcome_variance", "outcome", outcome, 0.0)
    values = numeric_values(df[outcome])
    if values is None:
        return GateResult(
            name="outcome_variance",
            category="data",
            threshold=0.0,
            value=None,
            passed=False,
            severity="error",
            message=f"Outcome {outcome!r} is not numeric; map a numeric (or 0/1) outcome column.",
            applies_to=[outcome],
        )
    observed = values.dropna()
    n_distinct = int(observed.nunique())
    spread = float(np.std(observed.to_numpy(), ddof=1)) if len(observed) > 1 else 0.0
    passed = n_distinct > 1
    message = (
        f"Outcome {outcome!r} varies (standard deviation {spread:.4g})."
        if passed
        else f"Outcome {outcome!r} is constant, so no effect can be estimated; map another outcome."
    )
    return GateResult(
        name="outcome_variance",
        category="data",
        threshold=0.0,
        value=spread,
        passed=passed,
        severity="error",
        message=message,
        applies_to=[outcome],
        details={"n_distinct": float(n_distinct), "n_observed": float(len(observed))},
    )


def data_gates(
    df: pd.DataFrame, roles: RoleMapping, thresholds: GateThresholds, design: str | None = None
) -> list[GateResult]:
    """Run the data gates on a mapped dataset, in a fixed order.

    Missing values never reject a dataset by themselves: the methods run on the complete cases,
    `completeness` and `attrition` warn, and only too few complete cases (`complete_cases`) reject.
    """
    pairs = mapped_columns(roles)
    gates = [_required_roles_gate(roles), _columns_present_gate(df, pairs)]
    gates.extend(
        _completeness_gate(df, role, column, thresholds) for role, column in pairs if column in df.columns
    )
    gates.append(_complete_cases_gate(df, pairs, thresholds, design))
    gates.append(_attrition_gate(df, roles, thresholds, design))
    gates.append(_treatment_arms_gate(df, roles, thresholds.min_arm_size, design))
    gates.append(_outcome_variance_gate(df, roles))
    return gates


def rejection_reason(gates: list[GateResult]) -> str | None:
    """Why the dataset is rejected (every failed error gate), or None when nothing blocks it."""
    blocking = [gate for gate in gates if gate.severity == "error" and not gate.passed]
    if not blocking:
        return None
    reasons = "; ".join(f"{gate.name}: {gate.message.rstrip('.')}" for gate in blocking)
    return f"{len(blocking)} blocking quality gate(s) failed — {reasons}."
