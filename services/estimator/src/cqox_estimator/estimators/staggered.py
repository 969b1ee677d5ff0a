"""Heterogeneity-robust difference-in-differences for staggered adoption (Callaway & Sant'Anna 2021)."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from cqox_contracts.v1 import Adjustment
from cqox_estimator.estimators.base import CausalEstimator, Diagnostics, FitSummary
from cqox_estimator.estimators.errors import EstimationError
from cqox_estimator.estimators.nuisance import mle_logit_propensity
from cqox_estimator.estimators.panel import NEVER, adoption

EVENT_TIMES = 5  # dynamic effects reported for 0..EVENT_TIMES-1 periods after adoption
ADJUSTMENTS = {
    "dr": "doubly robust (Sant'Anna & Zhao 2020)",
    "or": "outcome regression",
}
# Comparison units whose propensity reaches this level get no weight (R's DRDID / `did` default).
PROPENSITY_TRIM = 0.995
BAND_LEVEL = 0.95  # simultaneous coverage of the event-study band (the report's pointwise bars are 95 %)
MAX_BOOTSTRAP = 100_000
# Mammen's two-point multiplier weights: mean 0, variance 1, third moment 1.
MAMMEN_LOW, MAMMEN_HIGH = (1 - np.sqrt(5)) / 2, (1 + np.sqrt(5)) / 2
MAMMEN_P_HIGH = (np.sqrt(5) - 1) / (2 * np.sqrt(5))
BOOTSTRAP_CHUNK = 1 << 19  # weights drawn at once (units x draws), bounding the memory used
MAX_REPORTED_CELLS = 400  # group-time ATTs reported for the report's cohort-by-period heat map


class CallawaySantAnna(CausalEstimator):
    """Group-time ATTs compared only with clean controls, averaged over cohorts and periods.

    For every adoption cohort g and period t >= g, ATT(g, t) is the change in the outcome from
    g - 1 to t among units first treated at g minus the same change among never-treated units
    (or, when there are none, units not yet treated at t). Already-treated units never serve as
    controls, so effects that grow or vary across cohorts do not bias the result as they do in
    TWFE. The headline is the cohort-size weighted average of the post-treatment ATT(g, t)
    ("simple" aggregation); its SE comes from the units' influence functions, including the
    estimated weights (clustered by unit). With unit-level covariates (constant within units),
    parallel trends is conditional on them; time-varying covariates are not used. Treatment must
    be absorbing (once on, it stays on); units treated from their first
    period have no pre-period and are left out (counted).

    Parameters
    ----------
    adjust_for_covariates : bool, default True
        False: ignore the covariates (unconditional parallel trends, the plain 2x2 DiD per cell).
    adjustment : {"or", "dr"}, default "or"
        How each ATT(g, t) conditions on the unit-level covariates. "or": outcome regression
        (the comparison units' regression predicts the treated's change). "dr": the doubly
        robust DiD of Sant'Anna & Zhao (2020) for panel data, the default of R's `did`: a logit
        propensity of cohort g against its comparison units plus that regression, consistent if
        either model is right (bench/coverage: 93-94 % coverage, as OR's 94-96 %). Not the
        default: with a correct linear outcome model OR is tighter, and with small cohorts or
        many covariate levels the logit can separate, which DR must refuse.
        Without covariates both are the plain 2x2 DiD.
    n_bootstrap : int, default 999
        Multiplier-bootstrap draws for the simultaneous 95 % band over all reported event-time
        effects (placebos included), as R's `did` plots them (`bstrap=TRUE, cband=TRUE`): the
        critical value is the 95 % quantile of max_e |t*_e| (read on the t scale with units - 1
        df), so att_event_e +- crit x se_event_e covers the whole path jointly, where the
        pointwise 1.96 intervals do not (joint coverage 92 % with 50 units, 94 % with 200, 95 %
        with 500; the pointwise bars jointly 65-68 %). 0 turns it off; otherwise 99 or more. The
        overall ATT's SE and interval stay analytic.
    random_state : int, default 0
        Seed of the bootstrap weights (set from the analysis seed).
    """

    adjustment_kind = Adjustment.DESIGN
    relies_on_overlap = False

    method = "cs_did"
    estimand = "ATT"
    panel = True

    def __init__(
        self,
        *,
        adjust_for_covariates: bool = True,
        adjustment: str = "or",
        n_bootstrap: int = 999,
        random_state: int = 0,
    ) -> None:
        self.adjust_for_covariates = adjust_for_covariates
        self.adjustment = adjustment
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    def _check_params(self) -> None:
        if not isinstance(self.adjust_for_covariates, bool):
            raise EstimationError(
                f"adjust_for_covariates must be true or false, got {self.adjust_for_covariates!r}"
            )
        if self.adjustment not in ADJUSTMENTS:
            raise EstimationError(
                f"adjustment must be one of {', '.join(map(repr, ADJUSTMENTS))}, got {self.adjustment!r}"
            )
        draws = self.n_bootstrap
        if (
            isinstance(draws, bool)
            or not isinstance(draws, Integral)
            or not (draws == 0 or 99 <= draws <= MAX_BOOTSTRAP)
        ):
            raise EstimationError(
                f"n_bootstrap must be 0 (no simultaneous band) or an integer from 99 to {MAX_BOOTSTRAP}, "
                f"got {draws!r}"
            )
        seed = self.random_state
        if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
            raise EstimationError(f"random_state must be a non-negative integer, got {seed!r}")

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        frame = pd.DataFrame({"unit": self.unit_, "time": self.time_, "y": y, "t": t})
        wide = frame.pivot(index="unit", columns="time", values="y")
        cohort, switching_off = adoption(self.unit_, self.time_, t)
        if switching_off.any():
            raise EstimationError(
                f"cs_did needs treatment that stays on once started; {int(switching_off.sum())} unit(s) "
                "switch it off again"
            )
        first_seen = frame.groupby("unit")["time"].min()
        always = cohort.index[(cohort != NEVER) & (cohort <= first_seen.reindex(cohort.index))]
        cohort = cohort.drop(always)
        wide = wide.loc[cohort.index]
        covariates = None
        fixed = _fixed_within_units(X, self.unit_) if self.adjust_for_covariates else []
        if fixed:
            # Unit-level covariates only (constant within each unit): conditioning a change on a
            # time-varying covariate's base value lets its transitory part bias the comparison.
            covariates = np.stack(
                [
                    frame.assign(x=X[:, j])
                    .pivot(index="unit", columns="time", values="x")
                    .loc[cohort.index]
                    .reindex(columns=wide.columns)
                    .to_numpy()
                    for j in fixed
                ],
                axis=2,
            )
        trimmed: list[tuple[int, int]] = []  # per DR cell: (comparison units trimmed, of how many)
        cells = _group_time_effects(wide, cohort, covariates, adjustment=self.adjustment, trimmed=trimmed)
        placebos = _group_time_effects(
            wide, cohort, covariates, placebo=True, adjustment=self.adjustment, trimmed=trimmed
        )
        if not cells:
            raise EstimationError(
                "no cohort can be compared: cs_did needs units observed before and after they are "
                "first treated, and never- or not-yet-treated units observed in the same periods"
            )
        n = len(cohort)
        ate, influence = _simple_aggregate(cells, cohort, n)
        stderr = float(np.sqrt((influence**2).sum()) / n)
        n_never = int((cohort == NEVER).sum())
        diagnostics: Diagnostics = {
            "control_group": "never treated" if n_never else "not yet treated",
            "n_units": float(n),
            "n_never_treated_units": float(n_never),
            "n_always_treated_units_left_out": float(len(always)),
            "n_adoption_cohorts": float(len({g for g, _, _, _ in cells})),
            "n_group_time_effects": float(len(cells)),
            "parallel_trends": (
                f"conditional on {len(fixed)} unit-level covariate column(s) ({ADJUSTMENTS[self.adjustment]})"
                if covariates is not None
                else "unconditional (covariates not used)"
            ),
            "adjustment": (
                ADJUSTMENTS[self.adjustment] if covariates is not None else "none (2x2 DiD per cell)"
            ),
            "time_varying_covariates_not_used": float(X.shape[1] - len(fixed)),
            **_event_study(
                cells, placebos, cohort, n, n_bootstrap=int(self.n_bootstrap), seed=int(self.random_state)
            ),
        }
        diagnostics.update(_group_time_table(cells, placebos, cohort, n))
        if trimmed:
            diagnostics["propensity_trim"] = PROPENSITY_TRIM
            diagnostics["max_comparison_units_trimmed"] = float(max(k for k, _ in trimmed))
            diagnostics["max_share_comparison_trimmed"] = max(k / m for k, m in trimmed)
        return FitSummary(
            ate=ate,
            stderr=stderr,
            dof=float(n - 1),
            inference="influence function (clustered by unit), estimated cohort weights included",
            diagnostics=diagnostics,
        )


def _group_time_table(cells: list[Cell], placebos: list[Cell], cohort: pd.Series, n: int) -> Diagnostics:
    """Every ATT(g, t) with its SE, for the cohort-by-period heat map: keys `att_gt_{g}_{t}` and
    `se_gt_{g}_{t}` (g the cohort's first treated period, t the period, both as period codes 0..k-1
    in time order), placebo cells (t < g, short differences) included, and `cohort_units_{g}`.

    The headline is the cohort-size weighted mean of the post cells (t >= g); with more than
    MAX_REPORTED_CELLS cells, the ones farthest from adoption are left out (counted)."""
    groups = cohort.to_numpy()
    every = sorted([*cells, *placebos], key=lambda c: (abs(c[1] - c[0]), c[0], c[1]))
    shown = every[:MAX_REPORTED_CELLS]
    out: Diagnostics = {"n_group_time_cells_reported": float(len(shown))}
    if len(every) > len(shown):
        out["n_group_time_cells_left_out"] = float(len(every) - len(shown))
    for g, period, att, influence in shown:
        out[f"att_gt_{g}_{period}"] = float(att)
        out[f"se_gt_{g}_{period}"] = float(np.sqrt((influence**2).sum()) / n)
    for g in sorted({c[0] for c in shown}):
        out[f"cohort_units_{g}"] = float((groups == g).sum())
    return out


def _fixed_within_units(X: NDArray[np.float64], unit: NDArray[np.int64]) -> list[int]:
    """Columns of X that take one value within every unit."""
    if X.shape[1] == 0:
        return []
    grouped = pd.DataFrame(X).assign(unit=unit).groupby("unit")
    spread = (grouped.max() - grouped.min()).abs().max(axis=0).to_numpy()
    return [j for j in range(X.shape[1]) if spread[j] == 0]


# (cohort, period, ATT(g, t), influence function over the units in `cohort` order)
Cell = tuple[int, int, float, NDArray[np.float64]]


def _group_time_effects(
    wide: pd.DataFrame,
    cohort: pd.Series,
    covariates: NDArray[np.float64] | None = None,
    *,
    placebo: bool = False,
    adjustment: str = "or",
    trimmed: list[tuple[int, int]] | None = None,
) -> list[Cell]:
    """ATT(g, t) for every cohort g and period t >= g, each with its per-unit influence function.

    With `placebo`, the pre-adoption ATT(g, t) for t < g instead, each from t - 1 to t (the
    short differences of Callaway & Sant'Anna's "varying" base): zero under parallel trends.
    With `covariates` (units x periods x p), the controls' change is predicted from the
    covariates of the base period by least squares (outcome-regression DiD, conditional parallel
    trends) and the influence function includes that regression's estimation error; with
    `adjustment="dr"` the cell is the doubly robust DiD instead (`_doubly_robust_did`), whose
    trimming counts are appended to `trimmed`.
    """
    n = len(cohort)
    periods = [int(p) for p in wide.columns]  # period codes 0..k-1, in time order
    position = {p: k for k, p in enumerate(periods)}
    groups = cohort.to_numpy()
    cells: list[Cell] = []
    has_never = bool((groups == NEVER).any())
    for g in sorted(set(groups) - {NEVER}):
        if not placebo and g - 1 not in wide.columns:
            continue
        for period in (p for p in periods if (p < g if placebo else p >= g)):
            base = period - 1 if placebo else g - 1
            if base not in position:
                continue
            change = (wide[period] - wide[base]).to_numpy()
            Z = np.ones((n, 1))
            if covariates is not None:
                Z = np.column_stack([Z, covariates[:, position[base], :]])
            observed = ~np.isnan(change) & np.isfinite(Z).all(axis=1)
            treated = observed & (groups == g)
            control = observed & ((groups == NEVER) if has_never else (groups > period) & (groups != g))
            if treated.sum() < 2 or control.sum() < Z.shape[1] + 1:
                continue
            if covariates is not None and adjustment == "dr":
                att, influence, n_trimmed = _doubly_robust_did(change, Z, treated, control, cell=(g, period))
                if trimmed is not None:
                    trimmed.append((n_trimmed, int(control.sum())))
                cells.append((int(g), int(period), att, influence))
                continue
            cell = _regression_did(change, Z, treated, control)
            cells.append((int(g), int(period), *cell))
    return cells


def _regression_did(
    change: NDArray[np.float64],
    Z: NDArray[np.float64],
    treated: NDArray[np.bool_],
    control: NDArray[np.bool_],
) -> tuple[float, NDArray[np.float64]]:
    """ATT of one cell: the treated units' change minus the change the controls' regression on Z
    predicts for them, and each unit's influence (Z = a constant only: the plain 2x2 DiD).

    psi_i = T_i / p_T (r_i - ATT) - C_i zbar_T' M^-1 z_i e_i, with r the treated residuals from
    the control fit, e the controls' residuals and M = E[C z z']; each group's part carries a
    small-sample factor (Welch-like for the treated, n / (n - k) for the regression).
    """
    n = change.shape[0]
    n_t, n_c, k = int(treated.sum()), int(control.sum()), Z.shape[1]
    beta = np.linalg.lstsq(Z[control], change[control], rcond=None)[0]
    residual = change - Z @ beta
    att = float(residual[treated].mean())
    moment = Z[control].T @ Z[control] / n
    direction = np.linalg.pinv(moment) @ Z[treated].mean(axis=0)
    influence = np.zeros(n)
    influence[treated] = (residual[treated] - att) / (n_t / n) * _small_sample(n_t)
    correction = float(np.sqrt(n_c / (n_c - k))) if n_c > k else 1.0
    influence[control] = -(Z[control] @ direction) * residual[control] * correction
    return att, influence


def _doubly_robust_did(
    change: NDArray[np.float64],
    Z: NDArray[np.float64],
    treated: NDArray[np.bool_],
    control: NDArray[np.bool_],
    *,
    cell: tuple[int, int],
) -> tuple[float, NDArray[np.float64], int]:
    """Doubly robust ATT of one cell (Sant'Anna & Zhao 2020, "traditional" DR DiD for panel data),
    its influence over all units, and how many comparison units were trimmed.

    On the cell's units (cohort g and its comparison units; Z holds a constant first): a logit
    propensity p(z) of being in g (maximum likelihood) and a least-squares fit m(z) of the
    comparison units' change. ATT = mean_T(dY - m) - sum_C w (dY - m) / sum_C w with
    w = p / (1 - p). The influence function includes both fits' estimation error; the formulas
    are those of R's DRDID `drdid_panel` (and the `drdid` Python port, which the tests compare
    against), including its trimming: p is capped at 1 - 1e-6 and comparison units with
    p >= PROPENSITY_TRIM get no weight. It is scaled to the full sample as R's `did` does
    (n / n_cell) and, as the outcome-regression cells, with a small-sample factor per group
    (`dr_small_sample`): with DRDID's plain sd(influence) / sqrt(n_cell) the intervals covered
    90.5 % with ten-unit cohorts, 93-94 % with them. Raises EstimationError when the covariates separate the cohort
    from its comparison units (no overlap) rather than returning an extreme-weight estimate.
    """
    n = change.shape[0]
    rows = treated | control
    d = treated[rows].astype(float)
    dy = change[rows]
    x = Z[rows]
    m, k = x.shape
    g, period = cell
    ps = mle_logit_propensity(
        d, x, separates=f"cohort {g} from its comparison units (period {period})", remedy="try adjustment: or"
    )
    keep = (d == 1) | (ps < PROPENSITY_TRIM)
    n_trimmed = int((~keep).sum())
    if int((keep & (d == 0)).sum()) < k + 1:
        raise EstimationError(
            f"no overlap: cohort {g} (period {period}) has {int((keep & (d == 0)).sum())} comparison "
            f"unit(s) left with propensity below {PROPENSITY_TRIM}; the covariates nearly determine "
            "who adopts, so the doubly robust DiD would rest on a few extreme weights "
            "(try adjustment: or, or fewer covariates)"
        )
    comparison = d == 0
    beta = np.linalg.lstsq(x[comparison], dy[comparison], rcond=None)[0]
    residual = dy - x @ beta
    w_treat = d
    w_cont = keep * ps * (1 - d) / (1 - ps)
    eta_treat = float(np.mean(w_treat * residual) / np.mean(w_treat))
    eta_cont = float(np.mean(w_cont * residual) / np.mean(w_cont))
    att = eta_treat - eta_cont
    # Asymptotic linear representations of the two nuisance fits.
    ols_if = (comparison * residual)[:, None] * x @ np.linalg.pinv(x[comparison].T @ x[comparison] / m)
    information = (x * (ps * (1 - ps))[:, None]).T @ x / m
    ps_if = ((d - ps)[:, None] * x) @ np.linalg.pinv(information)
    inf_treat = (w_treat * (residual - eta_treat) - ols_if @ np.mean(w_treat[:, None] * x, axis=0)) / np.mean(
        w_treat
    )
    inf_cont = (
        w_cont * (residual - eta_cont)
        + ps_if @ np.mean((w_cont * (residual - eta_cont))[:, None] * x, axis=0)
        - ols_if @ np.mean(w_cont[:, None] * x, axis=0)
    ) / np.mean(w_cont)
    influence = np.zeros(n)
    influence[rows] = (inf_treat - inf_cont) * (n / m) * dr_small_sample(d, k)
    return att, influence, n_trimmed


def dr_small_sample(d: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """Per-unit factor on a doubly robust cell's influence: sqrt(n_g / (n_g - k)) for each group g
    (the cohort, its comparison units), k the parameters each nuisance model fits on the cell."""
    n_t, n_c = float(d.sum()), float(d.shape[0] - d.sum())
    treated = np.sqrt(n_t / (n_t - k)) if n_t > k else 1.0
    comparison = np.sqrt(n_c / (n_c - k)) if n_c > k else 1.0
    return np.where(d == 1, treated, comparison)


def _small_sample(k: int) -> float:
    """sqrt(k / (k - 1)): turns a group's ddof-0 variance into the unbiased one."""
    return float(np.sqrt(k / (k - 1))) if k > 1 else 1.0


