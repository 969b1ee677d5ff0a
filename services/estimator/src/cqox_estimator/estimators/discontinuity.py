"""Regression discontinuity: local polynomial estimates at a cutoff with robust bias-corrected CIs."""

from __future__ import annotations

import contextlib
import io
import math
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cqox_contracts.v1 import Adjustment
from cqox_estimator.estimators.base import CausalEstimator, Diagnostics, FitSummary
from cqox_estimator.estimators.errors import EstimationError

KERNELS = ("triangular", "epanechnikov", "uniform")
BANDWIDTH_SELECTORS = (
    "mserd", "msetwo", "msesum", "msecomb1", "msecomb2",
    "cerrd", "certwo", "cersum", "cercomb1", "cercomb2",
)  # fmt: skip
POLYNOMIAL_ORDERS = (1, 2)
MIN_ROWS_PER_SIDE = 10  # rows needed on each side of the cutoff
PLACEBO_COVARIATES = 10  # covariate columns tested for a jump at the cutoff
ASSUMPTION = "no manipulation of the running variable; potential outcomes continuous at the cutoff"
PLOT_BINS_PER_SIDE = 15  # binned means of the outcome per side of the cutoff, for the RD plot
PLOT_WINDOW_BANDWIDTHS = 2.0  # the plot spans this many bandwidths on each side (or the data's reach)
PLOT_FIT_POINTS = {1: 2, 2: 9}  # points per side tracing the local polynomial fit, by order p
BANDWIDTH_GRID = (0.5, 0.75, 1.0, 1.5, 2.0)  # multiples of the chosen h (and b) re-fitted
PLACEBO_CUTOFF_QUANTILES = (1 / 3, 2 / 3)  # fake cutoffs at these quantiles of each side's rows


