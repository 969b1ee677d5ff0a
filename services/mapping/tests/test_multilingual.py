"""Names in eight languages, value evidence, later roles, cutoffs, leakage, designs, confirmation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cqox_mapping.domain import MappingResult, infer_roles
from cqox_mapping.names import LANGUAGES, load_synonyms, match_name, normalise_name

N = 400


def assignment(result: MappingResult, column: str):
    """The assignment of one column (every column has exactly one)."""
    (found,) = [a for a in result.assignments if a.column == column]
    return found


def supported(result: MappingResult) -> dict[str, bool]:
    """Design -> supported, from the result's design list."""
    return {d.design: d.supported for d in result.designs}


def japanese_panel(units: int = 40, months: int = 12, seed: int = 5) -> pd.DataFrame:
    """Stores observed monthly; half get the campaign from month 6 on."""
    rng = np.random.default_rng(seed)
    store = np.repeat([f"S{i:03d}" for i in range(units)], months)
    month = np.tile([f"2023-{m:02d}" for m in range(1, months + 1)], units)
    k = np.tile(np.arange(months), units)
    treated_store = np.repeat(rng.random(units) < 0.5, months)
    campaign = (treated_store & (k >= 6)).astype(int)
    sales = np.round(1000 + 50 * k + 120 * campaign + rng.normal(0, 30, units * months), 1)
    return pd.DataFrame(
        {
            "店舗ID": store,
            "年月": month,
            "キャンペーン配信": campaign,
            "売上高": sales,
            "従業員数": np.repeat(rng.integers(5, 40, units), months),
            "都道府県": np.repeat(rng.choice(["東京都", "大阪府", "愛知県"], units), months),
        }
    )


@pytest.mark.parametrize(
    ("name", "role", "language"),
    [
        ("キャンペーン配信", "treatment", "ja"),
        ("売上高", "outcome", "ja"),
        ("店舗ＩＤ", "unit", "ja"),
        ("発放优惠券", "treatment", "zh"),
        ("销售额", "outcome", "zh"),
        ("쿠폰_수령", "treatment", "ko"),
        ("매출액", "outcome", "ko"),
        ("recibio_descuento", "treatment", "es"),
        ("gasto_total", "outcome", "es"),
        ("Gutschein_erhalten", "treatment", "de"),
        ("UmsatzGesamt", "outcome", "de"),
        ("chiffre_d_affaires", "outcome", "fr"),
        ("recebeu_cupom", "treatment", "pt"),
        ("isTreated", "treatment", "en"),
        ("trt", "treatment", "en"),
        ("rev_amt", "outcome", "en"),
        ("order_dt", "time", "en"),
        ("distance_to_college", "instrument", "en"),
        ("緯度", "latitude", "ja"),
        ("Längengrad", "longitude", "de"),
    ],
)
def test_names_in_every_language(name: str, role: str, language: str) -> None:
    matches = match_name(normalise_name(name))
    best = max(matches, key=lambda r: matches[r].score)
    if name == "発放优惠券":  # mixed-script spelling still finds the coupon
        assert best == role
        return
    assert best == role, (name, {r: m.score for r, m in matches.items() if m.score})
    assert matches[role].language == language


def test_every_language_has_a_versioned_dictionary_with_the_core_roles() -> None:
    for language in LANGUAGES:
        dictionary = load_synonyms(language)
        assert dictionary.language == language and dictionary.version
        for role in ("treatment", "outcome", "unit", "time", "covariate", "exclude", "post", "region"):
            assert dictionary.roles[role], (language, role)
        assert dictionary.treatment_levels and dictionary.control_levels


def test_normalisation_handles_width_case_accents_and_scripts() -> None:
    assert normalise_name("ＣｕｓｔｏｍｅｒＩＤ") == ("customer", "id")
    assert normalise_name("店舗ID") == ("店舗", "id")
    assert normalise_name("キャンペーン") == ("キャンペーン",)  # voicing marks are not accents
    assert normalise_name("Maßnahme") == ("massnahme",)
    assert normalise_name("año_fiscal") == ("ano", "fiscal")


def test_japanese_panel_names_every_core_role_with_confidence() -> None:
    result = infer_roles(japanese_panel())

    assert result.roles.unit == "店舗ID"
    assert result.roles.time == "年月"
    assert result.roles.treatment == "キャンペーン配信"
    assert result.roles.outcome == "売上高"
    assert result.design == "panel"
    assert not result.needs_confirmation
    for role in ("unit", "time", "treatment", "outcome"):
        (found,) = [a for a in result.assignments if a.role == role]
        assert found.confidence >= 0.6, found
        assert found.language == "ja"
    assert result.roles.region == "都道府県"
    assert "都道府県" in result.roles.covariates  # an area is still a fair covariate
    assert supported(result)["panel"] and supported(result)["observational"]
    assert not supported(result)["rd"]


