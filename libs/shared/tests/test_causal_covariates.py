"""The shared covariate matrix, aliasing check and propensity model (estimator and gate use them)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cqox_shared.causal.covariates import CovariateError, aliased_columns, covariate_matrix
from cqox_shared.causal.propensity import propensity_scores


def test_aliased_columns_follow_column_order_like_r_lm() -> None:
    rng = np.random.default_rng(0)
    n = 500
    a, b = rng.normal(size=n), rng.normal(size=n)
    region = rng.integers(0, 3, n)
    dummies = np.column_stack([region == k for k in range(3)]).astype(float)
    design = np.column_stack([np.ones(n), a, b, a + 2 * b, dummies, 5 * a])
    # a + 2b (3), the last dummy (6: the three sum to the intercept) and 5a (7) are aliased.
    assert aliased_columns(design) == [3, 6, 7]


def test_aliased_columns_never_report_the_kept_leading_columns() -> None:
    n = 50
    x = np.arange(n, dtype=float)
    design = np.column_stack([np.ones(n), np.ones(n), x])
    assert aliased_columns(design, keep=2) == []
    assert aliased_columns(design, keep=1) == [1]


def test_aliased_columns_keep_nearly_but_not_exactly_collinear_columns() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    x = rng.normal(size=n)
    noisy = x + 1e-3 * rng.normal(size=n)  # r = 0.9999995: collinear in practice, not exactly
    assert aliased_columns(np.column_stack([np.ones(n), x, noisy])) == []


def test_covariate_matrix_codes_categories_drop_first_and_skips_constants() -> None:
    frame = pd.DataFrame({"age": [30.0, 40, 50, 60], "city": ["b", "a", "c", "a"], "one": [1, 1, 1, 1]})
    matrix = covariate_matrix({c: frame[c] for c in frame}, ["age", "city", "one"], 4)
    assert matrix.names == ["age", "city=b", "city=c"]
    assert matrix.constant == ["one"]
    assert matrix.X[:, 1].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_covariate_matrix_refuses_identifier_like_categories() -> None:
    ids = pd.Series([f"id{i}" for i in range(60)])
    with pytest.raises(CovariateError, match="60 categories"):
        covariate_matrix({"id": ids}, ["id"], 60)


def test_a_many_level_category_enters_as_fixed_effects() -> None:
    """A village listed as a covariate (Darfur: 486 villages, 1,276 rows) is fixed effects, not an
    identifier: one dummy per level but the first, so a regression compares within villages."""
    rng = np.random.default_rng(5)
    villages = np.repeat([f"v{k:03d}" for k in range(120)], 3)  # 120 levels, 3 rows each
    level_effect = dict(zip(sorted(set(villages)), rng.normal(0, 3, 120), strict=True))
    confounder = np.array([level_effect[v] for v in villages])
    t = (confounder + rng.normal(size=villages.size) > 0).astype(float)
    y = 0.5 * t + confounder + 0.1 * rng.normal(size=villages.size)
    frame = pd.DataFrame({"village": villages})
    matrix = covariate_matrix({"village": frame["village"]}, ["village"], len(frame))
    assert matrix.fixed_effects == ["village"] and matrix.X.shape == (360, 119)
    design = np.column_stack([np.ones(len(t)), t, matrix.X])
    beta = np.linalg.lstsq(design, y, rcond=None)[0]
    assert beta[1] == pytest.approx(0.5, abs=0.05)  # within villages the confounder is gone
    naive = np.polyfit(t, y, 1)[0]
    assert naive > 1.5  # without the fixed effects it is not


def test_propensity_scores_recover_a_logistic_model() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20_000, 1))
    truth = 1 / (1 + np.exp(-(0.5 + 1.5 * x[:, 0])))
    t = (rng.uniform(size=len(truth)) < truth).astype(np.int64)
    assert np.abs(propensity_scores(t, x) - truth).max() < 0.03


def test_a_sharp_rd_without_a_treatment_column_derives_it_from_the_cutoff() -> None:
    from cqox_contracts.v1 import RoleMapping
    from cqox_shared.causal.treatment import derive_treatment

    frame = pd.DataFrame({"margin": [-2.0, -0.1, 0.0, 3.0, None], "vote": [40.0, 49, 52, 60, 55]})
    roles = RoleMapping(outcome="vote", running_variable="margin", cutoff=0.0)
    derived, named, note = derive_treatment(frame, roles, "rd")
    assert named.treatment == "margin ≥ 0" and note is not None and "1(margin ≥ 0)" in note
    assert derived[named.treatment].tolist()[:4] == [0.0, 0.0, 1.0, 1.0]
    assert np.isnan(derived[named.treatment].iloc[4])
    # Other designs, or a treatment the user named (fuzzy RD), are left alone.
    assert derive_treatment(frame, roles, "observational")[2] is None
    given = roles.model_copy(update={"treatment": "vote"})
    assert derive_treatment(frame, given, "rd")[1] is given


def test_one_coding_function_reads_labels_numbers_and_booleans() -> None:
    from cqox_shared.causal.treatment import TreatmentCodingError, apply_coding

    codes, used = apply_coding(pd.Series(["はい", "いいえ", None, "はい"]), {"いいえ": 0, "はい": 1}, "t")
    assert np.array_equal(codes, [1.0, 0.0, np.nan, 1.0], equal_nan=True) and used == {"はい": 1, "いいえ": 0}
    codes, _ = apply_coding(pd.Series([1.0, 2.0, 2.0]), {"1": 0, "2": 1}, "t")  # numbers by value
    assert codes.tolist() == [0.0, 1.0, 1.0]
    codes, _ = apply_coding(pd.Series([True, False]), {"False": 0, "True": 1}, "t")
    assert codes.tolist() == [1.0, 0.0]
    with pytest.raises(TreatmentCodingError, match="'maybe' that the coding"):
        apply_coding(pd.Series(["yes", "maybe"]), {"no": 0, "yes": 1}, "t")
