"""Simulated data with a known effect, for tests, the coverage study and benchmarks."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit


def confounded(
    n: int = 2000, seed: int = 0, *, effect: float = 1.5, randomised: bool = False, n_extra: int = 0
) -> pd.DataFrame:
    """Two numeric and one categorical confounder, a constant effect, optional noise covariates.

    Treatment depends on x1, x2 and the segment (unless `randomised`); so does the outcome.
    `n_extra` adds independent standard-normal covariates z1..zk that matter for neither.
    """
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.uniform(-1, 1, size=n)
    segment = rng.choice(["a", "b", "c"], size=n)
    shift = pd.Series(segment).map({"a": 0.0, "b": 0.5, "c": -0.5}).to_numpy()
    propensity = np.full(n, 0.5) if randomised else expit(0.8 * x1 - 0.6 * x2 + shift)
    treated = (rng.random(n) < propensity).astype(int)
    y = 1.0 + effect * treated + 1.0 * x1 + 0.8 * x2 + 1.2 * shift + rng.normal(size=n)
    frame = pd.DataFrame({"treated": treated, "y": y, "x1": x1, "x2": x2, "segment": segment})
    for j in range(n_extra):
        frame[f"z{j + 1}"] = rng.normal(size=n)
    return frame


def heterogeneous(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Effect 1 + x1 (so the ATE is 1), confounded through x1 and x2, with a unit id."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.uniform(-1, 1, size=n)
    segment = rng.choice(["a", "b", "c"], size=n)
    treated = (rng.random(n) < expit(0.6 * x1 - 0.5 * x2)).astype(int)
    y = 1.0 + (1.0 + x1) * treated + x1 + 0.8 * x2 + rng.normal(size=n)
    return pd.DataFrame(
        {
            "id": [f"u{i}" for i in range(n)],
            "treated": treated,
            "y": y,
            "x1": x1,
            "x2": x2,
            "segment": segment,
        }
    )


def staggered_panel(
    n_units: int = 500, n_periods: int = 20, seed: int = 0, *, n_extra: int = 0
) -> pd.DataFrame:
    """Units over periods, staggered adoption confounded by the unit effect, constant effect 1.5.

    Larger unit effects adopt earlier (periods 6, 10 or 14); a third never adopt. x1 and x2 vary
    over time; `n_extra` adds noise covariates z1..zk.
    """
    rng = np.random.default_rng(seed)
    unit_effect = rng.normal(size=n_units)
    cohort = np.select([unit_effect > 0.8, unit_effect > 0.0, unit_effect > -0.5], [6, 10, 14], n_periods)
    unit = np.repeat(np.arange(n_units), n_periods)
    period = np.tile(np.arange(n_periods), n_units)
    treated = (period >= cohort[unit]).astype(int)
    x1 = rng.normal(size=unit.size) + 0.5 * unit_effect[unit]
    x2 = rng.uniform(-1, 1, size=unit.size)
    y = 2 * unit_effect[unit] + 0.1 * period + 1.5 * treated + x1 + 0.8 * x2 + rng.normal(size=unit.size)
    frame = pd.DataFrame({"unit": unit, "period": period, "treated": treated, "y": y, "x1": x1, "x2": x2})
    for j in range(n_extra):
        frame[f"z{j + 1}"] = rng.normal(size=unit.size)
    return frame


def instrumented(n: int = 2000, seed: int = 0, *, effect: float = 1.5, strength: float = 1.0) -> pd.DataFrame:
    """A binary treatment confounded by an unobserved u, and a randomised binary instrument z.

    z raises the chance of treatment (by more with larger `strength`) and affects y only through
    it; the effect is constant, so the LATE is `effect`. Comparisons of treated and untreated
    rows are biased upwards by u (OLS on x1, x2 and the segment is too); IV is not.
    """
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.uniform(-1, 1, size=n)
    segment = rng.choice(["a", "b", "c"], size=n)
    shift = pd.Series(segment).map({"a": 0.0, "b": 0.5, "c": -0.5}).to_numpy()
    u = rng.normal(size=n)  # unobserved
    z = rng.integers(0, 2, size=n)
    treated = (rng.random(n) < expit(-0.5 + strength * 2.0 * z + 0.5 * x1 + 1.0 * u)).astype(int)
    y = 1.0 + effect * treated + 1.0 * x1 + 0.8 * x2 + 1.2 * shift + 1.5 * u + rng.normal(size=n)
    return pd.DataFrame({"treated": treated, "y": y, "x1": x1, "x2": x2, "segment": segment, "z": z})


def discontinuity(
    n: int = 2000, seed: int = 0, *, effect: float = 1.5, cutoff: float = 0.0, fuzzy: bool = False
) -> pd.DataFrame:
    """A running variable `score` with treatment switching on at `cutoff`, and a jump `effect`.

    Sharp: every row at or above the cutoff is treated. Fuzzy: the chance of treatment jumps
    from 0.2 to 0.8 there, so the jump in y divided by the jump in treatment is `effect`. y is
    smooth (cubic) in the score on both sides; x1, x2 and the segment are smooth at the cutoff.
    """
    rng = np.random.default_rng(seed)
    score = rng.uniform(-1, 1, size=n) + cutoff
    above = score >= cutoff
    treated = (rng.random(n) < np.where(above, 0.8, 0.2)).astype(int) if fuzzy else above.astype(int)
    x1 = rng.normal(size=n) + 0.5 * (score - cutoff)
    x2 = rng.uniform(-1, 1, size=n)
    segment = rng.choice(["a", "b", "c"], size=n)
    s = score - cutoff
    y = 1.0 + effect * treated + 0.8 * s - 0.6 * s**2 + 0.4 * s**3 + 0.5 * x1 + rng.normal(scale=0.5, size=n)
    return pd.DataFrame({"treated": treated, "y": y, "score": score, "x1": x1, "x2": x2, "segment": segment})
