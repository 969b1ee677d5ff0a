"""The CATE summary against reference computations: OLS on standardised covariates, group means."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cqox_estimator.estimators.effects import N_DRIVERS, summarize_effects, top_drivers


def _data(seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(3000, 6)) * [1.0, 10.0, 0.1, 2.0, 5.0, 1.0] + [0, 100, -3, 0, 7, 0]
    X[:, 5] = 4.0  # a constant column is never a driver
    effects = 2.0 + 1.5 * X[:, 0] - 0.05 * X[:, 1] + 4.0 * X[:, 2] + rng.normal(scale=0.1, size=3000)
    return effects, X


def test_top_drivers_are_the_standardised_least_squares_coefficients() -> None:
    effects, X = _data()
    varying = [0, 1, 2, 3, 4]
    standardised = (X[:, varying] - X[:, varying].mean(axis=0)) / X[:, varying].std(axis=0)
    design = np.column_stack([np.ones(len(effects)), standardised])
    reference = np.linalg.lstsq(design, effects, rcond=None)[0][1:]
    expected = sorted(zip(varying, reference, strict=True), key=lambda item: -abs(item[1]))[:N_DRIVERS]
    drivers = top_drivers(effects, X)
    assert [j for j, _ in drivers] == [j for j, _ in expected] == [0, 1, 2]
    assert [w for _, w in drivers] == pytest.approx([w for _, w in expected], rel=1e-9)


def test_mean_by_quartile_matches_grouped_means() -> None:
    effects, X = _data()
    summary = summarize_effects(effects, X, [f"c{j}" for j in range(6)])
    quartile = pd.qcut(X[:, 0], 4, labels=False)
    expected = pd.Series(effects).groupby(quartile).mean().tolist()
    got = [summary[f"cate_by_c0_q{k}"] for k in range(1, 5)]
    assert got == pytest.approx(expected, rel=1e-9)


def test_no_drivers_for_constant_effects_or_covariates() -> None:
    effects, X = _data()
    assert top_drivers(np.full(len(effects), 3.0), X) == []
    assert top_drivers(effects, np.full((len(effects), 2), 1.0)) == []
