"""Role inference on the layouts users upload: names, values, overrides, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cqox_mapping.domain import (
    MappingError,
    MappingResult,
    dictionary_version,
    infer_roles,
    load_synonyms,
    normalise_name,
)
from cqox_mapping.pre_outcome import earlier_outcome

N = 400


def customers(n: int = N, seed: int = 7) -> pd.DataFrame:
    """The demo layout: customers, a coupon and spend over the next 90 days."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    coupon = rng.integers(0, 2, n)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(1, n + 1)],
            "age": age,
            "income": np.round(55 * np.exp(rng.normal(0, 0.35, n)), 1),
            "tenure_months": rng.integers(1, 121, n),
            "prior_purchases": rng.poisson(2.2, n),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "received_coupon": coupon,
            "spend_next_90d": np.round(6 + 2 * coupon - 0.02 * age + rng.normal(0, 1.2, n), 3),
        }
    )


def panel(units: int = 30, years: int = 10, seed: int = 3) -> pd.DataFrame:
    """Units observed every year, half of them treated from mid-period on."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(1, units + 1), years)
    year = np.tile(np.arange(2010, 2010 + years), units)
    treated = ((unit <= units // 2) & (year >= 2010 + years // 2)).astype(int)
    return pd.DataFrame({"unit": unit, "year": year, "treated": treated, "y": rng.normal(size=units * years)})


def assignment(result: MappingResult, column: str):
    """The assignment of one column (every column has exactly one)."""
    (found,) = [a for a in result.assignments if a.column == column]
    return found


def test_normalise_name_splits_case_and_separators_and_folds_width_and_accents() -> None:
    assert normalise_name("isTreated") == ("is", "treated")
    assert normalise_name("totalRevenueUSD") == ("total", "revenue", "usd")
    assert normalise_name("userID") == ("user", "id")
    assert normalise_name("spend-next 90d") == ("spend", "next", "90d")
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "Treatment")
    assert normalise_name(full_width) == ("treatment",)
    assert normalise_name("Dépense_Totale") == ("depense", "totale")


def test_synonym_dictionary_is_versioned_data() -> None:
    dictionary = load_synonyms("en")
    assert dictionary.language == "en"
    assert dictionary.version == "3"
    assert dictionary_version().startswith("en:3,ja:2,zh:2,ko:2,es:2,fr:2,de:2,pt:2")
    for role in ("treatment", "outcome", "unit", "time", "covariate", "exclude"):
        assert dictionary.roles[role], role
    with pytest.raises(MappingError, match="no synonym dictionary"):
        load_synonyms("xx")


def test_customers_layout() -> None:
    result = infer_roles(customers())

    assert result.roles.treatment == "received_coupon"
    assert result.roles.outcome == "spend_next_90d"
    assert result.roles.unit == "customer_id"
    assert result.roles.time is None
    assert result.roles.covariates == [
        "age",
        "income",
        "tenure_months",
        "prior_purchases",
        "region",
    ]
    assert result.roles.excluded == []
    assert result.needs_confirmation is False
    assert result.design == "observational"

    treatment = assignment(result, "received_coupon")
    assert treatment.role == "treatment"
    assert treatment.source == "inferred"
    assert treatment.confidence >= 0.8
    assert "coupon" in treatment.reason and "binary 0/1" in treatment.reason
    assert assignment(result, "spend_next_90d").confidence >= 0.8
    assert {a.column for a in result.assignments} == set(customers().columns)


def test_customers_layout_read_back_from_csv(tmp_path) -> None:
    path = tmp_path / "customers.csv"
    customers().to_csv(path, index=False)
    result = infer_roles(pd.read_csv(path))
    assert (result.roles.treatment, result.roles.outcome) == ("received_coupon", "spend_next_90d")
    assert not result.needs_confirmation


@pytest.mark.parametrize(
    ("treatment", "outcome"),
    [("treatment", "outcome"), ("d", "y"), ("treat", "response"), ("W_treated", "Y_outcome")],
)
def test_classic_names(treatment: str, outcome: str) -> None:
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {
            "x1": rng.normal(size=N),
            outcome: rng.normal(size=N),
            "x2": rng.normal(size=N),
            treatment: rng.integers(0, 2, N),
            "x3": rng.integers(0, 5, N),
        }
    )
    result = infer_roles(df)
    assert (result.roles.treatment, result.roles.outcome) == (treatment, outcome)
    assert result.roles.covariates == ["x1", "x2", "x3"]
    assert not result.needs_confirmation


def test_camel_case_names() -> None:
    rng = np.random.default_rng(2)
    df = pd.DataFrame(
        {
            "userId": [f"u{i}" for i in range(N)],
            "customerAge": rng.integers(18, 70, N),
            "isFemale": rng.integers(0, 2, N),
            "isTreated": rng.choice([True, False], N),
            "totalRevenue": rng.gamma(2.0, 3.0, N),
        }
    )
    result = infer_roles(df)
    assert result.roles.treatment == "isTreated"
    assert result.roles.outcome == "totalRevenue"
    assert result.roles.unit == "userId"
    assert result.roles.covariates == ["customerAge", "isFemale"]


@pytest.mark.parametrize(
    "treatment", ["coupon", "received_offer", "discount", "promo", "campaign", "exposed"]
)
def test_a_named_treatment_beats_a_generic_binary(treatment: str) -> None:
    rng = np.random.default_rng(4)
    df = pd.DataFrame(
        {
            "is_female": rng.integers(0, 2, N),
            "has_children": rng.integers(0, 2, N),
            treatment: rng.integers(0, 2, N),
            "age": rng.integers(18, 70, N),
        }
    )
    df["sales"] = rng.gamma(2.0, 3.0, N)
    result = infer_roles(df)
    assert result.roles.treatment == treatment
    assert result.roles.outcome == "sales"
    assert "is_female" in result.roles.covariates
    assert not result.needs_confirmation


@pytest.mark.parametrize("outcome", ["revenue", "spend", "sales", "conversion", "outcome"])
def test_outcome_names_lean_to_outcome(outcome: str) -> None:
    rng = np.random.default_rng(5)
    df = pd.DataFrame(
        {
            "income": rng.normal(50_000, 10_000, N),
            outcome: rng.normal(100, 10, N),
            "treated": rng.integers(0, 2, N),
            "age": rng.integers(18, 70, N),
        }
    )
    result = infer_roles(df)
    assert result.roles.outcome == outcome
    assert result.roles.covariates == ["income", "age"]


def test_binary_outcome_next_to_binary_treatment() -> None:
    rng = np.random.default_rng(6)
    df = pd.DataFrame(
        {
            "converted": rng.integers(0, 2, N),
            "exposed": rng.integers(0, 2, N),
            "device": rng.choice(["ios", "android", "web"], N),
        }
    )
    result = infer_roles(df)
    assert (result.roles.treatment, result.roles.outcome) == ("exposed", "converted")
    assert result.roles.covariates == ["device"]


def test_two_level_text_treatment() -> None:
    rng = np.random.default_rng(8)
    df = pd.DataFrame(
        {
            "group": rng.choice(["control", "treatment"], N),
            "score": rng.normal(size=N),
            "segment": rng.choice(["a", "b", "c"], N),
        }
    )
    result = infer_roles(df)
    assert result.roles.treatment == "group"
    assert "treatment/control" in assignment(result, "group").reason


def test_a_column_of_three_arms_is_the_treatment() -> None:
    rng = np.random.default_rng(9)
    df = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(N)],
            "variant": rng.choice(["A", "B", "C"], N),
            "spend": rng.normal(size=N),
            "age": rng.normal(40, 10, N),
        }
    )
    result = infer_roles(df)
    assert result.roles.treatment == "variant"
    assert "3 experiment arms (A, B, C)" in assignment(result, "variant").reason
    assert not result.needs_confirmation


def test_a_named_binary_treatment_beats_a_lettered_segment() -> None:
    rng = np.random.default_rng(10)
    df = pd.DataFrame(
        {
            "treated": rng.integers(0, 2, N),
            "segment": rng.choice(["a", "b", "c"], N),
            "revenue": rng.normal(size=N),
        }
    )
    result = infer_roles(df)
    assert result.roles.treatment == "treated"
    assert result.roles.covariates == ["segment"]


def test_panel_layout() -> None:
    result = infer_roles(panel())
    assert result.roles.treatment == "treated"
    assert result.roles.outcome == "y"
    assert result.roles.unit == "unit"
    assert result.roles.time == "year"
    assert result.roles.covariates == []
    assert result.design == "panel"
    assert not result.needs_confirmation


def test_panel_with_dates_and_text_units() -> None:
    rng = np.random.default_rng(9)
    stores = np.repeat([f"store-{i:02d}" for i in range(40)], 6)
    months = np.tile([f"2024-{m:02d}-01" for m in range(1, 7)], 40)
    df = pd.DataFrame(
        {
            "store": stores,
            "month_start": months,
            "promo": rng.integers(0, 2, 240),
            "revenue": rng.gamma(3.0, 100.0, 240),
            "size_sqm": np.repeat(rng.integers(100, 900, 40), 6),
        }
    )
    result = infer_roles(df)
    assert (result.roles.unit, result.roles.time) == ("store", "month_start")
    assert result.design == "panel"
    assert result.roles.covariates == ["size_sqm"]


def test_unit_and_time_without_repeats_is_not_a_panel() -> None:
    df = customers()
    df["signup_date"] = pd.date_range("2020-01-01", periods=len(df), freq="D")
    result = infer_roles(df)
    assert result.roles.time == "signup_date"
    assert result.roles.unit == "customer_id"
    assert result.design == "observational"


def test_constant_id_and_text_columns_are_excluded() -> None:
    rng = np.random.default_rng(10)
    df = customers()
    df["row_number"] = np.arange(len(df))
    df["account_key"] = rng.permutation(len(df)) + 10_000
    df["country"] = "NL"
    df["comment"] = [f"customer {i} said the delivery was late again" for i in range(len(df))]
    df["city"] = [f"city-{i % 120}" for i in range(len(df))]
    df["empty"] = np.nan
    result = infer_roles(df)

    assert result.roles.covariates == [
        "age",
        "income",
        "tenure_months",
        "prior_purchases",
        "region",
    ]
    assert result.roles.excluded == [
        "row_number",
        "account_key",
        "country",
        "comment",
        "city",
        "empty",
    ]
    assert "constant" in assignment(result, "country").reason
    assert "high-cardinality" in assignment(result, "city").reason
    assert all(assignment(result, c).role == "exclude" for c in result.roles.excluded)


def test_a_second_outcome_like_column_is_not_a_covariate() -> None:
    df = customers()
    df["spend_next_30d"] = df["spend_next_90d"] / 3 + np.random.default_rng(1).normal(0, 1, len(df))
    result = infer_roles(df)
    assert "spend_next_30d" not in result.roles.covariates
    assert "post-treatment" in assignment(result, "spend_next_30d").reason


def test_ambiguous_data_needs_confirmation() -> None:
    rng = np.random.default_rng(11)
    df = pd.DataFrame(
        {
            "a": rng.integers(0, 2, N),
            "b": rng.integers(0, 2, N),
            "c": rng.normal(size=N),
            "e": rng.normal(size=N),
        }
    )
    result = infer_roles(df)
    assert result.needs_confirmation
    treatment = assignment(result, result.roles.treatment or "")
    assert treatment.confidence < 0.6
    assert treatment.alternatives
    assert any("please confirm" in note for note in result.notes)


def test_no_treatment_candidate_needs_confirmation() -> None:
    rng = np.random.default_rng(12)
    df = pd.DataFrame({"revenue": rng.normal(size=N), "region": rng.choice(["north", "south", "east"], N)})
    result = infer_roles(df)
    assert result.roles.treatment is None
    assert result.needs_confirmation
    assert any("no column looks like the treatment" in note for note in result.notes)


def test_threshold_controls_confirmation() -> None:
    assert not infer_roles(customers(), confidence_threshold=0.6).needs_confirmation
    assert infer_roles(customers(), confidence_threshold=0.99).needs_confirmation


def test_overrides_win_and_move_columns_out_of_covariates() -> None:
    result = infer_roles(customers(), {"treatment": "prior_purchases", "unit": "customer_id"})
    assert result.roles.treatment == "prior_purchases"
    assert "prior_purchases" not in result.roles.covariates
    treatment = assignment(result, "prior_purchases")
    assert (treatment.role, treatment.confidence, treatment.source) == (
        "treatment",
        1.0,
        "override",
    )
    assert result.roles.outcome == "spend_next_90d"
    # The coupon lost its role, so it is now an ordinary (binary) covariate.
    assert "received_coupon" in result.roles.covariates


def test_override_covariates_and_instrument() -> None:
    df = customers()
    df["z"] = np.random.default_rng(13).integers(0, 2, len(df))
    result = infer_roles(df, {"instrument": "z", "covariates": ["age", "region"]})
    assert result.roles.instrument == "z"
    assert result.roles.covariates == ["age", "region"]
    assert set(result.roles.excluded) == {"income", "tenure_months", "prior_purchases"}
    assert assignment(result, "age").source == "override"
    assert (result.roles.treatment, result.roles.outcome) == ("received_coupon", "spend_next_90d")


def test_a_stated_pre_treatment_outcome_stays_a_covariate() -> None:
    result = infer_roles(customers(), {"pre_outcome": "prior_purchases"})
    assert result.roles.pre_outcome == "prior_purchases"  # the placebo-outcome refuter's outcome
    assert "prior_purchases" in result.roles.covariates
    assert (result.roles.treatment, result.roles.outcome) == ("received_coupon", "spend_next_90d")
    with pytest.raises(MappingError, match="no such column"):
        infer_roles(customers(), {"pre_outcome": "last_year"})


@pytest.mark.parametrize(
    ("outcome", "covariates", "expected"),
    [
        ("re78", ["age", "re74", "re75", "educ"], "re75"),  # LaLonde: the latest earlier year
        ("spend_2021", ["spend_2019", "spend_2020", "age"], "spend_2020"),
        ("y", ["x1", "y_pre"], "y_pre"),
        ("sales", ["baseline_sales", "region"], "baseline_sales"),
        ("Revenue", ["lag_revenue"], "lag_revenue"),
        ("re78", ["re79", "age"], None),  # later, not earlier
        ("score", ["score_math", "age"], None),
        ("y", ["x1", "x2"], None),
    ],
)
def test_a_pre_treatment_outcome_is_found_by_its_name(
    outcome: str, covariates: list[str], expected: str | None
) -> None:
    assert earlier_outcome(outcome, covariates) == expected


def test_inferred_pre_outcome_in_a_cross_section() -> None:
    df = customers()
    rng = np.random.default_rng(3)  # last quarter's spending: related to age, not a copy of y
    df["pre_spend_next_90d"] = 3 * df["age"] + rng.normal(scale=10, size=len(df))
    result = infer_roles(df)
    assert result.roles.outcome == "spend_next_90d"
    assert result.roles.pre_outcome == "pre_spend_next_90d"


def test_override_unknown_column_lists_available_columns() -> None:
    with pytest.raises(MappingError) as raised:
        infer_roles(customers(), {"treatment": "coupon_sent"})
    message = str(raised.value)
    assert "'coupon_sent'" in message
    assert "'received_coupon'" in message and "'spend_next_90d'" in message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"covariates": ["age", "nope"]}, "no such column"),
        ({"dose": "age"}, "unknown role 'dose'"),
        ({"treatment": "age", "outcome": "age"}, "both"),
        ({"treatment": "age", "covariates": ["age"]}, "cannot also be a covariate"),
        ({"treatment": ["age", "income"]}, "takes one column"),
    ],
)
def test_invalid_overrides(overrides: dict[str, str | list[str]], expected: str) -> None:
    with pytest.raises(MappingError, match=expected):
        infer_roles(customers(), overrides)


def test_unusable_datasets_raise() -> None:
    with pytest.raises(MappingError, match="no columns"):
        infer_roles(pd.DataFrame())
    with pytest.raises(MappingError, match="no rows"):
        infer_roles(customers().head(0))


def test_arrow_backed_frame_from_parquet(tmp_path) -> None:
    path = tmp_path / "customers.parquet"
    customers().to_parquet(path)
    result = infer_roles(pd.read_parquet(path, dtype_backend="pyarrow"))
    assert (result.roles.treatment, result.roles.outcome) == ("received_coupon", "spend_next_90d")
    assert result.roles.unit == "customer_id"


def test_deterministic_and_independent_of_row_order() -> None:
    df = customers()
    first, second = infer_roles(df), infer_roles(df.copy())
    assert first == second
    shuffled = infer_roles(df.sample(frac=1.0, random_state=0).reset_index(drop=True))
    assert shuffled.roles == first.roles
    assert shuffled.assignments == first.assignments


def test_input_frame_is_not_modified() -> None:
    df = customers()
    before = df.copy()
    infer_roles(df, {"treatment": "received_coupon"})
    pd.testing.assert_frame_equal(df, before)


def test_treated_level_and_reference_level_overrides_state_the_coding() -> None:
    rng = np.random.default_rng(11)
    two = pd.DataFrame({"version": rng.choice(["new", "old"], N), "sales": rng.normal(size=N)})
    assert infer_roles(two, {"treatment": "version"}).roles.treatment_coding == {"new": 0, "old": 1}
    flipped = infer_roles(two, {"treatment": "version", "treated_level": "new"})
    assert flipped.roles.treatment_coding == {"old": 0, "new": 1}
    assert infer_roles(two, {"treatment": "version", "reference_level": "old"}).roles.treatment_coding == {
        "old": 0,
        "new": 1,
    }
    arms = pd.DataFrame({"variant": rng.choice(["A", "B", "C"], N), "sales": rng.normal(size=N)})
    assert infer_roles(arms, {"reference_level": "B"}).roles.treatment_coding == {"B": 0}
    with pytest.raises(MappingError, match="treated_level needs a two-level treatment"):
        infer_roles(arms, {"treated_level": "B"})
    with pytest.raises(MappingError, match=r"reference_level 'Z' is not a level of the treatment 'variant'"):
        infer_roles(arms, {"reference_level": "Z"})