class RegressionDiscontinuity(CausalEstimator):
    """The jump in the outcome at a cutoff of the running variable, via `rdrobust`.

    Local polynomial regressions on each side of the cutoff, with the data-driven bandwidth and
    robust bias-corrected inference of Calonico, Cattaneo & Titiunik (2014) as implemented in
    the `rdrobust` package. Sharp design (treatment is exactly "running >= cutoff", or exactly
    "running < cutoff"): the effect at the cutoff. Fuzzy design (treatment probability jumps at
    the cutoff): the jump in the outcome over the jump in treatment, the effect for compliers
    at the cutoff. The estimate is the conventional local polynomial estimate; the CI and
    p-value are the robust bias-corrected ones (centred on the bias-corrected estimate, with
    the robust SE), the package's recommended inference. Diagnostics add a manipulation test
    of the running variable's density (`rddensity`) and placebo jumps of the covariates.

    RD plot data (flat diagnostics, drawn by the visualization service): outcome means in 15
    equal bins per side within `rd_plot_window_{left,right}` (2 h or the data's reach), keys
    `rd_plot_bin_{k}_{x,y,n}`, k = 0..14 left (far to near), 15..29 right (near to far), empty
    bins omitted; the kernel-weighted local polynomial fit of the outcome on each side within h,
    `rd_plot_fit_{left,right}_{j}_{x,y}`, j = 0 at the cutoff out to c -/+ h (2 points for p=1,
    9 for p=2). Without covariate adjustment, sharp: right_0_y - left_0_y is the jump rdrobust
    estimates (sign aside); fuzzy: the jump in the outcome (the estimate's numerator).

    Parameters
    ----------
    cutoff : float or None, default None
        Threshold of the running variable (rows at or above it are on the treated side).
        Required: set it in the mapping (`cutoff`) or as the option `cutoff`.
    kernel : {"triangular", "epanechnikov", "uniform"}, default "triangular"
        Kernel weighting rows by their distance from the cutoff.
    p : {1, 2}, default 1
        Order of the local polynomial (1: local linear, the recommended default).
    bwselect : str, default "mserd"
        rdrobust bandwidth selector ("mserd": one MSE-optimal bandwidth on both sides;
        "msetwo", "cerrd", ... as in rdrobust).
    covariate_adjustment : bool, default False
        Pass the covariates to rdrobust (`covs`) for covariate-adjusted local polynomial
        estimation (Calonico, Cattaneo, Farrell & Titiunik 2019): same estimand, usually
        narrower CIs, valid when the covariates do not jump at the cutoff.
    donut : float, default 0.0
        Leave out the rows whose running variable lies within this distance of the cutoff (a
        "donut" RD): the estimate then does not rest on the units nearest the cutoff, the ones
        that could have sorted themselves across it. The density test still uses every row.
    bandwidth : float or None, default None
        A bandwidth the analysis states (rdrobust's `h`, and `b` for the bias correction, on both
        sides), e.g. the window of a published specification; None lets `bwselect` choose it.

    Discrete running variables and weak fuzzy first stages are reported for the gates:
    `rd_support_points` (fewest distinct running-variable values within the bandwidth on either
    side; rdrobust's own mass-point notices go to `rdrobust_notes`) and, fuzzy, `rd_first_stage_f`
    (the squared t-statistic of the treatment's jump at the cutoff).
    """

    adjustment_kind = Adjustment.DESIGN
    relies_on_overlap = False

    method = "rd_robust"
    estimand = "LATE"
    design_roles = ("running_variable",)

    def __init__(
        self,
        *,
        cutoff: float | None = None,
        kernel: str = "triangular",
        p: int = 1,
        bwselect: str = "mserd",
        covariate_adjustment: bool = False,
        donut: float = 0.0,
        bandwidth: float | None = None,
    ) -> None:
        self.cutoff = cutoff
        self.kernel = kernel
        self.p = p
        self.bwselect = bwselect
        self.covariate_adjustment = covariate_adjustment
        self.donut = donut
        self.bandwidth = bandwidth

    @classmethod
    def warm_up(cls) -> None:
        """Import rdrobust and rddensity now (≈1.5 s: they import plotting libraries)."""
        _rdrobust_function()
        from rddensity.rddensity import rddensity  # noqa: F401

    def _check_params(self) -> None:
        if self.cutoff is None:
            raise EstimationError(
                "rd_robust needs the cutoff of the running variable: set it in the mapping "
                "(cutoff) or as the option cutoff"
            )
        if isinstance(self.cutoff, bool) or not isinstance(self.cutoff, int | float):
            raise EstimationError(f"cutoff must be a number, got {self.cutoff!r}")
        if not math.isfinite(self.cutoff):
            raise EstimationError(f"cutoff must be a finite number, got {self.cutoff!r}")
        if self.kernel not in KERNELS:
            raise EstimationError(f"kernel must be one of {', '.join(KERNELS)}, got {self.kernel!r}")
        if isinstance(self.p, bool) or self.p not in POLYNOMIAL_ORDERS:
            raise EstimationError(f"p (local polynomial order) must be 1 or 2, got {self.p!r}")
        if self.bwselect not in BANDWIDTH_SELECTORS:
            raise EstimationError(
                f"bwselect must be one of {', '.join(BANDWIDTH_SELECTORS)}, got {self.bwselect!r}"
            )
        if not isinstance(self.covariate_adjustment, bool):
            raise EstimationError(
                f"covariate_adjustment must be true or false, got {self.covariate_adjustment!r}"
            )
        donut = self.donut
        if (
            isinstance(donut, bool)
            or not isinstance(donut, int | float)
            or not math.isfinite(donut)
            or donut < 0
        ):
            raise EstimationError(f"donut must be a distance of 0 or more, got {donut!r}")
        bandwidth = self.bandwidth
        if bandwidth is not None and (
            isinstance(bandwidth, bool)
            or not isinstance(bandwidth, int | float)
            or not math.isfinite(bandwidth)
            or bandwidth <= 0
        ):
            raise EstimationError(
                f"bandwidth must be a positive distance from the cutoff (or unset to choose it), got {bandwidth!r}"
            )

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        running: NDArray[np.float64] = self.running_
        cutoff = float(self.cutoff)  # type: ignore[arg-type]  # checked in _check_params
        _check_sides(running, cutoff)
        everyone = running
        if self.donut > 0:
            outside = np.abs(running - cutoff) >= self.donut
            y, t, X, running = y[outside], t[outside], X[outside], running[outside]
            try:
                _check_sides(running, cutoff)
            except EstimationError as exc:
                raise EstimationError(f"with a donut of {self.donut:g} around the cutoff, {exc}") from exc
        if self.covariate_adjustment and X.shape[1] == 0:
            raise EstimationError(
                "covariate_adjustment needs covariates: map covariate columns or turn the option off"
            )
        above = running >= cutoff
        if np.array_equal(t, above):
            rd_design, sign, fuzzy = "sharp", 1.0, None
        elif np.array_equal(t, ~above):  # treated below the cutoff: the jump is y(0) - y(1)
            rd_design, sign, fuzzy = "sharp", -1.0, None
        else:
            rd_design, sign, fuzzy = "fuzzy", 1.0, t.astype(float)
        covs = X if self.covariate_adjustment else None
        fit, notices = self._rdrobust(y, running, cutoff, fuzzy=fuzzy, covs=covs)
        conventional = sign * _cell(fit.coef, "Conventional")
        bias_corrected = sign * _cell(fit.coef, "Robust")
        conventional_se = _cell(fit.se, "Conventional")
        robust_se = _cell(fit.se, "Robust")
        bandwidths = {
            f"bandwidth_{kind}_{side}": float(fit.bws.loc[kind, side])
            for kind in ("h", "b")
            for side in ("left", "right")
        }
        values = [conventional, bias_corrected, conventional_se, robust_se, *bandwidths.values()]
        if not all(math.isfinite(value) for value in values) or robust_se <= 0:
            raise EstimationError(
                "rdrobust returned non-finite estimates or standard errors (estimate "
                f"{conventional}, robust SE {robust_se}); there may be too few distinct values of "
                "the running variable near the cutoff"
            )
        h = bandwidths["bandwidth_h_left"]
        h_text = f"{h:.4g}" if h == bandwidths["bandwidth_h_right"] else (
            f"{h:.4g}/{bandwidths['bandwidth_h_right']:.4g}"
        )  # fmt: skip
        diagnostics: Diagnostics = {
            "rd_design": rd_design,
            "cutoff": cutoff,
            **({"rdrobust_notes": " ".join(notices)} if notices else {}),
            **bandwidths,
            "n_left": float(fit.N[0]),
            "n_right": float(fit.N[1]),
            "n_effective_left": float(fit.N_h[0]),
            "n_effective_right": float(fit.N_h[1]),
            "conventional_se": conventional_se,
            "bias_corrected_estimate": bias_corrected,
            "kernel": self.kernel,
            "polynomial_order": float(self.p),
            "bandwidth_selector": self.bwselect if self.bandwidth is None else "stated",
            "covariate_adjustment": "yes" if covs is not None else "no",
            "assumption": ASSUMPTION,
        }
        if fuzzy is None:
            diagnostics["treated_side"] = "below the cutoff" if sign < 0 else "at or above the cutoff"
        else:
            diagnostics.update(_first_stage(fit))
        diagnostics.update(
            _support_points(
                running,
                cutoff,
                h_left=bandwidths["bandwidth_h_left"],
                h_right=bandwidths["bandwidth_h_right"],
            )
        )
        diagnostics.update(
            _plot_data(
                y, running, cutoff,
                h_left=bandwidths["bandwidth_h_left"], h_right=bandwidths["bandwidth_h_right"],
                kernel=self.kernel, p=self.p,
            )
        )  # fmt: skip
        diagnostics.update(_density_test(everyone, cutoff))
        if self.donut > 0:
            diagnostics["donut"] = float(self.donut)
            diagnostics["donut_rows_left_out"] = float(everyone.size - running.size)
        diagnostics.update(self._covariate_placebos(running, cutoff, X))
        diagnostics.update(
            self._bandwidth_grid(
                y, running, cutoff, fuzzy=fuzzy, covs=covs, sign=sign,
                h=(bandwidths["bandwidth_h_left"], bandwidths["bandwidth_h_right"]),
                b=(bandwidths["bandwidth_b_left"], bandwidths["bandwidth_b_right"]),
            )
        )  # fmt: skip
        if fuzzy is None:
            diagnostics.update(
                self._placebo_cutoffs(
                    y, running, cutoff, sign,
                    h=(bandwidths["bandwidth_h_left"], bandwidths["bandwidth_h_right"]),
                    b=(bandwidths["bandwidth_b_left"], bandwidths["bandwidth_b_right"]),
                )
            )  # fmt: skip
        return FitSummary(
            ate=conventional,
            stderr=robust_se,
            interval_centre=bias_corrected,
            dof=None,
            inference=(
                f"rdrobust {rd_design} RD, robust bias-corrected CI; {self.kernel} kernel, "
                f"p={self.p}, bandwidth {self.bwselect if self.bandwidth is None else 'stated'} h={h_text}"
                + (", covariate-adjusted" if covs is not None else "")
            ),
            diagnostics=diagnostics,
        )

    def _rdrobust(
        self,
        y: NDArray[np.float64],
        running: NDArray[np.float64],
        cutoff: float,
        *,
        fuzzy: NDArray[np.float64] | None = None,
        covs: NDArray[np.float64] | None = None,
        **bandwidth: Any,
    ) -> tuple[Any, list[str]]:
        """One rdrobust fit with this estimator's settings, and the notices it printed (e.g. mass
        points in the running variable); its failures become EstimationError. `bandwidth` may fix
        h and b (rdrobust's keywords) for this fit instead of the stated or selected ones."""
        rdrobust = _rdrobust_function()
        try:
            with warnings.catch_warnings(), _printed_notices() as notices:
                warnings.simplefilter("ignore", RuntimeWarning)
                fit = rdrobust(
                    y, running, c=cutoff, fuzzy=fuzzy, covs=covs, p=self.p,
                    kernel=self.kernel, bwselect=self.bwselect, **{"h": self.bandwidth, **bandwidth},
                )  # fmt: skip
        except Exception as exc:  # rdrobust raises bare Exception for unusable data
            raise EstimationError(f"rdrobust could not fit the discontinuity: {exc}") from exc
        return fit, notices

    def _bandwidth_grid(
        self,
        y: NDArray[np.float64],
        running: NDArray[np.float64],
        cutoff: float,
        *,
        fuzzy: NDArray[np.float64] | None,
        covs: NDArray[np.float64] | None,
        sign: float,
        h: tuple[float, float],
        b: tuple[float, float],
    ) -> Diagnostics:
        """The estimate and its robust CI re-fitted with h and b scaled by each BANDWIDTH_GRID
        multiple (1 reproduces the reported fit): keys `bandwidth_grid_{k}_{h,estimate,ci_lower,
        ci_upper}` (h: the left bandwidth); a multiple rdrobust cannot fit is left out."""
        out: Diagnostics = {}
        k = 0
        for multiple in BANDWIDTH_GRID:
            try:
                fit, _ = self._rdrobust(
                    y, running, cutoff, fuzzy=fuzzy, covs=covs,
                    h=[h[0] * multiple, h[1] * multiple], b=[b[0] * multiple, b[1] * multiple],
                )  # fmt: skip
            except EstimationError:
                continue
            row = _jump_with_interval(fit, sign)
            if row is None:
                continue
            out[f"bandwidth_grid_{k}_h"] = h[0] * multiple
            out[f"bandwidth_grid_{k}_estimate"], out[f"bandwidth_grid_{k}_ci_lower"] = row[0], row[1]
            out[f"bandwidth_grid_{k}_ci_upper"] = row[2]
            k += 1
        return out

    def _placebo_cutoffs(
        self,
        y: NDArray[np.float64],
        running: NDArray[np.float64],
        cutoff: float,
        sign: float,
        *,
        h: tuple[float, float],
        b: tuple[float, float],
    ) -> Diagnostics:
        """Sharp RD jumps of the outcome at fake cutoffs (PLACEBO_CUTOFF_QUANTILES of each side),
        each fitted on that side's rows only so the real jump cannot leak in: none is expected.
        Keys `placebo_cutoff_{k}_{at,estimate,ci_lower,ci_upper}`; a cutoff rdrobust cannot fit
        (too few rows around it) is left out. Each uses the real cutoff's h and b (the side's own:
        left for the placebos below it, right above), not a bandwidth selected afresh, which cost
        twice the real fit in bandwidth selection alone."""
        out: Diagnostics = {}
        k = 0
        for side, h_side, b_side in ((running < cutoff, h[0], b[0]), (running >= cutoff, h[1], b[1])):
            values = running[side]
            for quantile in PLACEBO_CUTOFF_QUANTILES:
                fake = float(np.quantile(values, quantile))
                try:
                    _check_sides(values, fake)
                    fit, _ = self._rdrobust(y[side], values, fake, h=h_side, b=b_side)
                except EstimationError:
                    continue
                row = _jump_with_interval(fit, sign)
                if row is None:
                    continue
                out[f"placebo_cutoff_{k}_at"] = fake
                out[f"placebo_cutoff_{k}_estimate"], out[f"placebo_cutoff_{k}_ci_lower"] = row[0], row[1]
                out[f"placebo_cutoff_{k}_ci_upper"] = row[2]
                k += 1
        return out

    def _covariate_placebos(
        self, running: NDArray[np.float64], cutoff: float, X: NDArray[np.float64]
    ) -> Diagnostics:
        """Sharp RD jumps of the first covariate columns at the cutoff: none is expected."""
        p_values: list[tuple[float, int]] = []
        for j in range(min(X.shape[1], PLACEBO_COVARIATES)):
            try:
                fit, _ = self._rdrobust(X[:, j], running, cutoff)
            except EstimationError:
                continue  # e.g. a dummy constant on one side: no jump test possible
            p_value = _cell(fit.pv, "Robust")
            if math.isfinite(p_value):
                p_values.append((p_value, j))
        if not p_values:
            return {}
        p_min, worst = min(p_values)
        return {
            "covariate_jump_tests": float(len(p_values)),
            "covariate_jump_min_p": p_min,
            "covariate_jump_worst": f"covariate column {worst + 1} of {X.shape[1]}",
        }