def _simple_aggregate(cells: list[Cell], cohort: pd.Series, n: int) -> tuple[float, NDArray[np.float64]]:
    """Cohort-size weighted mean of the ATT(g, t), with the influence of the estimated weights."""
    groups = cohort.to_numpy()
    share = {g: float((groups == g).mean()) for g, _, _, _ in cells}
    total = sum(share[g] for g, _, _, _ in cells)
    estimate = sum(share[g] * att for g, _, att, _ in cells) / total
    influence = sum((share[g] / total) * psi for g, _, _, psi in cells)
    # Weights w_gt = p_g / sum(p): their own sampling noise enters through the cohort shares.
    share_if = {g: (groups == g).astype(float) - share[g] for g in share}
    total_if = sum(share_if[g] for g, _, _, _ in cells)
    for g, _, att, _ in cells:
        influence = influence + att * (share_if[g] / total - share[g] * total_if / total**2)
    return float(estimate), np.asarray(influence)


def _event_time(cells: list[Cell], cohort: pd.Series, e: int) -> tuple[float, NDArray[np.float64]] | None:
    """Cohort-size weighted mean of the cells e periods from adoption, with its influence."""
    groups = cohort.to_numpy()
    at = [(g, att, psi) for g, period, att, psi in cells if period - g == e]
    if not at:
        return None
    weights = np.array([float((groups == g).mean()) for g, _, _ in at])
    weights /= weights.sum()
    estimate = float(sum(w * att for w, (_, att, _) in zip(weights, at, strict=True)))
    return estimate, np.asarray(sum(w * p for w, (_, _, p) in zip(weights, at, strict=True)))


