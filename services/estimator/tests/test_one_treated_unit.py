"""One treated unit among many controls: the TWFE DiD runs beside the synthetic control.

Regression test on the real file (causaldata's organ_donations, Kessler & Roth 2014): California's
active-choice policy from 2011 Q3, 27 states x 6 quarters. The Effect (Huntington-Klein 2021)
ch. 18 reports the TWFE estimate -0.0225 with state-clustered SEs; one treated state over three
post quarters used to be refused by the 10-rows-per-arm floor of cross-sections.
"""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest

from cqox_contracts.v1 import Refuter, RoleMapping
from cqox_estimator.domain import estimate
from cqox_estimator.estimators import EstimationError
from cqox_estimator.estimators.treatment import check_panel_arms
from cqox_estimator.refutation import refutable, refute

ROLES = RoleMapping(treatment="Treated", outcome="Rate", unit="State", time="Quarter")


@pytest.fixture(scope="module")
def organ_donations() -> pd.DataFrame:
    frame = importlib.import_module("causaldata.organ_donations").load_pandas().data.copy()
    frame["Treated"] = ((frame["State"] == "California") & (frame["Quarter_Num"] >= 4)).astype(int)
    return frame


def test_twfe_reproduces_the_published_estimate_and_says_how_thin_the_treated_arm_is(
    organ_donations: pd.DataFrame,
) -> None:
    result = estimate("twfe", organ_donations, ROLES)
    assert result.estimate == pytest.approx(-0.0225, abs=5e-4)
    assert result.std_error == pytest.approx(0.0067, abs=3e-4)
    assert (result.n_treated, result.n_control) == (3, 159)
    thin = str(result.diagnostics["thin_treated_arm"])
    assert "1 treated unit(s) over 3 treated unit-period(s)" in thin and "26 other unit(s)" in thin
    # One treated cluster: the treated_clusters gate (limit 5) reads this and flags the SE.
    assert result.diagnostics["n_treated_clusters"] == 1.0


def test_every_refuter_of_twfe_runs_on_one_treated_unit(organ_donations: pd.DataFrame) -> None:
    assert refutable("twfe")
    found = {r.refuter: r for r in refute("twfe", organ_donations, ROLES, seed=1)}
    assert set(found) == {refuter.value for refuter in Refuter}  # every refuter a panel has
    assert all(r.error is None for r in found.values()), {k: r.error for k, r in found.items()}
    subset = found["data_subset"]
    assert len(subset.draws) == 3 and all(np.isfinite(subset.draws))  # California kept in every draw
    assert "drawn apart" in str(subset.change)


def test_the_panel_floor_counts_untreated_unit_periods_and_needs_a_treated_one() -> None:
    unit = np.repeat(np.arange(4), 3)
    one_treated = np.zeros(12, dtype=np.int64)
    one_treated[2] = 1
    assert "1 treated unit(s) over 1 treated unit-period(s)" in check_panel_arms(one_treated, unit, "d", 10)
    with pytest.raises(EstimationError, match="no treated rows"):
        check_panel_arms(np.zeros(12, dtype=np.int64), unit, "d", 10)
    mostly_treated = np.ones(12, dtype=np.int64)
    mostly_treated[:3] = 0
    with pytest.raises(EstimationError, match="9 treated and 3 control rows"):
        check_panel_arms(mostly_treated, unit, "d", 10)
    assert check_panel_arms(np.r_[np.zeros(6), np.ones(6)].astype(np.int64), unit, "d", 6) == ""


def test_a_cross_section_keeps_its_row_floor(organ_donations: pd.DataFrame) -> None:
    with pytest.raises(EstimationError, match="too few rows per arm: 3 treated"):
        estimate("diff_in_means", organ_donations, RoleMapping(treatment="Treated", outcome="Rate"))