# Lines rdrobust prints (it has no quiet option); they become the `rdrobust_notes` diagnostic.
_NOTICE_PREFIXES = ("Mass points detected", "Try using option masspoints", "Not enough observations")


@contextlib.contextmanager
def _printed_notices() -> Iterator[list[str]]:
    """Collect rdrobust's printed notices instead of letting them reach the service's stdout
    (JSON logs). Anything else written meanwhile (another thread's log line) is passed on."""
    notices: list[str] = []
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield notices
    finally:
        passed_on = []
        for line in buffer.getvalue().splitlines(keepends=True):
            if line.startswith(_NOTICE_PREFIXES):
                if line.strip() not in notices:
                    notices.append(line.strip())
            else:
                passed_on.append(line)
        if passed_on:
            sys.stdout.write("".join(passed_on))


def _rdrobust_function() -> Callable[..., Any]:
    """rdrobust, imported on first use (the package imports plotting libraries, ~1.5 s)."""
    from rdrobust.rdrobust import rdrobust

    return rdrobust  # type: ignore[no-any-return]


def _cell(table: Any, row: str) -> float:
    """One value of an rdrobust result table (rows Conventional / Bias-Corrected / Robust)."""
    return float(table.loc[row].iloc[0])


def _jump_with_interval(fit: Any, sign: float) -> tuple[float, float, float] | None:
    """The conventional jump and the robust bias-corrected CI of an rdrobust fit, signed as the
    estimate (treated side minus untreated), or None if any is not finite."""
    estimate = sign * _cell(fit.coef, "Conventional")
    ends = sorted(sign * float(fit.ci.loc["Robust"].iloc[j]) for j in (0, 1))
    if not all(math.isfinite(v) for v in (estimate, *ends)):
        return None
    return estimate, ends[0], ends[1]


