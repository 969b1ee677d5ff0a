"""Spatial spillovers: the direct effect of a unit's own treatment and the effect of its neighbours'.

Units carry point locations (latitude/longitude). A unit's exposure is the share of the other
units within `radius_km` (great-circle distance) that are treated; the outcome is regressed on
its own treatment, its exposure and the covariates, and the standard errors allow the errors of
nearby units to be correlated (Conley 1999). All neighbour work is sparse: a haversine BallTree
answers radius queries, so no n-by-n matrix is ever built.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from sklearn.neighbors import BallTree

from cqox_estimator.estimators.base import CausalEstimator, Diagnostics, FitSummary
from cqox_estimator.estimators.errors import EstimationError

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)
MIN_ROWS = 30
DEFAULT_NEIGHBOURS = 10  # the data-driven radius gives the median unit about this many neighbours
EXPOSURE_BINS = 10  # equal bins of the treated share of neighbours, 0 to 1, for the report
RADIUS_SAMPLE = 5000  # units whose k-nearest-neighbour distance sets the default radius
MAX_PAIRS = 20_000_000  # neighbour pairs held in memory (24 bytes each)
KERNELS = ("bartlett", "uniform")

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


def check_coordinates(latitude: FloatArray, longitude: FloatArray) -> FloatArray:
    """Latitude and longitude in degrees (present, one finite value per row: checked by `fit`)
    within range and not all at one place, as an (n, 2) radian array."""
    for name, array, bound in (("latitude", latitude, 90.0), ("longitude", longitude, 180.0)):
        if np.abs(array).max() > bound:
            raise EstimationError(
                f"the {name} must lie in [-{bound:g}, {bound:g}] degrees "
                f"(found {array[np.abs(array) > bound][0]:g}); are the columns swapped or projected?"
            )
    if np.ptp(latitude) == 0 and np.ptp(longitude) == 0:
        raise EstimationError("every unit is at the same location: there are no neighbours to compare")
    return np.radians(np.column_stack([latitude, longitude]))


def default_radius_km(tree: BallTree, coords: FloatArray, k: int = DEFAULT_NEIGHBOURS) -> float:
    """Median over units of the distance to the k-th nearest other unit (km).

    Within this radius the median unit has about k neighbours. Above `RADIUS_SAMPLE` units the
    median is taken over a fixed random sample of them (the neighbours still come from all)."""
    n = coords.shape[0]
    k = min(k, n - 1)
    sample = coords
    if n > RADIUS_SAMPLE:
        sample = coords[np.random.default_rng(0).choice(n, size=RADIUS_SAMPLE, replace=False)]
    distances, _ = tree.query(sample, k=k + 1)  # the first is the unit itself (distance 0)
    return float(np.median(distances[:, k])) * EARTH_RADIUS_KM


def neighbour_pairs(
    tree: BallTree, coords: FloatArray, radius_km: float
) -> tuple[IntArray, IntArray, FloatArray]:
    """Every ordered pair (i, j) with great-circle distance <= radius_km, self pairs included.

    Returns the row index i, the column index j and the distance in km, sorted by i."""
    n = coords.shape[0]
    radius = radius_km / EARTH_RADIUS_KM
    counts = tree.query_radius(coords, r=radius, count_only=True)
    total = int(np.asarray(counts, dtype=np.int64).sum())
    if total > MAX_PAIRS:
        raise EstimationError(
            f"a radius of {radius_km:.4g} km gives {total:,} neighbour pairs (at most {MAX_PAIRS:,} are "
            f"handled, on average {total / n:.0f} neighbours per unit); choose a smaller radius"
        )
    index, distance = tree.query_radius(coords, r=radius, return_distance=True)
    sizes = np.fromiter((len(a) for a in index), dtype=np.int64, count=n)
    rows = np.repeat(np.arange(n, dtype=np.int64), sizes)
    cols = np.concatenate(index).astype(np.int64) if n else np.empty(0, dtype=np.int64)
    dist = np.concatenate(distance) * EARTH_RADIUS_KM if n else np.empty(0)
    return rows, cols, dist


def spatial_exposure(
    t: ArrayLike, rows: IntArray, cols: IntArray, dist: FloatArray, radius_km: float
) -> tuple[FloatArray, IntArray]:
    """Share of the OTHER units within radius_km that are treated (0 when there are none), and
    how many other units each has within the radius."""
    t_arr = np.asarray(t, dtype=float)
    n = t_arr.shape[0]
    keep = (rows != cols) & (dist <= radius_km)
    counts = np.bincount(rows[keep], minlength=n).astype(np.int64)
    treated = np.bincount(rows[keep], weights=t_arr[cols[keep]], minlength=n)
    exposure = np.divide(treated, counts, out=np.zeros(n), where=counts > 0)
    return exposure, counts


def kernel_weights(dist: FloatArray, cutoff_km: float, kernel: str) -> FloatArray:
    """Conley kernel K(d): Bartlett 1 - d/cutoff or uniform 1 within the cutoff, 0 beyond."""
    inside = dist <= cutoff_km
    if kernel == "uniform":
        return inside.astype(float)
    return np.where(inside, np.clip(1.0 - dist / cutoff_km, 0.0, 1.0), 0.0)


def conley_meat(
    scores: FloatArray, rows: IntArray, cols: IntArray, dist: FloatArray, cutoff_km: float, kernel: str
) -> FloatArray:
    """sum_i sum_{j: d_ij <= cutoff} K(d_ij) s_i s_j' for scores s_i = x_i e_i, from the pairs.

    The pairs must include every i with itself (K(0) = 1) and both (i, j) and (j, i)."""
    n = scores.shape[0]
    weights = kernel_weights(dist, cutoff_km, kernel)
    keep = weights > 0
    W = sp.csr_matrix((weights[keep], (rows[keep], cols[keep])), shape=(n, n))
    meat = scores.T @ np.asarray(W @ scores)
    return np.asarray((meat + meat.T) / 2, dtype=float)


class SpatialSpillover(CausalEstimator):
    """Direct and spillover effects of a binary treatment for units with point locations.

    Model: y = a + direct * t + spillover * exposure + X b + e, fitted by OLS, where a unit's
    exposure is the share of the other units within `radius_km` (great-circle distance) that
    are treated (0 for a unit with no other unit within the radius). The ATE reported is the
    direct effect, the coefficient on t: the effect of a unit's own treatment holding its
    neighbours' treatment fixed. `spillover_effect` (diagnostic) is the effect on a unit of going
    from no treated neighbours to all neighbours treated; `no_spillover_estimate` is the
    coefficient on t without the exposure term, which absorbs part of the spillover when
    treatment is spatially clustered. Identification needs no unmeasured confounding of t and
    of the neighbours' treatment given X, linear and additive effects, and interference only
    through the treated share within the radius.

    Standard errors are Conley's (1999) spatial HAC: the OLS sandwich with the meat
    sum_i sum_j K(d_ij) x_i e_i e_j x_j' over pairs within `conley_cutoff_km`, times n/(n-p)
    (so a cutoff that pairs each unit only with itself reproduces HC1); the reference is normal.
    If the Conley variance of the direct or the spillover coefficient is not positive (a
    non-Bartlett kernel need not give a positive semi-definite meat), both fall back to HC1.
    The HC1 standard errors are reported for comparison. The spillover CI in the diagnostics is 95%.

    Coordinates are passed per row: `fit(y, t, X=X, latitude=..., longitude=...)` (degrees).

    Parameters
    ----------
    radius_km : float or None, default None
        Neighbourhood radius of the exposure, in km. None chooses it from the data: the median,
        over units, of the distance to the 10th nearest other unit, so that the median unit has
        about 10 neighbours (over a fixed sample of 5,000 units when there are more).
    conley_cutoff_km : float or None, default None
        Distance beyond which errors are taken as uncorrelated; None uses twice the exposure
        radius (errors correlated at the exposure radius alone under-covered: 80 % for the
        spillover at 2,000 units with shocks shared across towns; 94 % at twice the radius).
    conley_kernel : {"bartlett", "uniform"}, default "bartlett"
        Weight of a pair at distance d: 1 - d/cutoff (Bartlett) or 1 (uniform) within the cutoff.
    """

    method = "spatial_spillover"
    estimand = "ATE"
    design_roles = ("latitude", "longitude")

    def __init__(
        self,
        *,
        radius_km: float | None = None,
        conley_cutoff_km: float | None = None,
        conley_kernel: str = "bartlett",
    ) -> None:
        self.radius_km = radius_km
        self.conley_cutoff_km = conley_cutoff_km
        self.conley_kernel = conley_kernel

    def _check_params(self) -> None:
        for name in ("radius_km", "conley_cutoff_km"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise EstimationError(f"{name} must be a positive number of km or None, got {value!r}")
        if self.conley_kernel not in KERNELS:
            raise EstimationError(
                f"conley_kernel must be one of {', '.join(KERNELS)}, got {self.conley_kernel!r}"
            )

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        n = y.shape[0]
        if n < MIN_ROWS:
            raise EstimationError(f"spatial_spillover needs at least {MIN_ROWS} rows, got {n}")
        coords = check_coordinates(self.latitude_, self.longitude_)
        tree = BallTree(coords, metric="haversine")
        if self.radius_km is None:
            radius = default_radius_km(tree, coords)
            radius_rule = (
                f"data-driven: median distance to the {min(DEFAULT_NEIGHBOURS, n - 1)}th nearest unit"
            )
            if radius <= 0:
                raise EstimationError(
                    "more than half the units share their location with 10 or more others, so no "
                    "neighbourhood radius can be chosen from the data; set radius_km"
                )
        else:
            radius, radius_rule = float(self.radius_km), "given"
        cutoff = 2 * radius if self.conley_cutoff_km is None else float(self.conley_cutoff_km)
        # Pairs out to twice the radius: the Conley default and the radius sensitivity need them.
        rows, cols, dist = neighbour_pairs(tree, coords, max(2 * radius, cutoff))
        exposure, counts = spatial_exposure(t, rows, cols, dist, radius)
        if not (exposure > 0).any():
            raise EstimationError(
                f"no unit has a treated neighbour within {radius:.4g} km, so spatial_spillover cannot "
                "separate spillovers from the direct effect; try a larger radius_km"
            )
        if np.ptp(exposure) == 0:
            raise EstimationError(
                f"every unit has the same exposure ({exposure[0]:.3g}) within {radius:.4g} km, so "
                "spatial_spillover cannot separate spillovers from the intercept; try another radius_km"
            )

        Z = np.column_stack([np.ones(n), t.astype(float), exposure, X])
        p = Z.shape[1]
        if n <= p:
            raise EstimationError(f"spatial_spillover needs more rows ({n}) than coefficients ({p})")
        beta, _, rank, _ = np.linalg.lstsq(Z, y, rcond=None)
        if rank < p:
            raise EstimationError(
                "the treatment, the exposure and the covariates are collinear, so spatial_spillover "
                "cannot separate the direct effect from the spillover (e.g. treatment assigned by "
                "area with a radius that covers whole areas); try another radius_km"
            )
        residuals = y - Z @ beta
        bread = np.linalg.inv(Z.T @ Z)
        scores = Z * residuals[:, None]
        correction = n / (n - p)
        hc1 = bread @ (scores.T @ scores) @ bread * correction
        conley = (
            bread @ conley_meat(scores, rows, cols, dist, cutoff, self.conley_kernel) @ bread * correction
        )
        fell_back = not (conley[1, 1] > 0 and conley[2, 2] > 0)
        covariance = hc1 if fell_back else conley

        direct_se = math.sqrt(covariance[1, 1])
        spill, spill_se = float(beta[2]), math.sqrt(covariance[2, 2])
        z95 = float(stats.norm.ppf(0.975))
        naive, naive_se = _ols_hc1(y, np.column_stack([np.ones(n), t.astype(float), X]))
        within = counts[counts > 0]
        sensitivity = _radius_sensitivity(y, t, X, rows, cols, dist, radius, float(beta[1]), spill)
        kernel = f"{self.conley_kernel.capitalize()} kernel, cutoff {cutoff:.4g} km"
        inference = (
            f"OLS with exposure; HC1 (Conley SE not positive for {kernel}), normal"
            if fell_back
            else f"OLS with exposure; Conley spatial HAC ({kernel}), normal"
        )
        return FitSummary(
            ate=float(beta[1]),
            stderr=direct_se,
            inference=inference,
            dof=None,
            diagnostics={
                "spillover_effect": spill,
                "spillover_se": spill_se,
                "spillover_p_value": float(2 * stats.norm.sf(abs(spill / spill_se))),
                "spillover_ci_lower": spill - z95 * spill_se,
                "spillover_ci_upper": spill + z95 * spill_se,
                "no_spillover_estimate": naive,
                "no_spillover_se": naive_se,
                "hc1_se": math.sqrt(hc1[1, 1]),
                "hc1_spillover_se": math.sqrt(hc1[2, 2]),
                "conley_se": math.sqrt(conley[1, 1]) if conley[1, 1] > 0 else None,
                "conley_spillover_se": math.sqrt(conley[2, 2]) if conley[2, 2] > 0 else None,
                "conley_fallback": "yes: HC1 used" if fell_back else "no",
                "radius_km": radius,
                "radius_rule": radius_rule,
                "conley_cutoff_km": cutoff,
                "conley_kernel": self.conley_kernel,
                "n_no_neighbours": float((counts == 0).sum()),
                "median_neighbours": float(np.median(counts)),
                "mean_neighbours": float(counts.mean()),
                "mean_neighbours_with_any": float(within.mean()) if within.size else 0.0,
                "n_neighbour_pairs": float(rows.size - n),
                "exposure_mean": float(exposure.mean()),
                "exposure_sd": float(exposure.std()),
                "corr_treatment_exposure": float(np.corrcoef(t, exposure)[0, 1]),
                **sensitivity,
                **_exposure_by_arm(t, exposure, rows, cols, dist, radius),
                "assumption": (
                    "no unmeasured confounding of own and neighbours' treatment; additive effects; "
                    "interference only through the treated share within the radius"
                ),
            },
        )


def _exposure_by_arm(
    t: NDArray[np.int64],
    exposure: FloatArray,
    rows: NDArray[np.int64],
    cols: NDArray[np.int64],
    dist: FloatArray,
    radius: float,
) -> Diagnostics:
    """How exposure spreads within each arm, on every unit: counts of treated and control units
    per tenth of exposure at the chosen radius (`exposure_bin_{k}_{treated,control}`, bin k holds
    [k/10, (k+1)/10), the last 1 included) and the share of control units with any treated
    neighbour at half, the chosen and twice the radius (`controls_exposed_at_{...}_radius`)."""
    out: Diagnostics = {}
    bins = np.minimum((exposure * EXPOSURE_BINS).astype(int), EXPOSURE_BINS - 1)
    treated = t == 1
    for arm, mask in (("treated", treated), ("control", ~treated)):
        counts = np.bincount(bins[mask], minlength=EXPOSURE_BINS)
        for k, count in enumerate(counts):
            out[f"exposure_bin_{k}_{arm}"] = float(count)
    if (~treated).any():
        for name, scale in (("half", 0.5), ("chosen", 1.0), ("double", 2.0)):
            shares, _ = spatial_exposure(t, rows, cols, dist, scale * radius)
            out[f"controls_exposed_at_{name}_radius"] = float((shares[~treated] > 0).mean())
    return out


def _radius_sensitivity(
    y: FloatArray,
    t: NDArray[np.int64],
    X: FloatArray,
    rows: NDArray[np.int64],
    cols: NDArray[np.int64],
    dist: FloatArray,
    radius: float,
    direct: float,
    spillover: float,
) -> Diagnostics:
    """Direct and spillover estimates with the exposure radius halved and doubled, and their range.

    The radius is an assumption about how far interference reaches (the data-driven default is
    only a density heuristic), so the report shows how much the answer depends on it."""
    out: Diagnostics = {}
    directs, spillovers = [direct], [spillover]
    for label, factor in (("half", 0.5), ("double", 2.0)):
        exposure, _ = spatial_exposure(t, rows, cols, dist, factor * radius)
        Z = np.column_stack([np.ones(y.shape[0]), t.astype(float), exposure, X])
        beta, _, rank, _ = np.linalg.lstsq(Z, y, rcond=None)
        if rank < Z.shape[1] or np.ptp(exposure) == 0:
            continue
        out[f"direct_at_{label}_radius"] = float(beta[1])
        out[f"spillover_at_{label}_radius"] = float(beta[2])
        directs.append(float(beta[1]))
        spillovers.append(float(beta[2]))
    out["radius_sensitivity"] = (
        f"from half to twice the radius ({0.5 * radius:.3g}-{2 * radius:.3g} km): direct "
        f"{min(directs):.3g} to {max(directs):.3g}, spillover {min(spillovers):.3g} to "
        f"{max(spillovers):.3g}; set radius_km from how far spillovers can reach in the setting"
    )
    return out


def _ols_hc1(y: FloatArray, Z: FloatArray) -> tuple[float, float]:
    """Coefficient on column 1 of OLS y ~ Z and its HC1 standard error."""
    n, p = Z.shape
    beta = np.linalg.lstsq(Z, y, rcond=None)[0]
    bread = np.linalg.pinv(Z.T @ Z)
    scores = Z * (y - Z @ beta)[:, None]
    variance = (bread @ (scores.T @ scores) @ bread)[1, 1] * n / (n - p)
    return float(beta[1]), float(math.sqrt(max(variance, 0.0)))
