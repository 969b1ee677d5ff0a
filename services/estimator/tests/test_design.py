"""prepare(): from a data frame and roles to y, t, X, with clear errors for unusable data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cqox_contracts.v1 import RoleMapping
from cqox_estimator.estimators import EstimationError, prepare


def frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """A small mixed-type frame with a balanced 0/1 treatment."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "t": np.arange(n) % 2,
            "y": rng.normal(size=n),
            "age": rng.integers(20, 70, size=n),
            "region": rng.choice(["north", "south", "east"], size=n),
            "member": rng.random(n) < 0.5,
        }
    )


def roles(*covariates: str, treatment: str | None = "t", outcome: str | None = "y") -> RoleMapping:
    return RoleMapping(treatment=treatment, outcome=outcome, covariates=list(covariates))


def test_builds_typed_arrays_with_drop_first_dummies() -> None:
    design = prepare(frame(), roles("age", "region", "member"))
    assert design.y.dtype == np.float64 and design.t.dtype == np.int64
    assert set(np.unique(design.t)) == {0, 1}
    assert design.covariate_names == ["age", "region=north", "region=south", "member=True"]
    assert design.X.shape == (60, 4)
    assert (design.n, design.n_treated, design.n_control) == (60, 30, 30)
    assert design.treatment_coding == {"1": 1, "0": 0}


def test_categorical_dtype_keeps_its_level_order() -> None:
    data = frame()
    data["region"] = pd.Categorical(data["region"], categories=["south", "north", "east"])
    design = prepare(data, roles("region"))
    assert design.covariate_names == ["region=north", "region=east"]


def test_constant_columns_are_dropped_and_recorded() -> None:
    data = frame().assign(country="NL", version=3.0)
    design = prepare(data, roles("age", "country", "version"))
    assert design.covariate_names == ["age"]
    assert design.dropped_constant == ["country", "version"]
    assert design.describe()["dropped_constant_columns"] == "country, version"


def test_missing_and_infinite_values_drop_rows_with_a_reason() -> None:
    data = frame().astype({"age": float})
    data.loc[0, "y"] = np.nan
    data.loc[1, "age"] = np.inf
    data.loc[[1, 2], "region"] = None
    design = prepare(data, roles("age", "region"))
    assert design.n == 57 and design.n_dropped == 3 and design.n_input == 60
    assert design.dropped_reason == (
        "3 rows with missing or non-finite values in: y (1), age (1), region (2)"
    )


def test_unused_columns_with_missing_values_do_not_drop_rows() -> None:
    data = frame().assign(notes=None)
    assert prepare(data, roles("age")).n_dropped == 0


def test_two_level_string_treatment_is_mapped() -> None:
    data = frame().assign(t=lambda d: d["t"].map({1: " Treated", 0: "control"}))
    design = prepare(data, roles())
    assert design.treatment_coding == {" Treated": 1, "control": 0}
    assert design.t.tolist() == (frame()["t"]).tolist()


@pytest.mark.parametrize(
    ("treatment", "message"),
    [
        (lambda d: d["t"].map({1: "A", 0: "B"}), "cannot tell which level of treatment 't'"),
        (lambda d: d["t"] + 1, "numeric treatment 't' must be coded 0/1; found values 1, 2"),
        (lambda d: np.arange(len(d)) % 4, "must be binary but has 4 distinct values"),
    ],
)
def test_treatment_that_is_not_binary_0_1_is_rejected(treatment, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EstimationError, match=message):
        prepare(frame().assign(t=treatment), roles())


def test_numeric_strings_in_the_outcome_are_converted_but_words_are_not() -> None:
    data = frame()
    assert prepare(data.assign(y=data["y"].astype(str)), roles()).y == pytest.approx(data["y"])
    with pytest.raises(EstimationError, match="outcome 'y' must be numeric; 1 values are not"):
        prepare(data.assign(y=["high", *data["y"].iloc[1:]]), roles())


@pytest.mark.parametrize(
    ("role_mapping", "message"),
    [
        (roles(outcome=None), "no column is mapped to the outcome role"),
        (roles(treatment="coupon"), "the treatment column 'coupon' is not in the data"),
        (roles("age", "t"), "cannot be both a covariate and the treatment/outcome"),
    ],
)
def test_role_problems_are_named(role_mapping: RoleMapping, message: str) -> None:
    with pytest.raises(EstimationError, match=message):
        prepare(frame(), role_mapping)