def _check_sides(running: NDArray[np.float64], cutoff: float) -> None:
    """Refuse a cutoff outside the running variable's range or with too few rows on a side."""
    if running.size == 0:
        raise EstimationError(f"no rows are left on either side of the cutoff {cutoff:g}")
    low, high = float(running.min()), float(running.max())
    if not low < cutoff < high:
        raise EstimationError(
            f"the cutoff {cutoff:g} lies outside the running variable's range [{low:g}, {high:g}]; "
            "set the cutoff to the threshold that assigns treatment"
        )
    n_right = int((running >= cutoff).sum())
    n_left = running.shape[0] - n_right
    if min(n_left, n_right) < MIN_ROWS_PER_SIDE:
        raise EstimationError(
            f"too few rows on one side of the cutoff {cutoff:g}: {n_left} below and {n_right} at or "
            f"above; at least {MIN_ROWS_PER_SIDE} on each side are needed"
        )


def _first_stage(fit: Any) -> Diagnostics:
    """The jump in the treatment probability at the cutoff and its strength (fuzzy designs).

    `rd_first_stage_f` is (jump / SE)^2 of the conventional local polynomial first stage: the F of
    the one excluded instrument 1(running >= cutoff), judged like an IV first stage.
    """
    if fit.tau_T is None:
        return {}
    jump, jump_se = _cell(fit.tau_T, "Conventional"), _cell(fit.se_T, "Conventional")
    out: Diagnostics = {
        "first_stage_jump": jump,
        "first_stage_robust_p": _cell(fit.pv_T, "Robust"),
    }
    if math.isfinite(jump) and math.isfinite(jump_se) and jump_se > 0:
        out["first_stage_jump_se"] = jump_se
        out["rd_first_stage_f"] = (jump / jump_se) ** 2
    return out