def _event_study(
    cells: list[Cell],
    placebos: list[Cell],
    cohort: pd.Series,
    n: int,
    *,
    n_bootstrap: int = 0,
    seed: int = 0,
) -> Diagnostics:
    """Effects -EVENT_TIMES..EVENT_TIMES-1 periods from adoption (weights taken as known), the
    joint Wald test that the pre-adoption ones (placebos) are zero and, with `n_bootstrap`, a
    simultaneous band over all of them (`_uniform_band`)."""
    out: Diagnostics = {}
    path: list[tuple[int, float, NDArray[np.float64]]] = []  # (e, effect, influence) in report order
    for e in range(EVENT_TIMES):
        point = _event_time(cells, cohort, e)
        if point is None:
            break
        path.append((e, *point))
    leads: list[tuple[float, NDArray[np.float64]]] = []
    for e in range(-1, -EVENT_TIMES - 1, -1):
        point = _event_time(placebos, cohort, e)
        if point is None:
            continue
        path.append((e, *point))
        leads.append(point)
    for e, effect, influence in path:
        out[f"att_event_{e}"] = effect
        out[f"se_event_{e}"] = float(np.sqrt((influence**2).sum()) / n)
    if n_bootstrap and path:
        influences = np.column_stack([psi for _, _, psi in path])
        se = np.array([out[f"se_event_{e}"] for e, _, _ in path], dtype=float)
        critical = _uniform_band(influences, se, n_bootstrap, seed)
        out["event_band_critical_value"] = critical
        out["event_band_level"] = BAND_LEVEL
        out["event_band_draws"] = float(n_bootstrap)
        for (e, effect, _), s in zip(path, se, strict=True):
            out[f"att_event_{e}_band_lower"] = effect - critical * float(s)
            out[f"att_event_{e}_band_upper"] = effect + critical * float(s)
    if not leads:
        out["pretrend_test"] = "not run: no cohort is seen two or more periods before adoption"
        return out
    estimates = np.array([a for a, _ in leads])
    influence = np.column_stack([psi for _, psi in leads])
    covariance = influence.T @ influence / n**2
    wald = float(estimates @ np.linalg.pinv(covariance) @ estimates)
    k = len(leads)
    out["pretrend_test"] = f"joint F-test of {k} pre-adoption effects (placebos, short differences)"
    out["pretrend_p_value"] = float(stats.f.sf(wald / k, k, max(n - 1, 1)))
    return out


