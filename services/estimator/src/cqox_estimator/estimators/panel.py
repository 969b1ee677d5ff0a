"""Panel methods: two-way fixed effects with unit-clustered standard errors (linearmodels)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from linearmodels.panel import PanelOLS
from numpy.typing import NDArray
from scipy import stats

from cqox_contracts.v1 import Adjustment, RoleMapping
from cqox_estimator.estimators.base import CausalEstimator, Diagnostics, FitSummary
from cqox_estimator.estimators.errors import EstimationError

MIN_CLUSTERS = 2
NEVER = 1 << 62  # first treated period of never-treated units (exact as a float, beyond any code)
FEW_CLUSTERS = 30
# Event-study leads tested for pre-trends: periods -MAX_LEADS..-2 before adoption (-1 is the
# reference; earlier periods are binned into the furthest lead).
MAX_LEADS = 5


class TwoWayFixedEffects(CausalEstimator):
    """y_it = a_i + l_t + tau * D_it + X_it b + e_it, SE clustered by unit (or the cluster role).

    tau is the average effect on treated unit-periods when effects are homogeneous. With
    staggered adoption and effects that vary over time it is a weighted average whose weights
    can be negative (Goodman-Bacon 2021; de Chaisemartin and D'Haultfoeuille 2020); the
    diagnostics report the timing and the share of treated rows with negative weight.
    """

    adjustment_kind = Adjustment.DESIGN
    relies_on_overlap = False

    method = "twfe"
    estimand = "ATT"
    panel = True

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        unit, time = self.unit_, self.time_
        timing = _treatment_timing(unit, time, t)
        index = pd.MultiIndex.from_arrays([unit, time], names=["unit", "time"])
        exog = pd.DataFrame(X, index=index, columns=[f"x{j}" for j in range(X.shape[1])])
        exog.insert(0, "treatment", t.astype(float))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # absorbed covariates are reported in the diagnostics
            model = PanelOLS(
                pd.Series(y, index=index, name="outcome"),
                exog,
                entity_effects=True,
                time_effects=True,
                drop_absorbed=True,
            )
            fitted = model.fit(**self._clustering(index))
        if "treatment" not in fitted.params.index:
            raise EstimationError("the treatment is absorbed by the unit and time fixed effects")
        absorbed = X.shape[1] - (len(fitted.params) - 1)
        n_clusters = int(timing["n_units"]) if self.cluster_ is None else int(self.cluster_.max()) + 1
        clusters = unit if self.cluster_ is None else self.cluster_
        n_treated_clusters = int(np.unique(clusters[t == 1]).size)
        negative_share = _negative_weight_share(t, X, index)
        diagnostics: Diagnostics = {
            **timing,
            "cluster": "unit" if self.cluster_ is None else "cluster column",
            "n_clusters": float(n_clusters),
            # Cluster-robust SEs lean on the treated clusters' residuals: with one or a few treated
            # units they are far too small (Conley and Taber 2011); the treated_clusters gate says so.
            "n_treated_clusters": float(n_treated_clusters),
            "within_r2": float(fitted.rsquared_within),
            "absorbed_covariates": float(absorbed),
            "negative_weight_share": negative_share,
            **_pretrend_test(y, t, X, index, timing, self._clustering(index), n_clusters),
        }
        notes = _notes(timing, negative_share, n_clusters)
        if notes:
            diagnostics["warning"] = " ".join(notes)
        if absorbed:
            diagnostics["absorbed_note"] = "time-invariant covariates are absorbed by the unit effects"
        return FitSummary(
            ate=float(fitted.params["treatment"]),
            stderr=float(fitted.std_errors["treatment"]),
            inference="cluster",
            dof=float(n_clusters - 1),
            diagnostics=diagnostics,
        )

    def _clustering(self, index: pd.MultiIndex) -> dict[str, Any]:
        return _clustering_options(self.cluster_, index)


def _clustering_options(cluster: NDArray[np.int64] | None, index: pd.MultiIndex) -> dict[str, Any]:
    """PanelOLS.fit options: cluster by unit, or by the mapped cluster column's codes."""
    options: dict[str, Any] = {"cov_type": "clustered", "group_debias": True}
    if cluster is None:
        return {**options, "cluster_entity": True}
    return {**options, "clusters": pd.DataFrame({"cluster": cluster}, index=index)}


def did_treatment(df: pd.DataFrame, roles: RoleMapping) -> tuple[pd.DataFrame, RoleMapping, str | None]:
    """The treatment a panel method fits: D_it itself, or group x post in the classic DiD layout.

    When the mapping names a post-period indicator and the treatment column is fixed within every
    unit (it marks the treated group), the unit is treated in its post periods only; the returned
    frame and roles carry that 0/1 treatment, and the note says so.
    """
    treatment, post, unit = roles.treatment, roles.post, roles.unit
    if not (treatment and post and unit) or not {treatment, post, unit} <= set(df.columns):
        return df, roles, None
    if df.groupby(unit, dropna=True)[treatment].nunique(dropna=True).max() > 1:
        return df, roles, None  # already varies within units: it is D_it
    group = _zero_one(df[treatment], roles.treatment_coding, "treatment")
    after = _zero_one(df[post], {}, "post-period indicator")
    combined = group * after
    note = f"treatment = {treatment} x {post} (the treated group in its post periods)"
    return df.assign(**{treatment: combined}), roles.model_copy(update={"treatment_coding": {}}), note


def _zero_one(values: pd.Series, coding: dict[str, int], role: str) -> pd.Series:
    """0/1 floats (NaN where missing) from bools, 0/1 numbers or labels the coding names."""
    if coding:
        lookup = {str(label).strip(): float(code) for label, code in coding.items()}
        return values.map(lambda v: lookup.get(str(v).strip(), np.nan) if pd.notna(v) else np.nan)
    numeric = (
        values.astype(float) if pd.api.types.is_bool_dtype(values) else pd.to_numeric(values, errors="coerce")
    )
    if not numeric.dropna().isin([0.0, 1.0]).all() or numeric.isna().sum() > values.isna().sum():
        raise EstimationError(f"the {role} {values.name!r} must be 0/1 or true/false for a DiD")
    return numeric.astype(float)


def _treatment_timing(
    unit: NDArray[np.int64], time: NDArray[np.int64], t: NDArray[np.int64]
) -> dict[str, float]:
    """Units, periods, balance and adoption pattern; refuses panels TWFE cannot use."""
    frame = pd.DataFrame({"unit": unit, "time": time, "t": t})
    n_units, n_periods = int(unit.max()) + 1, int(time.max()) + 1
    if n_periods < 2:
        raise EstimationError("a panel needs at least two periods; the time column has one")
    if n_units < MIN_CLUSTERS:
        raise EstimationError("a panel needs at least two units to cluster the standard errors")
    share = frame.groupby("unit")["t"].mean()
    switchers = share[(share > 0) & (share < 1)].index
    if len(switchers) == 0:
        raise EstimationError(
            "the treatment never changes within a unit, so the unit fixed effects absorb it; "
            "two-way fixed effects need units observed both before and after treatment"
        )
    first, switching_off = adoption(unit, time, t)
    cohorts = first.loc[switchers].nunique()
    return {
        "n_units": float(n_units),
        "n_periods": float(n_periods),
        "balanced": float(len(frame) == n_units * n_periods),
        "n_switching_units": float(len(switchers)),
        "n_never_treated_units": float((share == 0).sum()),
        "n_always_treated_units": float((share == 1).sum()),
        "n_adoption_cohorts": float(cohorts),
        "n_units_with_reversals": float(switching_off.sum()),
    }


def adoption(
    unit: NDArray[np.int64], time: NDArray[np.int64], t: NDArray[np.int64]
) -> tuple[pd.Series, pd.Series]:
    """Per unit: the first treated period (NEVER if never treated) and whether treatment is
    switched off again afterwards."""
    ordered = pd.DataFrame({"unit": unit, "time": time, "t": t}).sort_values(["unit", "time"])
    switching_off = (ordered.groupby("unit")["t"].diff() < 0).groupby(ordered["unit"]).any()
    first = ordered[ordered["t"] == 1].groupby("unit")["time"].min()
    return first.reindex(switching_off.index, fill_value=NEVER).astype(np.int64), switching_off


def _negative_weight_share(t: NDArray[np.int64], X: NDArray[np.float64], index: pd.MultiIndex) -> float:
    """Share of treated rows whose implicit TWFE weight is negative (residualised D < 0)."""
    exog = pd.DataFrame(np.column_stack([np.ones(t.shape[0]), X]), index=index)
    exog.columns = [f"c{j}" for j in range(exog.shape[1])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        residual = (
            PanelOLS(
                pd.Series(t.astype(float), index=index),
                exog,
                entity_effects=True,
                time_effects=True,
                drop_absorbed=True,
            )
            .fit()
            .resids.to_numpy()
        )
    treated = t == 1
    return float((residual[treated] < -1e-12).mean())


def _pretrend_test(
    y: NDArray[np.float64],
    t: NDArray[np.int64],
    X: NDArray[np.float64],
    index: pd.MultiIndex,
    timing: dict[str, float],
    clustering: dict[str, Any],
    n_clusters: int,
) -> Diagnostics:
    """Joint Wald test that the event-study leads are zero (no effect before adoption).

    The TWFE regression gains dummies for 2..MAX_LEADS periods before each switching unit's first
    treated period; never-treated units are the comparison. A small p-value says treated and
    comparison units were already drifting apart before treatment: parallel trends is doubtful.
    Not run when units switch treatment off again (adoption time is then ambiguous).
    """
    if timing["n_units_with_reversals"] > 0:
        return {"pretrend_test": "not run: some units switch treatment off again"}
    unit = index.get_level_values("unit").to_numpy()
    time = index.get_level_values("time").to_numpy()
    first = adoption(unit, time, t)[0].reindex(unit).to_numpy()
    event_time = np.where(first != NEVER, time - first, 0)
    lags = sorted({int(-e) for e in event_time if e <= -2})
    if not lags:
        return {"pretrend_test": "not run: no switching unit is seen two or more periods before adoption"}
    leads = list(range(2, min(max(lags), MAX_LEADS) + 1))
    columns = {
        f"lead{k}": ((-event_time == k) if k < leads[-1] else (-event_time >= k)).astype(float) for k in leads
    }
    exog = pd.DataFrame({"treatment": t.astype(float), **columns}, index=index)
    for j in range(X.shape[1]):
        exog[f"x{j}"] = X[:, j]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = PanelOLS(
            pd.Series(y, index=index), exog, entity_effects=True, time_effects=True, drop_absorbed=True
        ).fit(**clustering)
    names = [name for name in columns if name in fitted.params.index]
    if not names:
        return {"pretrend_test": "not run: the leads are absorbed by the fixed effects"}
    b = fitted.params[names].to_numpy()
    V = fitted.cov.loc[names, names].to_numpy()
    wald = float(b @ np.linalg.pinv(V) @ b)
    p_value = float(stats.f.sf(wald / len(names), len(names), max(n_clusters - 1, 1)))
    return {
        "pretrend_test": f"joint F-test of {len(names)} event-study leads (-{leads[-1]}..-2; -1 reference)",
        "pretrend_p_value": p_value,
        "pretrend_max_abs_lead": float(np.abs(b).max()),
    }


def _notes(timing: dict[str, float], negative_share: float, n_clusters: int) -> list[str]:
    notes: list[str] = []
    if timing["n_adoption_cohorts"] > 1:
        notes.append(
            f"Staggered adoption ({int(timing['n_adoption_cohorts'])} cohorts): under effects that "
            "change over time TWFE mixes already-treated units into the controls; compare with cs_did "
            "(Callaway-Sant'Anna), which uses clean comparisons only."
        )
    if negative_share > 0:
        notes.append(f"{negative_share:.0%} of treated rows carry negative weight.")
    if timing["n_units_with_reversals"] > 0:
        notes.append("Some units switch treatment off again; the estimate assumes no carry-over.")
    if n_clusters < FEW_CLUSTERS:
        notes.append(f"Only {n_clusters} clusters: cluster-robust SEs are unreliable below about 30.")
    return notes
