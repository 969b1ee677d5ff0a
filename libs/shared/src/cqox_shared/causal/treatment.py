"""How the quality gate and the estimator read the treatment: one coding, one derivation.

The mapping writes an explicit 0/1 `treatment_coding` for every two-level treatment;
`apply_coding` applies it, for the gate and the estimator alike. Treatments a design defines
without a column (the sharp RD's 1(running variable >= cutoff)) are derived here, right after the
frame is read, by both; events keep the user's roles as mapped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cqox_contracts.v1 import Design, RoleMapping


class TreatmentCodingError(ValueError):
    """The treatment's values do not fit its coding; `reason` says which and what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _as_float(label: str) -> float | None:
    try:
        return float(label)
    except ValueError:
        return None


def apply_coding(values: pd.Series, coding: dict[str, int], name: str) -> tuple[np.ndarray, dict[str, int]]:
    """The treatment as 0/1 floats by the mapping's coding (NaN where missing), and the labels used.

    Labels compare as stripped text; numbers compare by value (a coding {'1': 0, '2': 1} reads 1.0
    and 2.0); booleans also read as 'True'/'False'. A value the coding does not cover raises.
    """
    if set(coding.values()) - {0, 1}:
        raise TreatmentCodingError(
            f"the treatment coding of {name!r} must map labels to 0 or 1, got {coding}"
        )
    present = values.notna().to_numpy()
    observed = values[present]
    lookup = {str(label).strip(): code for label, code in coding.items()}
    shown: dict[str, str] = {}  # the coding's own label of each value read (2.0 is shown as '2')
    if pd.api.types.is_numeric_dtype(observed) and not pd.api.types.is_bool_dtype(observed):
        by_value = {(_as_float(label), label): code for label, code in lookup.items()}
        lookup = {str(value): code for (value, _), code in by_value.items() if value is not None}
        shown = {str(value): label for (value, label) in by_value if value is not None}
        text = observed.astype(float).astype(str)
    else:
        text = observed.astype(str).str.strip()
    if pd.api.types.is_bool_dtype(observed):
        lookup = {"True": 1, "False": 0, **lookup}
    unknown = sorted(set(text) - set(lookup))
    if unknown:
        raise TreatmentCodingError(
            f"treatment {name!r} has value(s) {', '.join(map(repr, unknown[:5]))} that the coding "
            f"{coding} does not cover; add them to the mapping's treatment_coding"
        )
    codes = np.full(len(values), np.nan)
    codes[present] = np.asarray(text.map(lookup), dtype=float)
    used = {
        shown.get(label, label): lookup[label]
        for label in sorted(set(text), key=lambda label: -lookup[label])
    }
    return codes, used


def derivable(roles: RoleMapping, design: str) -> bool:
    """A sharp RD with a running variable and a cutoff but no treatment column."""
    return (
        design == Design.RD
        and not roles.treatment
        and bool(roles.running_variable)
        and roles.cutoff is not None
    )


def derived_name(roles: RoleMapping) -> str:
    """The derived treatment's column name, e.g. 'margin ≥ 0'."""
    return f"{roles.running_variable} ≥ {roles.cutoff:g}"


def with_derived_treatment(roles: RoleMapping, design: str) -> RoleMapping:
    """The roles with the derived treatment named (for role checks that need no data)."""
    if not derivable(roles, design):
        return roles
    return roles.model_copy(update={"treatment": derived_name(roles), "treatment_coding": {"0": 0, "1": 1}})


def derive_treatment(
    frame: pd.DataFrame, roles: RoleMapping, design: str
) -> tuple[pd.DataFrame, RoleMapping, str | None]:
    """Add the design's derived treatment column to `frame` when there is one.

    Returns the frame, the roles naming that column, and a note saying how it was defined (None
    when nothing was derived). A row whose running variable is missing gets a missing treatment.
    """
    if not derivable(roles, design) or roles.running_variable not in frame.columns:
        return frame, roles, None
    derived = with_derived_treatment(roles, design)
    running = pd.to_numeric(frame[roles.running_variable], errors="coerce")
    assert roles.cutoff is not None  # derivable() checked it
    treated = np.where(running.isna(), np.nan, (running >= roles.cutoff).astype(float))
    note = (
        f"sharp RD: no treatment column was given, so the treatment is 1({roles.running_variable} ≥ "
        f"{roles.cutoff:g}); name a treatment column to make it fuzzy where it disagrees"
    )
    return frame.assign(**{str(derived.treatment): treated}), derived, note
