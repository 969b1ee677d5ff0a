"""spatial_spillover: direct and spillover effects with Conley standard errors, on simulated towns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.base import clone
from sklearn.metrics.pairwise import haversine_distances
from sklearn.neighbors import BallTree

from cqox_estimator.estimators import EstimationError, spatial
from cqox_estimator.estimators.spatial import (
    EARTH_RADIUS_KM,
    SpatialSpillover,
    conley_meat,
    neighbour_pairs,
    spatial_exposure,
)
from cqox_estimator.simulation import spatial_units

COVARIATES = ["x1", "x2"]


def fit(frame: pd.DataFrame, **params: object) -> SpatialSpillover:
    return SpatialSpillover(**params).fit(  # type: ignore[arg-type]
        frame["y"],
        frame["treated"],
        X=frame[COVARIATES],
        latitude=frame["latitude"],
        longitude=frame["longitude"],
    )


def dense_distances(frame: pd.DataFrame) -> np.ndarray:
    coords = np.radians(frame[["latitude", "longitude"]].to_numpy())
    return haversine_distances(coords) * EARTH_RADIUS_KM


def test_recovers_direct_and_spillover_where_the_naive_estimate_is_biased() -> None:
    frame = spatial_units(10_000, seed=3)
    est = fit(frame, radius_km=5.0)
    d = est.diagnostics_
    lower, upper = est.ate_interval()
    assert lower < 1.5 < upper
    assert est.ate_ == pytest.approx(1.5, abs=0.12)
    assert d["spillover_ci_lower"] < 0.8 < d["spillover_ci_upper"]  # type: ignore[operator]
    assert d["spillover_p_value"] < 0.01  # type: ignore[operator]
    # Treatment is clustered by town, so the coefficient on t without exposure absorbs spillover.
    naive = d["no_spillover_estimate"]
    assert isinstance(naive, float) and naive > upper + 0.05
    assert d["corr_treatment_exposure"] > 0.2  # type: ignore[operator]
    assert (
        d["radius_km"] == 5.0 and d["radius_rule"] == "given" and d["conley_cutoff_km"] == 10.0
    )  # twice the radius
    assert d["n_no_neighbours"] > 0 and d["conley_fallback"] == "no"  # type: ignore[operator]
    assert est.dof_ is None and est.inference_.startswith("OLS with exposure; Conley")
    result = est.result()
    assert result.method == "spatial_spillover" and result.estimand == "ATE" and result.n == 10_000
    assert result.diagnostics["spillover_effect"] == d["spillover_effect"]


def test_without_spillover_the_naive_and_direct_estimates_agree() -> None:
    frame = spatial_units(10_000, seed=4, spillover=0.0)
    d = fit(frame, radius_km=5.0).diagnostics_
    assert d["spillover_ci_lower"] < 0.0 < d["spillover_ci_upper"]  # type: ignore[operator]
    assert abs(float(d["no_spillover_estimate"]) - 1.5) < 0.1  # type: ignore[arg-type]


def test_conley_exceeds_hc1_with_town_shocks_and_matches_it_without() -> None:
    clustered = fit(spatial_units(5000, seed=5), radius_km=5.0)
    d = clustered.diagnostics_
    assert clustered.ate_stderr_ > 1.1 * float(d["hc1_se"])  # type: ignore[arg-type]
    assert float(d["spillover_se"]) > 2 * float(d["hc1_spillover_se"])  # type: ignore[arg-type]
    independent = fit(spatial_units(5000, seed=5, town_shock=0.0), radius_km=5.0)
    d = independent.diagnostics_
    assert independent.ate_stderr_ == pytest.approx(float(d["hc1_se"]), rel=0.15)  # type: ignore[arg-type]
    assert float(d["spillover_se"]) == pytest.approx(float(d["hc1_spillover_se"]), rel=0.2)  # type: ignore[arg-type]


def test_exposure_matches_the_generator_and_a_dense_computation() -> None:
    frame = spatial_units(300, seed=6, units_per_town=20)
    coords = np.radians(frame[["latitude", "longitude"]].to_numpy())
    rows, cols, dist = neighbour_pairs(BallTree(coords, metric="haversine"), coords, 5.0)
    exposure, counts = spatial_exposure(frame["treated"].to_numpy(), rows, cols, dist, 5.0)
    np.testing.assert_allclose(exposure, frame["exposure"], atol=1e-12)
    within = (dense_distances(frame) <= 5.0) & ~np.eye(300, dtype=bool)
    np.testing.assert_array_equal(counts, within.sum(axis=1))
    treated_share = within @ frame["treated"].to_numpy() / np.maximum(within.sum(axis=1), 1)
    np.testing.assert_allclose(exposure, treated_share, atol=1e-12)


@pytest.mark.parametrize("kernel", ["bartlett", "uniform"])
def test_sparse_meat_and_standard_errors_equal_a_dense_computation(kernel: str) -> None:
    frame = spatial_units(280, seed=7, units_per_town=20)
    cutoff = 6.0
    est = fit(frame, radius_km=4.0, conley_cutoff_km=cutoff, conley_kernel=kernel)
    # Dense n x n: every pair, kernel from the full distance matrix.
    dist_km = dense_distances(frame)
    K = (dist_km <= cutoff) * (1.0 - dist_km / cutoff if kernel == "bartlett" else 1.0)
    t = frame["treated"].to_numpy(dtype=float)
    within = (dist_km <= 4.0) & ~np.eye(len(frame), dtype=bool)
    exposure = within @ t / np.maximum(within.sum(axis=1), 1)
    Z = np.column_stack([np.ones(len(frame)), t, exposure, frame[COVARIATES].to_numpy()])
    beta = np.linalg.solve(Z.T @ Z, Z.T @ frame["y"].to_numpy())
    scores = Z * (frame["y"].to_numpy() - Z @ beta)[:, None]
    dense_meat = scores.T @ K @ scores

    coords = np.radians(frame[["latitude", "longitude"]].to_numpy())
    rows, cols, dist = neighbour_pairs(BallTree(coords, metric="haversine"), coords, cutoff)
    sparse_meat = conley_meat(scores, rows, cols, dist, cutoff, kernel)
    np.testing.assert_allclose(sparse_meat, dense_meat, rtol=1e-10, atol=1e-10 * np.abs(dense_meat).max())

    n, p = Z.shape
    bread = np.linalg.inv(Z.T @ Z)
    covariance = bread @ dense_meat @ bread * n / (n - p)
    assert est.ate_ == pytest.approx(beta[1], rel=1e-10)
    assert est.ate_stderr_ == pytest.approx(math.sqrt(covariance[1, 1]), rel=1e-10)
    assert est.diagnostics_["spillover_effect"] == pytest.approx(beta[2], rel=1e-10)
    assert est.diagnostics_["spillover_se"] == pytest.approx(math.sqrt(covariance[2, 2]), rel=1e-10)


def test_a_cutoff_pairing_units_only_with_themselves_gives_statsmodels_hc1() -> None:
    frame = spatial_units(1500, seed=8)
    est = fit(frame, radius_km=5.0, conley_cutoff_km=1e-6, conley_kernel="uniform")
    Z = np.column_stack([np.ones(len(frame)), frame["treated"], frame["exposure"], frame[COVARIATES]])
    ols = sm.OLS(frame["y"].to_numpy(), Z).fit(cov_type="HC1")
    assert est.ate_stderr_ == pytest.approx(ols.bse[1], rel=1e-9)
    assert est.diagnostics_["hc1_se"] == pytest.approx(ols.bse[1], rel=1e-9)
    assert est.diagnostics_["spillover_se"] == pytest.approx(ols.bse[2], rel=1e-9)
    naive = sm.OLS(frame["y"].to_numpy(), np.delete(Z, 2, axis=1)).fit(cov_type="HC1")
    assert est.diagnostics_["no_spillover_estimate"] == pytest.approx(naive.params[1], rel=1e-9)
    assert est.diagnostics_["no_spillover_se"] == pytest.approx(naive.bse[1], rel=1e-9)


def test_default_radius_gives_the_median_unit_about_ten_neighbours() -> None:
    frame = spatial_units(2000, seed=9)
    est = fit(frame)
    d = est.diagnostics_
    assert d["radius_rule"].startswith("data-driven")  # type: ignore[union-attr]
    radius = float(d["radius_km"])  # type: ignore[arg-type]
    assert 0.5 < radius < 5.0 and d["conley_cutoff_km"] == 2 * radius
    counts = ((dense_distances(frame) <= radius).sum(axis=1) - 1).astype(float)
    assert np.median(counts) == pytest.approx(10, abs=1)
    assert d["median_neighbours"] == np.median(counts)


def test_large_samples_sample_the_default_radius(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spatial, "RADIUS_SAMPLE", 500)
    frame = spatial_units(3000, seed=10)
    sampled = float(fit(frame).diagnostics_["radius_km"])  # type: ignore[arg-type]
    monkeypatch.setattr(spatial, "RADIUS_SAMPLE", 5000)
    exact = float(fit(frame).diagnostics_["radius_km"])  # type: ignore[arg-type]
    assert sampled == pytest.approx(exact, rel=0.15)


def test_is_a_scikit_learn_estimator() -> None:
    est = clone(SpatialSpillover(radius_km=3.0, conley_kernel="uniform"))
    assert est.get_params() == {"radius_km": 3.0, "conley_cutoff_km": None, "conley_kernel": "uniform"}


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return spatial_units(200, seed=11, units_per_town=20)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"latitude": np.nan}, "latitude must not contain missing"),
        ({"latitude": 95.0}, r"latitude must lie in \[-90, 90\]"),
        ({"longitude": -181.0}, r"longitude must lie in \[-180, 180\]"),
    ],
)
def test_refuses_bad_coordinates(small: pd.DataFrame, change: dict[str, float], message: str) -> None:
    frame = small.copy()
    for column, value in change.items():
        frame.loc[3, column] = value
    with pytest.raises(EstimationError, match=message):
        fit(frame, radius_km=5.0)


def test_refuses_missing_coordinates_and_one_location(small: pd.DataFrame) -> None:
    with pytest.raises(EstimationError, match="needs the latitude of every row"):
        SpatialSpillover(radius_km=5.0).fit(small["y"], small["treated"], X=small[COVARIATES])
    with pytest.raises(EstimationError, match="one value per row"):
        SpatialSpillover().fit(
            small["y"], small["treated"], latitude=small["latitude"][:-1], longitude=small["longitude"]
        )
    same = small.assign(latitude=40.0, longitude=-3.0)
    with pytest.raises(EstimationError, match="same location"):
        fit(same)


def test_refuses_without_spillover_variation(small: pd.DataFrame) -> None:
    with pytest.raises(EstimationError, match="cannot separate spillovers"):
        fit(small, radius_km=1e-6)  # nobody has a neighbour
    # A radius covering everybody: exposure = (treated total - own t) / (n - 1), collinear with t.
    with pytest.raises(EstimationError, match="collinear"):
        fit(small, radius_km=20_000.0)
    # Treated units far from everyone: nobody has a treated neighbour.
    far = small.copy()
    far.loc[far["treated"] == 1, "latitude"] = np.linspace(-80, 80, int(far["treated"].sum()))
    with pytest.raises(EstimationError, match="no unit has a treated neighbour"):
        fit(far, radius_km=5.0)


def test_refuses_identical_exposure() -> None:
    # 40 units 1 km apart on a ring, treated in the pattern T T C C: within 1.5 km every unit sees
    # its two ring neighbours, one treated and one not, so every exposure is 0.5.
    angle = np.arange(40) * 2 * np.pi / 40
    ring_km = 40 / (2 * np.pi)
    lat, lon = ring_km * np.cos(angle) / 111.195, ring_km * np.sin(angle) / 111.195
    t = np.tile([1, 1, 0, 0], 10)
    y = np.random.default_rng(0).normal(size=40) + t
    with pytest.raises(EstimationError, match="same exposure"):
        SpatialSpillover(radius_km=1.5).fit(y, t, latitude=lat, longitude=lon)


def test_refuses_small_samples_bad_parameters_and_too_many_pairs(
    small: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(EstimationError, match="at least 30 rows"):
        fit(small.iloc[:25], radius_km=5.0)
    for params, message in (
        ({"radius_km": 0.0}, "radius_km must be a positive"),
        ({"conley_cutoff_km": float("nan")}, "conley_cutoff_km must be a positive"),
        ({"conley_kernel": "gaussian"}, "conley_kernel must be one of"),
    ):
        with pytest.raises(EstimationError, match=message):
            fit(small, **params)
    monkeypatch.setattr(spatial, "MAX_PAIRS", 1000)
    with pytest.raises(EstimationError, match="neighbour pairs"):
        fit(small, radius_km=50.0)


def test_the_radius_sensitivity_shows_how_much_the_answer_depends_on_the_radius() -> None:
    """Spillovers reach 5 km; the data-driven radius (~1.4 km) misses most of them: the spillover
    estimate moves a lot between half and twice that radius, which the report shows."""
    units = spatial_units(4000, 8, direct=1.5, spillover=0.8, radius_km=5.0)
    guessed = fit(units).diagnostics_
    assert float(guessed["radius_km"]) < 2.5  # type: ignore[arg-type]
    half, double = guessed["spillover_at_half_radius"], guessed["spillover_at_double_radius"]
    assert float(double) - float(half) > 0.2  # type: ignore[arg-type]
    text = str(guessed["radius_sensitivity"])
    assert text.startswith("from half to twice the radius") and f"{float(half):.3g}" in text  # type: ignore[arg-type]


def test_exposure_by_arm_counts_every_unit_and_the_exposed_controls_at_three_radii() -> None:
    frame = spatial_units(300, seed=6, units_per_town=20)
    d = fit(frame, radius_km=5.0).diagnostics_
    treated = frame["treated"].to_numpy() == 1
    dense = dense_distances(frame)
    for arm, mask in (("treated", treated), ("control", ~treated)):
        counts = [d[f"exposure_bin_{k}_{arm}"] for k in range(10)]
        # The generator's exposure is at 5 km: binned in tenths, 1.0 in the last bin.
        expected = np.bincount(np.minimum((frame["exposure"][mask] * 10).astype(int), 9), minlength=10)
        assert counts == expected.tolist()
    for name, radius in (("half", 2.5), ("chosen", 5.0), ("double", 10.0)):
        within = (dense <= radius) & ~np.eye(300, dtype=bool)
        exposed = (within[~treated] @ treated.astype(float)) > 0
        assert d[f"controls_exposed_at_{name}_radius"] == pytest.approx(exposed.mean())