@pytest.mark.parametrize(
    ("levels", "treated"),
    [
        (("はい", "いいえ"), "はい"),
        (("yes", "no"), "yes"),
        (("B", "A"), "B"),
        (("sí", "no"), "sí"),
        (("ja", "nein"), "ja"),
        (("实验组", "对照组"), "实验组"),
    ],
)
def test_two_level_text_treatment_is_coded_0_1_and_says_so(levels: tuple[str, str], treated: str) -> None:
    rng = np.random.default_rng(2)
    arm = rng.integers(0, 2, N)
    df = pd.DataFrame(
        {
            "user_id": [f"U{i}" for i in range(N)],
            "group": np.where(arm == 1, levels[0], levels[1]),
            "revenue": rng.normal(10, 2, N) + arm,
        }
    )
    result = infer_roles(df)
    assert result.roles.treatment == "group"
    assert result.roles.treatment_coding == {levels[0]: 1, levels[1]: 0}
    assert assignment(result, "group").coding == {treated: 1, levels[1]: 0}
    assert "→1" in assignment(result, "group").reason


def test_ab_arms_make_an_experiment() -> None:
    rng = np.random.default_rng(3)
    arm = rng.integers(0, 2, N)
    df = pd.DataFrame(
        {
            "user_id": range(N),
            "variant": np.where(arm, "B", "A"),
            "converted": rng.random(N) < 0.1 + 0.05 * arm,
        }
    )
    df["spend"] = rng.gamma(2, 5, N)
    result = infer_roles(df, {"outcome": "spend"})
    assert result.design == "experiment"
    assert supported(result)["experiment"]


@pytest.mark.parametrize(
    ("values", "evidence"),
    [
        ([f"{2015 + k // 4}Q{k % 4 + 1}" for k in range(8)], "date-like"),
        ([f"2020-W{k + 1:02d}" for k in range(8)], "date-like"),
        ([f"2020年{k + 1}月" for k in range(8)], "date-like"),
        ([2015 + k for k in range(8)], "year"),
    ],
)
def test_quarters_weeks_japanese_months_and_years_are_time(values: list[object], evidence: str) -> None:
    rng = np.random.default_rng(4)
    units, periods = 30, len(values)
    k = np.tile(np.arange(periods), units)
    treated = ((np.repeat(np.arange(units), periods) < 15) & (k >= 4)).astype(int)
    df = pd.DataFrame(
        {
            "firm": np.repeat(np.arange(units), periods),
            "when": [values[i] for i in k],
            "treated": treated,
            "output": rng.normal(size=units * periods) + treated,
        }
    )
    result = infer_roles(df)
    assert result.roles.time == "when"
    assert evidence in assignment(result, "when").reason
    assert result.design == "panel"


@pytest.mark.parametrize(
    ("name", "cutoff", "scale"),
    [("vote_margin", 0.0, 0.1), ("vote_share", 0.5, 0.1), ("age", 21.0, 3.0), ("test_score", 60.0, 10.0)],
)
def test_running_variable_and_its_cutoff(name: str, cutoff: float, scale: float) -> None:
    rng = np.random.default_rng(6)
    x = cutoff + rng.normal(0, scale, N)
    treated = (x >= cutoff).astype(int)
    df = pd.DataFrame(
        {
            "id": range(N),
            name: np.round(x, 3),
            "treated": treated,
            "outcome": rng.normal(size=N) + 2 * treated + x / scale,
        }
    )
    result = infer_roles(df)
    assert result.roles.running_variable == name
    assert result.roles.cutoff == cutoff
    assert assignment(result, name).cutoff == cutoff
    assert result.design == "rd"
    assert "threshold" in assignment(result, name).reason


def test_unnamed_running_variable_found_from_values_alone() -> None:
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 100, N)
    treated = (x >= 40).astype(int)
    df = pd.DataFrame({"id": range(N), "x7": x, "treated": treated, "y": rng.normal(size=N) + treated})
    result = infer_roles(df)
    assert result.roles.running_variable == "x7"
    assert result.roles.cutoff == 40.0


def test_instrument_from_name_and_association() -> None:
    rng = np.random.default_rng(8)
    z = rng.gamma(2, 10, N)
    treated = (rng.random(N) < 0.7 - z / 100).astype(int)
    df = pd.DataFrame(
        {"id": range(N), "distance_to_college": z, "college": treated, "wage": rng.normal(size=N) + treated}
    )
    result = infer_roles(df, {"treatment": "college"})
    assert result.roles.instrument == "distance_to_college"
    assert result.design == "iv"