def test_aliased_covariate_is_dropped_and_named() -> None:
    """As R's lm: a covariate that is a linear combination of earlier ones is left out, and said."""
    data = frame().assign(age_again=lambda d: d["age"] * 2.0)
    design = prepare(data, roles("age", "age_again"))
    assert design.covariate_names == ["age"]
    assert design.dropped_aliased == ["age_again"]
    assert design.describe()["dropped_collinear_columns"] == "age_again"


def test_full_set_of_dummies_with_intercept_drops_one() -> None:
    """Region dummies for every region (the dummy trap) plus a linear function of two columns."""
    rng = np.random.default_rng(3)
    data = frame()
    region = rng.integers(0, 3, len(data))
    data = data.assign(
        north=(region == 0).astype(float),
        south=(region == 1).astype(float),
        west=(region == 2).astype(float),
        age2=lambda d: 3.0 * d["age"] - 1.0,
    )
    design = prepare(data, roles("age", "north", "south", "west", "age2"))
    assert design.dropped_aliased == ["west", "age2"]
    assert design.X.shape[1] == 3


def test_covariate_that_copies_the_treatment_is_refused() -> None:
    data = frame().assign(flag=lambda d: 1.0 - d["t"])
    with pytest.raises(EstimationError, match="linear combination of the intercept and the covariates"):
        prepare(data, roles("flag"))


def test_identifier_like_categorical_is_rejected() -> None:
    data = frame().assign(customer_id=lambda d: [f"C{i:03d}" for i in range(len(d))])
    with pytest.raises(EstimationError, match="'customer_id' has 60 categories"):
        prepare(data, roles("customer_id"))


def test_datetime_covariate_is_rejected() -> None:
    data = frame().assign(signup=pd.Timestamp("2024-01-01"))
    with pytest.raises(EstimationError, match="'signup' is a date/time column"):
        prepare(data, roles("signup"))


def test_single_arm_and_small_arm_messages_count_rows() -> None:
    with pytest.raises(EstimationError, match=r"no treated rows: .* 0 treated and 60 control"):
        prepare(frame().assign(t=0), roles())
    small = frame().assign(t=lambda d: (np.arange(len(d)) < 8).astype(int))
    with pytest.raises(EstimationError, match="8 treated and 52 control rows; at least 10"):
        prepare(small, roles())


def test_coordinates_may_be_covariates_but_an_instrument_may_not() -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "t": np.tile([0, 1], 50),
            "y": rng.normal(size=100),
            "lat": rng.uniform(30, 40, 100),
            "lon": rng.uniform(130, 140, 100),
            "z": rng.integers(0, 2, 100),
        }
    )
    frame.loc[3, "lat"] = np.nan
    roles = RoleMapping(
        treatment="t", outcome="y", covariates=["lat", "lon"], latitude="lat", longitude="lon", instrument="z"
    )
    design = prepare(frame, roles, design_roles=("latitude", "longitude"))
    assert design.n == 99 and design.latitude is not None and design.longitude is not None
    assert np.array_equal(design.latitude, frame["lat"].drop(index=3).to_numpy())
    assert design.covariate_names == ["lat", "lon"]
    with pytest.raises(EstimationError, match="instrument column 'z' cannot also be the treatment"):
        prepare(frame, roles.model_copy(update={"covariates": ["z"]}), design_roles=("instrument",))


@pytest.mark.parametrize(
    "labels",
    [
        ["Q42010", "Q12011", "Q22011", "Q32011"],
        ["Q4 2010", "Q1 2011", "Q2 2011", "Q3 2011"],
        ["2010-Q4", "2011-Q1", "2011-Q2", "2011-Q3"],
        ["FY2019", "FY2020", "FY2021", "FY2022"],
        ["H2 2019", "H1 2020", "H2 2020", "H1 2021"],
        ["Dec-2018", "Jan-2019", "Feb-2019", "Mar-2019"],
    ],
)
def test_period_labels_order_a_panel_in_time(labels: list[str]) -> None:
    """Labels that sort wrongly as text ('Q12011' < 'Q42010') are ordered as periods."""
    units = [f"u{i}" for i in range(12)]
    frame = pd.DataFrame(
        [
            {"unit": u, "period": label, "t": int(i < 6 and k >= 2), "y": float(k + (i < 6) * (k >= 2))}
            for i, u in enumerate(units)
            for k, label in enumerate(labels)
        ]
    )
    design = prepare(frame, RoleMapping(treatment="t", outcome="y", unit="unit", time="period"), panel=True)
    assert design.time is not None
    assert design.time.tolist() == [k for _ in units for k in range(4)]
