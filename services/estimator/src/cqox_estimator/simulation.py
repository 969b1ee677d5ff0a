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


def hidden_confounder(
    n: int = 2000, seed: int = 0, *, effect: float = 1.5, hidden: float = 1.0
) -> pd.DataFrame:
    """`confounded` plus a pre-treatment outcome `y_pre`, and a confounder u nobody measured.

    u raises the chance of treatment and both outcomes by `hidden` (0: no hidden confounding, so
    adjusting for x1, x2 and the segment is correct); `y_pre` is last period's outcome, which the
    treatment cannot have moved, so its 'effect' is zero unless u confounds the comparison.
    """
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.uniform(-1, 1, size=n)
    segment = rng.choice(["a", "b", "c"], size=n)
    shift = pd.Series(segment).map({"a": 0.0, "b": 0.5, "c": -0.5}).to_numpy()
    u = rng.normal(size=n)  # unobserved
    treated = (rng.random(n) < expit(0.8 * x1 - 0.6 * x2 + shift + hidden * u)).astype(int)
    base = 1.0 * x1 + 0.8 * x2 + 1.2 * shift + hidden * u
    y_pre = 0.5 + base + rng.normal(size=n)
    y = 1.0 + effect * treated + base + rng.normal(size=n)
    return pd.DataFrame({"treated": treated, "y": y, "y_pre": y_pre, "x1": x1, "x2": x2, "segment": segment})


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


def repeated_cross_sections(
    n: int = 2000, seed: int = 0, *, effect: float = 1.5, trend_x1: float = 0.5
) -> pd.DataFrame:
    """Two cross-sections (no unit id): group membership depends on x1 and so does the trend.

    y = 1 + x1 + 2 x2 + 0.5 D + post (1 + trend_x1 x1) + effect D post + e. With trend_x1 != 0
    plain DiD is biased (the treated group has higher x1, hence a steeper trend); conditioning
    on x1 (doubly robust DiD) recovers `effect`, the ATT.
    """
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.uniform(size=n)
    treated = (rng.uniform(size=n) < 1 / (1 + np.exp(-(0.3 + 0.8 * x1)))).astype(int)
    post = (rng.uniform(size=n) < 0.5).astype(int)
    y = 1 + x1 + 2 * x2 + 0.5 * treated + post * (1 + trend_x1 * x1) + effect * treated * post
    y = y + rng.normal(size=n)
    segment = rng.choice(["a", "b", "c"], size=n)
    return pd.DataFrame({"treated": treated, "post": post, "y": y, "x1": x1, "x2": x2, "segment": segment})


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


def synthetic_panel(
    n_donors: int = 30,
    n_periods: int = 30,
    adoption: int = 20,
    effect: float = 2.0,
    seed: int = 0,
    *,
    n_treated: int = 1,
    n_factors: int = 2,
    noise: float = 0.5,
    inside_hull: bool = True,
) -> pd.DataFrame:
    """A linear factor panel with 1-3 treated units inside the donors' convex hull, constant effect.

    With `inside_hull=False` the treated units' effects and loadings are drawn like the donors'
    (exchangeable units, the assumption behind placebo inference; no exact synthetic control).

    y_it = a_i + l_i'f_t + 0.05 t + e_it (+ `effect` from period `adoption` on for treated units).
    Donor unit effects a_i and loadings l_i are drawn at random; each treated unit's are a convex
    combination (Dirichlet weights) of five donors', so a synthetic control of the donors
    reproduces its noise-free path exactly. The factors are smooth AR(1) processes.
    """
    rng = np.random.default_rng(seed)
    factors = np.zeros((n_periods, n_factors))
    for s in range(1, n_periods):
        factors[s] = 0.8 * factors[s - 1] + rng.normal(scale=0.6, size=n_factors)
    donor_effect = rng.normal(scale=1.0, size=n_donors)
    donor_loading = rng.uniform(0.0, 2.0, size=(n_donors, n_factors))
    mix = np.zeros((n_treated, n_donors))
    for i in range(n_treated):
        chosen = rng.choice(n_donors, size=min(5, n_donors), replace=False)
        mix[i, chosen] = rng.dirichlet(np.ones(chosen.size))
    if inside_hull:
        unit_effect = np.concatenate([mix @ donor_effect, donor_effect])
        loading = np.vstack([mix @ donor_loading, donor_loading])
    else:
        unit_effect = np.concatenate([rng.normal(scale=1.0, size=n_treated), donor_effect])
        loading = np.vstack([rng.uniform(0.0, 2.0, size=(n_treated, n_factors)), donor_loading])
    n_units = n_treated + n_donors
    period = np.arange(n_periods)
    treated = np.zeros((n_units, n_periods), dtype=int)
    treated[:n_treated, adoption:] = 1
    y = (
        unit_effect[:, None]
        + loading @ factors.T
        + 0.05 * period[None, :]
        + effect * treated
        + rng.normal(scale=noise, size=(n_units, n_periods))
    )
    labels = [f"treated{i + 1}" for i in range(n_treated)] + [f"donor{j + 1:03d}" for j in range(n_donors)]
    return pd.DataFrame(
        {
            "unit": np.repeat(labels, n_periods),
            "period": np.tile(period, n_units),
            "treated": treated.reshape(-1),
            "y": y.reshape(-1),
        }
    )


