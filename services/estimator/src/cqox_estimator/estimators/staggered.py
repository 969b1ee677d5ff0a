"""Heterogeneity-robust difference-in-differences for staggered adoption (Callaway & Sant'Anna 2021)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cqox_estimator.estimators.base import CausalEstimator, Diagnostics, FitSummary
from cqox_estimator.estimators.design import EstimationError

NEVER = 1 << 62  # the cohort of never-treated units (exact as a float, beyond any period code)
EVENT_TIMES = 5  # dynamic effects reported for 0..EVENT_TIMES-1 periods after adoption


class CallawaySantAnna(CausalEstimator):
    """Group-time ATTs compared only with clean controls, averaged over cohorts and periods.

    For every adoption cohort g and period t >= g, ATT(g, t) is the change in the outcome from
    g - 1 to t among units first treated at g minus the same change among never-treated units
    (or, when there are none, units not yet treated at t). Already-treated units never serve as
    controls, so effects that grow or vary across cohorts do not bias the result as they do in
    TWFE. The headline is the cohort-size weighted average of the post-treatment ATT(g, t)
    ("simple" aggregation); its SE comes from the units' influence functions, including the
    estimated weights (clustered by unit). Parallel trends is unconditional: covariates are not
    used. Treatment must be absorbing (once on, it stays on); units treated from their first
    period have no pre-period and are left out (counted).
    """

    method = "cs_did"
    estimand = "ATT"
    panel = True

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        frame = pd.DataFrame({"unit": self.unit_, "time": self.time_, "y": y, "t": t})
        if frame.duplicated(["unit", "time"]).any():
            raise EstimationError(
                "unit and time must identify the rows; aggregate to one row per unit and period first"
            )
        wide = frame.pivot(index="unit", columns="time", values="y")
        cohort = _cohorts(frame)
        first_seen = frame.groupby("unit")["time"].min()
        always = cohort.index[(cohort != NEVER) & (cohort <= first_seen.reindex(cohort.index))]
        cohort = cohort.drop(always)
        wide = wide.loc[cohort.index]
        cells = _group_time_effects(wide, cohort)
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
            "parallel_trends": "unconditional (covariates not used)",
            **_event_study(cells, cohort, n),
        }
        return FitSummary(
            ate=ate,
            stderr=stderr,
            dof=float(n - 1),
            inference="influence function (clustered by unit), estimated cohort weights included",
            diagnostics=diagnostics,
        )


def _cohorts(frame: pd.DataFrame) -> pd.Series:
    """First treated period per unit (NEVER if never treated); refuses treatment that switches off."""
    ordered = frame.sort_values(["unit", "time"])
    switches_off = (ordered.groupby("unit")["t"].diff() < 0).groupby(ordered["unit"]).any()
    if switches_off.any():
        raise EstimationError(
            f"cs_did needs treatment that stays on once started; {int(switches_off.sum())} unit(s) "
            "switch it off again"
        )
    first = ordered[ordered["t"] == 1].groupby("unit")["time"].min().to_dict()
    units = ordered["unit"].unique()
    return pd.Series([first.get(u, NEVER) for u in units], index=units, dtype=np.int64)


# (cohort, period, ATT(g, t), influence function over the units in `cohort` order)
Cell = tuple[int, int, float, NDArray[np.float64]]


def _group_time_effects(wide: pd.DataFrame, cohort: pd.Series) -> list[Cell]:
    """ATT(g, t) for every cohort g and period t >= g, each with its per-unit influence function."""
    n = len(cohort)
    periods = list(wide.columns)
    groups = cohort.to_numpy()
    cells: list[Cell] = []
    has_never = bool((groups == NEVER).any())
    for g in sorted(set(groups) - {NEVER}):
        base = g - 1
        if base not in wide.columns:
            continue
        for period in (p for p in periods if p >= g):
            change = (wide[period] - wide[base]).to_numpy()
            observed = ~np.isnan(change)
            treated = observed & (groups == g)
            control = observed & ((groups == NEVER) if has_never else (groups > period) & (groups != g))
            if treated.sum() < 2 or control.sum() < 2:
                continue
            mean_t, mean_c = change[treated].mean(), change[control].mean()
            share_t, share_c = treated.sum() / n, control.sum() / n
            # Each group's deviations carry the n/(n-1) small-sample factor (unbiased group
            # variances, as in Welch's test): with a dozen units per cohort it matters.
            n_t, n_c = int(treated.sum()), int(control.sum())
            influence = np.zeros(n)
            influence[treated] += (change[treated] - mean_t) / share_t * _small_sample(n_t)
            influence[control] -= (change[control] - mean_c) / share_c * _small_sample(n_c)
            cells.append((int(g), int(period), float(mean_t - mean_c), influence))
    return cells


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


def _event_study(cells: list[Cell], cohort: pd.Series, n: int) -> Diagnostics:
    """Effects 0..EVENT_TIMES-1 periods after adoption (cohort-size weighted; weights taken as known)."""
    groups = cohort.to_numpy()
    out: Diagnostics = {}
    for e in range(EVENT_TIMES):
        at = [(g, att, psi) for g, period, att, psi in cells if period - g == e]
        if not at:
            break
        weights = np.array([float((groups == g).mean()) for g, _, _ in at])
        weights /= weights.sum()
        out[f"att_event_{e}"] = float(sum(w * att for w, (_, att, _) in zip(weights, at, strict=True)))
        psi = sum(w * p for w, (_, _, p) in zip(weights, at, strict=True))
        out[f"se_event_{e}"] = float(np.sqrt((np.asarray(psi) ** 2).sum()) / n)
    return out