def test_leakage_constant_and_ids_are_excluded() -> None:
    rng = np.random.default_rng(9)
    treated = rng.integers(0, 2, N)
    revenue = rng.normal(100, 10, N) + 5 * treated
    df = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(N)],
            "treated": treated,
            "revenue": revenue,
            "revenue_eur": revenue * 0.92,
            "group_label": np.where(treated == 1, "promo", "none"),
            "coupon_redeemed_amount": np.where(treated == 1, rng.gamma(2, 3, N), 0.0),
            "country": "JP",
            "age": rng.integers(18, 80, N),
        }
    )
    result = infer_roles(df)
    assert result.roles.covariates == ["age"]
    assert "outcome" in assignment(result, "revenue_eur").reason
    assert "determine the treatment" in assignment(result, "group_label").reason
    assert "untreated" in assignment(result, "coupon_redeemed_amount").reason
    assert assignment(result, "country").reason.startswith("constant")
    assert assignment(result, "customer_id").role == "unit"


def test_post_period_and_cohort_columns() -> None:
    rng = np.random.default_rng(10)
    units, years = 30, 8
    unit = np.repeat(np.arange(units), years)
    year = np.tile(np.arange(2010, 2010 + years), units)
    first = np.repeat(np.where(np.arange(units) < 15, 2014, 0), years)
    post = (year >= 2014).astype(int)
    treated = ((first > 0) & post.astype(bool)).astype(int)
    df = pd.DataFrame(
        {
            "state": unit,
            "year": year,
            "treated": treated,
            "post": post,
            "first_treated": first,
            "earnings": rng.normal(size=units * years) + treated,
        }
    )
    result = infer_roles(df)
    assert result.roles.unit == "state" and result.roles.time == "year"
    assert result.roles.post == "post"
    assert result.roles.cohort == "first_treated"
    assert result.design == "panel"
    assert "DiD" in next(d.reason for d in result.designs if d.design == "panel")


def test_one_treated_unit_supports_synthetic_control() -> None:
    rng = np.random.default_rng(11)
    units, years = 20, 15
    unit = np.repeat([f"region{i}" for i in range(units)], years)
    year = np.tile(np.arange(2000, 2000 + years), units)
    treated = ((unit == "region0") & (year >= 2010)).astype(int)
    df = pd.DataFrame(
        {"region_id": unit, "year": year, "policy": treated, "gdp": rng.normal(size=units * years) + treated}
    )
    result = infer_roles(df)
    assert supported(result)["synthetic_control"]
    assert result.design == "synthetic_control"


def test_coordinates_support_a_geographic_design() -> None:
    rng = np.random.default_rng(12)
    df = pd.DataFrame(
        {
            "store_id": range(N),
            "lat": rng.uniform(30, 40, N),
            "lng": rng.uniform(130, 140, N),
            "treated": rng.integers(0, 2, N),
            "sales": rng.normal(size=N),
        }
    )
    result = infer_roles(df)
    assert result.roles.latitude == "lat" and result.roles.longitude == "lng"
    assert supported(result)["geographic"]
    assert result.design == "geographic"
    assert {"lat", "lng"} <= set(result.roles.covariates)


def test_uninformative_names_ask_for_confirmation_instead_of_guessing() -> None:
    rng = np.random.default_rng(13)
    df = pd.DataFrame(
        {
            "a": rng.integers(0, 2, N),
            "b": rng.integers(0, 2, N),
            "c": rng.normal(size=N),
            "d2": rng.normal(size=N),
        }
    )
    result = infer_roles(df)
    assert result.needs_confirmation
    assert any("please confirm" in note for note in result.notes)
    uncertain = [a for a in result.assignments if a.role in ("treatment", "outcome")]
    assert all(a.confidence < 0.6 for a in uncertain)
    assert all(a.alternatives for a in uncertain)
    assert all(a.column in a.scores for a in uncertain)


def test_a_confirmation_settles_the_mapping() -> None:
    rng = np.random.default_rng(14)
    df = pd.DataFrame({"a": rng.integers(0, 2, N), "b": rng.integers(0, 2, N), "c": rng.normal(size=N)})
    result = infer_roles(df, {"treatment": "b", "outcome": "c"}, confirmed=True)
    assert not result.needs_confirmation
    assert result.roles.treatment == "b" and result.roles.outcome == "c"
    assert assignment(result, "b").source == "override"


def test_cutoff_override_applies_to_the_running_variable() -> None:
    rng = np.random.default_rng(15)
    x = rng.uniform(0, 1, N)
    df = pd.DataFrame({"id": range(N), "score": x, "treated": (x > 0.3).astype(int), "y": rng.normal(size=N)})
    result = infer_roles(df, {"running_variable": "score", "cutoff": "0.3"})
    assert result.roles.running_variable == "score"
    assert result.roles.cutoff == 0.3


def test_a_covariate_list_is_taken_as_given() -> None:
    result = infer_roles(japanese_panel(), {"covariates": ["従業員数"]})
    assert result.roles.covariates == ["従業員数"]
    assert result.roles.region == "都道府県"