def _uniform_band(
    influences: NDArray[np.float64], se: NDArray[np.float64], n_bootstrap: int, seed: int
) -> float:
    """Critical value of the simultaneous BAND_LEVEL band over the columns (event times) of
    `influences` (units x event times, the influence functions behind the analytic `se`): the
    BAND_LEVEL quantile over multiplier-bootstrap draws of max_e |t*_e| (Chernozhukov, Fernandez-Val
    & Melly 2013; Callaway & Sant'Anna 2021, sec. 4), read on the t(units - 1) scale and never
    below the pointwise t quantile.

    Draw b perturbs each unit's influence by an i.i.d. weight v_ib: the deviation of event time e
    is sum_i v_ib psi_ie / n, all event times and draws at once as one (event times x units) @
    (units x draws) product, in chunks of draws to bound memory. The weights are Mammen's
    two-point ones (mean 0, variance 1, third moment 1), those of the multiplier bootstrap R's
    `did` has used (mboot via BMisc): unlike Rademacher weights (third moment 0) they carry the skewness of the
    influence functions of small cohorts into the draws. Each deviation is standardised by the
    analytic SE rather than by `did`'s IQR-based bootstrap SE: with unit-variance weights the
    draws' conditional SD is exactly sqrt(sum_i psi_ie^2) / n = se_e, so the IQR would only
    estimate it with Monte Carlo noise, and the band att +- crit x se is then built from the very
    SE that is reported. An event time with a zero SE (no variation) contributes t* = 0.
    """
    n, _ = influences.shape
    scaled = np.divide(influences, n * se, out=np.zeros_like(influences), where=se > 0).T  # k x n
    # float32 for the weights and the product (a quarter faster; t* to ~1e-6, ample for a quantile).
    scaled32 = scaled.astype(np.float32)
    shift = MAMMEN_LOW * scaled.sum(axis=1)[:, None]
    rng = np.random.default_rng(seed)
    per_chunk = max(1, BOOTSTRAP_CHUNK // max(n, 1))
    maxima = np.empty(n_bootstrap)
    for start in range(0, n_bootstrap, per_chunk):
        draws = min(per_chunk, n_bootstrap - start)
        high = (rng.random((n, draws), dtype=np.float32) < MAMMEN_P_HIGH).astype(np.float32)
        # v = LOW + (HIGH - LOW) * 1[high]: one product with the 0/1 matrix, then shift.
        t_star = shift + (MAMMEN_HIGH - MAMMEN_LOW) * (scaled32 @ high)
        maxima[start : start + draws] = np.abs(t_star).max(axis=0)
    # The draws are normal-scale; like the ATT's interval (t with units - 1 df), the critical value
    # is read on the t scale: the quantile of t(units - 1) at the normal probability the draws
    # give (2.72 becomes 2.84 with 50 units, 2.75 with 200). It lifts the band's joint coverage
    # with small cohorts, where the extreme tails of max |t| are heavier than normal.
    dof = max(n - 1, 1)
    critical = float(stats.t.ppf(stats.norm.cdf(float(np.quantile(maxima, BAND_LEVEL))), dof))
    # A simultaneous band narrower than the pointwise intervals would be Monte Carlo noise (one
    # event time, or perfectly correlated ones): `did` only warns; we keep the pointwise width.
    return max(critical, float(stats.t.ppf(0.5 + BAND_LEVEL / 2, dof)))
