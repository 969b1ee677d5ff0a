"""PSM standard errors with the Abadie-Imbens (2016) adjustment for the estimated propensity."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cqox_estimator.estimators import PropensityScoreMatching
from cqox_estimator.simulation import confounded, heterogeneous


def arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """y, t and the numeric covariates of a simulated frame."""
    return frame["y"].to_numpy(), frame["treated"].to_numpy(), frame[["x1", "x2"]].to_numpy()


def test_with_a_constant_effect_the_adjustment_shrinks_the_se() -> None:
    # d = E[Z f (tau(X) - ATT)] / p vanishes, leaving -c' I^-1 c <= 0.
    y, t, X = arrays(confounded(n=3000, seed=4))
    fitted = PropensityScoreMatching().fit(y, t, X=X)
    assert fitted.ate_stderr_ < fitted.diagnostics_["se_propensity_known"]
    assert "adjusted for the estimated propensity" in fitted.inference_
    assert "se_ignores" not in fitted.diagnostics_


def test_adjusted_se_tracks_the_sampling_sd_under_heterogeneous_effects() -> None:
    population = heterogeneous(n=400_000, seed=1)
    truth = float((1 + population["x1"][population["treated"] == 1]).mean())  # effect is 1 + x1
    draws, adjusted, known, covered = [], [], [], 0
    for seed in range(60):
        y, t, X = arrays(heterogeneous(n=1000, seed=300 + seed))
        fitted = PropensityScoreMatching().fit(y, t, X=X)
        draws.append(fitted.ate_)
        adjusted.append(fitted.ate_stderr_)
        known.append(fitted.diagnostics_["se_propensity_known"])
        lower, upper = fitted.ate_interval(alpha=0.05)
        covered += lower < truth < upper
    sd = float(np.std(draws, ddof=1))
    assert 0.8 < np.mean(adjusted) / sd < 1.25
    assert np.mean(adjusted) < np.mean(known)  # here the known-propensity SE is conservative
    assert covered >= 52  # binomial 5th percentile of 60 draws at 95 % is 54; allow for the SD's own noise


def test_without_replacement_the_se_says_what_it_ignores() -> None:
    y, t, X = arrays(confounded(n=1500, seed=5))
    fitted = PropensityScoreMatching(replace=False).fit(y, t, X=X)
    assert fitted.ate_stderr_ == fitted.diagnostics_["se_propensity_known"]
    assert "assumes matching with replacement" in str(fitted.diagnostics_["se_ignores"])
