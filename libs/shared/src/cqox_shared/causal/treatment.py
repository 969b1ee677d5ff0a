"""Treatments a design defines without a column: the sharp RD's 1(running variable >= cutoff).

The quality gate and the estimator read the same Parquet file and must see the same treatment, so
both derive it here, right after reading the frame; events keep the user's roles as mapped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cqox_contracts.v1 import Design, RoleMapping


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