def spatial_units(
    n: int = 2000,
    seed: int = 0,
    *,
    direct: float = 1.5,
    spillover: float = 0.8,
    radius_km: float = 5.0,
    town_shock: float = 1.0,
    rural_share: float = 0.1,
    units_per_town: int = 50,
) -> pd.DataFrame:
    """Units in towns on a lat/lon region, town-clustered treatment and spillovers within a radius.

    Towns (about `units_per_town` units each, spread 1.5 km around the centre) are placed
    uniformly on a square region near 40N 3W whose side grows with n (100 km at n = 2,000), so
    the density stays the same; a `rural_share` of units are scattered uniformly (some have no
    neighbour). Each town has a treatment propensity (logit normal with sd 1.5) and each unit's
    treatment also depends on x1, so treatment is spatially clustered and confounded by x1.
    exposure = share of the other units within `radius_km` (great-circle) that are treated
    (0 without neighbours), and

        y = 1 + direct * t + spillover * exposure + x1 + 0.5 x2 + town_shock * s_town + e,

    with s_town a standard-normal town-level shock (rural units: their own) and e i.i.d. normal:
    the errors are spatially correlated unless `town_shock` is 0.
    """
    from sklearn.neighbors import BallTree  # local: the other generators need no sklearn

    rng = np.random.default_rng(seed)
    side_km = 100.0 * np.sqrt(n / 2000)
    n_towns = max(2, round(n * (1 - rural_share) / units_per_town))
    rural = rng.random(n) < rural_share
    town = np.where(rural, -1, rng.integers(0, n_towns, size=n))
    centres = rng.uniform(0, side_km, size=(n_towns, 2))
    km = np.where(
        rural[:, None],
        rng.uniform(0, side_km, size=(n, 2)),
        centres[np.maximum(town, 0)] + rng.normal(scale=1.5, size=(n, 2)),
    )
    latitude = 40.0 + km[:, 1] / 111.195
    longitude = -3.0 + km[:, 0] / (111.195 * np.cos(np.radians(latitude)))

    x1 = rng.normal(size=n)
    x2 = rng.uniform(-1, 1, size=n)
    town_logit = rng.normal(scale=1.5, size=n_towns)
    unit_logit = np.where(rural, rng.normal(scale=1.5, size=n), town_logit[np.maximum(town, 0)])
    treated = (rng.random(n) < expit(unit_logit + 0.8 * x1)).astype(int)

    coords = np.radians(np.column_stack([latitude, longitude]))
    tree = BallTree(coords, metric="haversine")
    index = tree.query_radius(coords, r=radius_km / 6371.0088)
    exposure = np.zeros(n)
    for i, neighbours in enumerate(index):
        others = neighbours[neighbours != i]
        if others.size:
            exposure[i] = treated[others].mean()

    shock = np.where(rural, rng.normal(size=n), rng.normal(size=n_towns)[np.maximum(town, 0)])
    y = (
        1.0
        + direct * treated
        + spillover * exposure
        + x1
        + 0.5 * x2
        + town_shock * shock
        + rng.normal(size=n)
    )
    return pd.DataFrame(
        {
            "latitude": latitude,
            "longitude": longitude,
            "town": town,
            "treated": treated,
            "y": y,
            "x1": x1,
            "x2": x2,
            "exposure": exposure,
        }
    )