def _support_points(
    running: NDArray[np.float64], cutoff: float, *, h_left: float, h_right: float
) -> Diagnostics:
    """Distinct running-variable values within the bandwidth on each side (mass points)."""
    left = np.unique(running[(running < cutoff) & (running >= cutoff - h_left)]).size
    right = np.unique(running[(running >= cutoff) & (running <= cutoff + h_right)]).size
    return {
        "rd_support_points_left": float(left),
        "rd_support_points_right": float(right),
        "rd_support_points": float(min(left, right)),
        "running_distinct_values": float(np.unique(running).size),
    }


def _kernel_weights(u: NDArray[np.float64], kernel: str) -> NDArray[np.float64]:
    """rdrobust's kernel weights of scaled distances u = (x - c) / h (up to the constant 1/h)."""
    inside = np.abs(u) <= 1
    if kernel == "epanechnikov":
        return 0.75 * (1 - u**2) * inside
    if kernel == "uniform":
        return 0.5 * inside.astype(float)
    return (1 - np.abs(u)) * inside


def _plot_data(
    y: NDArray[np.float64],
    running: NDArray[np.float64],
    cutoff: float,
    *,
    h_left: float,
    h_right: float,
    kernel: str,
    p: int,
) -> Diagnostics:
    """Binned outcome means and local polynomial fit lines on each side of the cutoff (RD plot)."""
    out: Diagnostics = {}
    above = running >= cutoff
    n_points = PLOT_FIT_POINTS[p]
    for side, mask, h, direction, first_bin in (
        ("left", ~above, h_left, -1.0, 0),
        ("right", above, h_right, 1.0, PLOT_BINS_PER_SIDE),
    ):
        distance = direction * (running[mask] - cutoff)  # >= 0, away from the cutoff
        values = y[mask]
        reach = float(distance.max())
        window = min(PLOT_WINDOW_BANDWIDTHS * h, reach)
        out[f"rd_plot_window_{side}"] = window
        inside = distance <= window
        index = np.minimum(
            (distance[inside] / window * PLOT_BINS_PER_SIDE).astype(int), PLOT_BINS_PER_SIDE - 1
        )
        if side == "left":  # bins numbered from the far left up to the cutoff
            index = PLOT_BINS_PER_SIDE - 1 - index
        counts = np.bincount(index, minlength=PLOT_BINS_PER_SIDE)
        x_sums = np.bincount(index, weights=running[mask][inside], minlength=PLOT_BINS_PER_SIDE)
        y_sums = np.bincount(index, weights=values[inside], minlength=PLOT_BINS_PER_SIDE)
        for b in np.flatnonzero(counts):
            k = first_bin + int(b)
            out[f"rd_plot_bin_{k}_x"] = float(x_sums[b] / counts[b])
            out[f"rd_plot_bin_{k}_y"] = float(y_sums[b] / counts[b])
            out[f"rd_plot_bin_{k}_n"] = float(counts[b])
        # Weighted least squares of y on powers of (x - c), as rdrobust fits each side.
        signed = direction * distance
        weights = _kernel_weights(signed / h, kernel)
        used = weights > 0
        design = np.vander(signed[used], p + 1, increasing=True)
        root = np.sqrt(weights[used])
        beta = np.linalg.lstsq(design * root[:, None], values[used] * root, rcond=None)[0]
        span = min(h, reach)
        for j in range(n_points):
            offset = direction * span * j / (n_points - 1)
            out[f"rd_plot_fit_{side}_{j}_x"] = cutoff + offset
            out[f"rd_plot_fit_{side}_{j}_y"] = float(np.polynomial.polynomial.polyval(offset, beta))
    return out


def _density_test(running: NDArray[np.float64], cutoff: float) -> Diagnostics:
    """Cattaneo-Jansson-Ma manipulation test: does the running variable's density jump?"""
    try:
        from rddensity.rddensity import rddensity

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            test = rddensity(running, c=cutoff)
        p_value = float(test.test["p_jk"])
    except Exception as exc:  # any failure of the test is reported, never fatal
        return {"density_test_error": f"rddensity failed: {exc}"}
    if not math.isfinite(p_value):
        return {"density_test_error": "rddensity returned no p-value (too few rows near the cutoff?)"}
    return {"density_test_p": p_value}
