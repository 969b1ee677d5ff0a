"""PSM standard errors with the Abadie-Imbens (2016) adjustment for the estimated propensity."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cqox_estimator.estimators import PropensityScoreMatching
from cqox_estimator.simulation import confounded


def arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """y, t and the numeric covariates of a simulated frame."""
    return frame["y"].to_numpy(), frame["treated"].to_numpy(), frame[["x1", "x2"]].to_numpy()


def test_with_a_constant_effect_the_adjustment_would_shrink_the_se_so_it_is_not_taken() -> None:
    # d = E[Z f (tau(X) - ATT)] / p vanishes, leaving -c' I^-1 c <= 0.
    y, t, X = arrays(confounded(n=3000, seed=4))
    fitted = PropensityScoreMatching().fit(y, t, X=X)
    adjusted, known = (
        fitted.diagnostics_["se_propensity_adjusted"],
        fitted.diagnostics_["se_propensity_known"],
    )
    assert adjusted < known
    assert fitted.ate_stderr_ == known
    assert "estimated propensity" in fitted.inference_ and "se_ignores" not in fitted.diagnostics_


def strongly_heterogeneous(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Effect 1 + 3 x1 with x1 driving treatment: the adjustment's d-term dominates."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.uniform(-1, 1, n)
    t = (rng.random(n) < 1 / (1 + np.exp(-(x1 - 0.5 * x2)))).astype(int)
    y = 1 + (1 + 3 * x1) * t + 0.5 * x1 + 0.8 * x2 + rng.normal(size=n)
    return y, t, np.column_stack([x1, x2]), float((1 + 3 * x1[t == 1]).mean())


def test_when_the_estimated_propensity_adds_variance_the_se_grows_and_tracks_the_sd() -> None:
    draws, ses, grew = [], [], 0
    for seed in range(60):
        y, t, X, _ = strongly_heterogeneous(1000, 300 + seed)
        fitted = PropensityScoreMatching().fit(y, t, X=X)
        draws.append(fitted.ate_)
        ses.append(fitted.ate_stderr_)
        grew += fitted.ate_stderr_ > fitted.diagnostics_["se_propensity_known"]
    assert grew >= 40  # the positive d' I^-1 d term usually wins here
    assert 0.85 < np.mean(ses) / np.std(draws, ddof=1) < 1.2


def test_without_replacement_the_se_says_what_it_ignores() -> None:
    y, t, X = arrays(confounded(n=1500, seed=5))
    fitted = PropensityScoreMatching(replace=False).fit(y, t, X=X)
    assert fitted.ate_stderr_ == fitted.diagnostics_["se_propensity_known"]
    assert "assumes matching with replacement" in str(fitted.diagnostics_["se_ignores"])