def nonlinear_effect(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """The unit effect of `nonlinear`: 1.5 + 0.6 x1 + 0.8 (x2^2 - 1/3), mean 1.5 over the design."""
    return 1.5 + 0.6 * x1 + 0.8 * (x2**2 - 1.0 / 3.0)


def _nonlinear_logit(x1: np.ndarray, x2: np.ndarray, shift: np.ndarray) -> np.ndarray:
    return 0.5 * x1 - 0.5 * x2 + 0.8 * x1 * x2 + shift


def nonlinear(n: int = 2000, seed: int = 0, *, randomised: bool = False) -> pd.DataFrame:
    """Nonlinear confounding and an effect that varies with the covariates (ATE 1.5).

    P(t = 1 | x) = expit(0.5 x1 - 0.5 x2 + 0.8 x1 x2 + segment shift): an interaction in the
    propensity. Baseline 1 + x1 + 0.8 x2 + 0.4 x1^2 + 0.8 sin(2 x1) + 0.6 x1 x2 + 1.2 shift +
    0.5 x3 (periodic, quadratic and interaction terms the linear models miss); effect `nonlinear_effect(x1, x2)`: linear in
    x1, quadratic in x2, 1.5 on average (the ATE); the ATT and ATO are larger (the treated have
    higher x1). x3 matters for the outcome only. Columns as `confounded`, plus x3 and the true
    unit effect `tau` (for benchmarks; never a covariate).
    """
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.uniform(-1, 1, size=n)
    x3 = rng.normal(size=n)
    segment = rng.choice(["a", "b", "c"], size=n)
    shift = pd.Series(segment).map({"a": 0.0, "b": 0.5, "c": -0.5}).to_numpy()
    propensity = np.full(n, 0.5) if randomised else expit(_nonlinear_logit(x1, x2, shift))
    treated = (rng.random(n) < propensity).astype(int)
    baseline = (
        1.0 + x1 + 0.8 * x2 + 0.4 * x1**2 + 0.8 * np.sin(2 * x1) + 0.6 * x1 * x2 + 1.2 * shift + 0.5 * x3
    )
    tau = nonlinear_effect(x1, x2)
    y = baseline + tau * treated + rng.normal(size=n)
    return pd.DataFrame(
        {"treated": treated, "y": y, "x1": x1, "x2": x2, "x3": x3, "segment": segment, "tau": tau}
    )


def nonlinear_truths(seed: int = 12_345, n: int = 2_000_000) -> dict[str, float]:
    """Population ATE, ATT and ATO of `nonlinear`, by Monte Carlo over `n` draws (SE < 0.001)."""
    frame = nonlinear(n, seed)
    rng = np.random.default_rng(seed)  # the same draws of x as `nonlinear(n, seed)`
    x1, x2 = rng.normal(size=n), rng.uniform(-1, 1, size=n)
    rng.normal(size=n)  # x3
    segment = rng.choice(["a", "b", "c"], size=n)
    shift = pd.Series(segment).map({"a": 0.0, "b": 0.5, "c": -0.5}).to_numpy()
    e = expit(_nonlinear_logit(x1, x2, shift))
    tau = frame["tau"].to_numpy()
    return {
        "ATE": 1.5,
        "ATT": float((e * tau).sum() / e.sum()),
        "ATO": float((e * (1 - e) * tau).sum() / (e * (1 - e)).sum()),
    }


def many_covariates(
    n: int = 2000, seed: int = 0, *, effect: float = 2.5, n_numeric: int = 52, overlap: str = "good"
) -> pd.DataFrame:
    """Many correlated numeric covariates on mixed scales and string categories, known ATE.

    Like the semi-synthetic benchmark files (ACIC 2016: 58 covariates, three of them text codes):
    `n_numeric` numeric columns n1.. driven by four common factors (pairwise correlations up to
    about 0.8), some on scales of thousands, some counts, some binary; three text categories c1
    (6 levels), c2 (16 levels, some rare) and c3 (5 levels). Treatment and outcome depend on a few
    of them nonlinearly; the effect varies (effect + 0.5 n1 on the standardised scale, mean
    `effect`). overlap="poor" makes the propensity steep, so many units have propensities near 0
    or 1 (few comparable counterparts). Column `tau` holds the true unit effects (not a covariate).
    """
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(n, 4))
    loadings = rng.uniform(-1.0, 1.0, size=(4, n_numeric))
    latent = factors @ loadings + rng.normal(scale=0.6, size=(n, n_numeric))
    latent = (latent - latent.mean(axis=0)) / latent.std(axis=0)
    columns: dict[str, np.ndarray] = {}
    for j in range(n_numeric):
        z = latent[:, j]
        if j % 7 == 3:
            columns[f"n{j + 1}"] = np.round(np.exp(8 + 0.5 * z))  # money, thousands
        elif j % 7 == 5:
            columns[f"n{j + 1}"] = rng.poisson(np.exp(0.5 + 0.4 * z)).astype(float)  # counts
        elif j % 7 == 6:
            columns[f"n{j + 1}"] = (z > 0.3).astype(float)  # flags
        else:
            columns[f"n{j + 1}"] = 10 * z + 50  # scores
    c1 = rng.choice(list("ABCDEF"), size=n, p=[0.3, 0.25, 0.2, 0.15, 0.07, 0.03])
    c2 = np.array([f"L{k:02d}" for k in rng.zipf(1.8, size=n).clip(1, 16)])
    c3 = np.where(
        factors[:, 0] + rng.normal(size=n) > 0, rng.choice(list("VW"), n), rng.choice(list("XYZ"), n)
    )
    z1, z2, z3 = latent[:, 0], latent[:, 1], latent[:, 2]
    steep = 2.5 if overlap == "poor" else 0.7
    logit = steep * (z1 - 0.5 * z2 + 0.4 * z1 * z3) + 0.4 * (c1 == "A") - 0.5 * (c3 == "X")
    treated = (rng.random(n) < expit(logit - 0.3)).astype(int)
    tau = effect + 0.5 * z1
    baseline = 3 * z1 + 2 * z2 + np.sin(2 * z3) + z2**2 + 1.5 * (c1 == "B") + 0.8 * (c2 == "L01")
    y = baseline + tau * treated + rng.normal(scale=2.0, size=n)
    frame = pd.DataFrame({"treated": treated, "y": y, **columns, "c1": c1, "c2": c2, "c3": c3, "tau": tau})
    return frame
