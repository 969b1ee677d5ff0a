"""Qini, TOC/RATE and calibration of a CATE ranking, judged on held-out folds with known effects."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from cqox_estimator.estimators.metalearners import SLearner, TLearner
from cqox_estimator.estimators.targeting import TARGETING_SHARES, targeting_curves


def heterogeneous(n: int, seed: int, *, slope: float = 2.0, noise_columns: int = 0) -> tuple[np.ndarray, ...]:
    """Randomised t; y = x0 + t (1 + slope x1) + noise: the true CATE is 1 + slope x1."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2 + noise_columns))
    t = (rng.random(n) < 0.5).astype(np.int64)
    tau = 1.0 + slope * X[:, 1]
    y = X[:, 0] + t * tau + rng.normal(size=n)
    return y, t, X, tau


def rows(d: dict[str, float | str | None], prefix: str, field: str, count: int) -> list[float]:
    """One field of the indexed rows `{prefix}_{k}_{field}`."""
    return [float(d[f"{prefix}_{k}_{field}"]) for k in range(count)]  # type: ignore[arg-type]


def test_the_curves_of_a_known_ranking_are_prefix_means_of_the_scores() -> None:
    cate = np.array([4.0, 3.0, 2.0, 1.0] * 5)
    scores = np.arange(20, dtype=float)[::-1].copy()  # the best-ranked unit has the largest score
    d = targeting_curves(cate, scores)
    assert d["targeting_0_share"] == 0.05
    # The top 5 % is one unit (score 19); the top 25 % the five with cate 4 (scores 19, 15, 11, 7, 3).
    assert d["targeting_0_qini"] == pytest.approx(19 / 20)
    assert d["targeting_4_toc"] == pytest.approx(np.mean([19, 15, 11, 7, 3]) - 9.5)
    last = len(TARGETING_SHARES) - 1
    assert d[f"targeting_{last}_qini"] == pytest.approx(scores.mean())  # everyone treated: the AIPW ATE
    assert d[f"targeting_{last}_toc"] == pytest.approx(0.0, abs=1e-12)
    # AUTOC is the mean over every prefix j of (mean of the top j) - mean.
    ranked = scores[np.argsort(-cate, kind="stable")]
    brute = np.mean([ranked[:j].mean() for j in range(1, 21)]) - ranked.mean()
    assert d["rate_autoc"] == pytest.approx(brute)
    # Five groups of four by ascending prediction: (1,1,1,1), (1,2,2,2), (2,2,3,3), (3,3,3,4), (4,4,4,4).
    assert [d[f"cate_group_{k}_predicted"] for k in range(5)] == [1.0, 1.75, 2.5, 3.25, 4.0]


def test_a_t_learner_ranking_recovers_the_true_targeting_gains_out_of_fold() -> None:
    y, t, X, tau = heterogeneous(4000, seed=0)
    d = TLearner(base_model="linear", n_bootstrap=20).fit(y, t, X=X).diagnostics_
    assert d["targeting_folds"] == 3.0
    # The top 20 % by predicted effect are those with the largest x1: their mean effect exceeds the
    # average by 2 E[x1 | x1 > z_0.8] = 2 phi(z_0.8) / 0.2.
    z = stats.norm.ppf(0.8)
    truth = 2 * stats.norm.pdf(z) / 0.2
    k = TARGETING_SHARES.index(0.2)
    assert abs(float(d[f"targeting_{k}_toc"]) - truth) < 4 * float(d[f"targeting_{k}_toc_se"])  # type: ignore[arg-type]
    # The AUTOC of the true ranking, on the true effects.
    order = np.argsort(-tau)
    true_autoc = np.mean(np.cumsum(tau[order]) / np.arange(1, tau.size + 1)) - tau.mean()
    assert abs(float(d["rate_autoc"]) - true_autoc) < 4 * float(d["rate_autoc_se"])  # type: ignore[arg-type]
    assert float(d["qini_coefficient"]) > 0
    observed = rows(d, "cate_group", "observed", 5)
    assert observed == sorted(observed)  # the measured effect rises with the predicted one
    assert float(d["targeting_19_qini"]) == pytest.approx(1.0, abs=0.15)  # the ATE


def test_without_heterogeneity_the_held_out_ranking_gains_nothing() -> None:
    """Twenty noise covariates: in sample an S-learner's effects vary, out of fold they do not pay."""
    autoc, se = [], []
    for seed in range(2):
        y, t, X, _ = heterogeneous(1200, seed=seed, slope=0.0, noise_columns=20)
        d = SLearner(base_model="linear", n_bootstrap=20).fit(y, t, X=X).diagnostics_
        autoc.append(float(d["rate_autoc"]))  # type: ignore[arg-type]
        se.append(float(d["rate_autoc_se"]))  # type: ignore[arg-type]
    assert all(abs(a) < 3 * s for a, s in zip(autoc, se, strict=True))


def test_too_few_rows_in_an_arm_are_noted_not_evaluated() -> None:
    y, t, X, _ = heterogeneous(200, seed=1)
    t[:] = 0
    t[:8] = 1
    d = TLearner(base_model="linear", n_bootstrap=20).fit(y, t, X=X).diagnostics_
    assert "targeting_0_share" not in d and "fewer than 12 rows" in str(d["targeting_note"])


@pytest.mark.parametrize(
    ("method", "params", "ranking"),
    [
        ("linear_dml", {}, "3-fold final stage on cross-fitted residuals"),
        (
            "causal_forest",
            {"n_estimators": 48, "outcome_model": "linear", "propensity_model": "linear"},
            "out-of-bag predictions",
        ),
    ],
)
def test_dml_rankings_are_judged_held_out_and_recover_the_true_targeting_gain(
    method: str, params: dict[str, object], ranking: str
) -> None:
    from cqox_estimator.estimators.dml import CausalForest, LinearDML

    y, t, X, _ = heterogeneous(1500, seed=2)
    estimator = LinearDML(**params) if method == "linear_dml" else CausalForest(**params)  # type: ignore[arg-type]
    d = estimator.fit(y, t, X=X).diagnostics_
    assert d["targeting_ranking"] == ranking
    z = stats.norm.ppf(0.8)
    k = TARGETING_SHARES.index(0.2)
    toc, se = float(d[f"targeting_{k}_toc"]), float(d[f"targeting_{k}_toc_se"])  # type: ignore[arg-type]
    assert abs(toc - 2 * stats.norm.pdf(z) / 0.2) < 4 * se
    assert float(d["rate_autoc"]) > 3 * float(d["rate_autoc_se"])  # type: ignore[arg-type]
