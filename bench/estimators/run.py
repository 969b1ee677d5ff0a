"""Estimator benchmark (on demand, not part of `make test`): our wrapper against the direct call.

    uv run python -m bench.estimators.run [--rows 10000 100000] [--methods ols causal_forest ...]

For each registered method and size (rows x 20 covariates: 2 confounders, a 3-level segment and
16 noise columns), times `domain.estimate` from a data frame (design preparation with its checks,
fit, inference, result with diagnostics) against the same computation called directly in the same
run, two ways:

- `frame`: what a user calling the library by hand writes, from the same data frame: the pandas
  preparation (`dropna` over the used columns, `get_dummies(drop_first=True)` for the covariates
  the method uses, `to_numpy`) and then the library call. This is the like-for-like comparison
  (same input, same output) that the target (ratio <= 1.1) is judged on.
- `arrays`: the library call alone on arrays already prepared (the fit without any data frame
  handling): a lower bound no wrapper that reads a data frame can reach for fits of a few ms.

The library call is the library where the method is one (scipy Welch test, statsmodels OLS with
the same robust covariance, EconML LinearDML / CausalForestDML with the same first stages and
forest settings, plus the per-unit effects the wrapper returns), otherwise our estimator class
fitted on the arrays (`ours`: the identical statistical work without the data frame handling).
The calls are timed alternately and the best of `--repeat` (default 7) runs is kept (heavy methods:
one run each); `prep s` is the time of `design.prepare` alone. Peak memory is the tracemalloc peak of a
separate traced run.
"""

from __future__ import annotations

import argparse
import functools
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from linearmodels.panel import PanelOLS
from scipy import stats
from threadpoolctl import threadpool_limits

from cqox_contracts.v1 import RoleMapping
from cqox_estimator.domain import estimate
from cqox_estimator.estimators import REGISTRY, prepare, select_methods
from cqox_estimator.estimators.nuisance import outcome_learner, propensity_learner
from cqox_estimator.simulation import confounded, staggered_panel

N_EXTRA = 16  # 2 numeric + a three-level categorical (2 columns) + 16 noise = 20 columns
SEED = 0


def direct_calls() -> dict[str, tuple[str, Callable[[Any, Any, Any], object]]]:
    """The library call(s) each wrapper makes, on prepared arrays, with the same models and SE."""

    def diff_in_means(y: Any, t: Any, X: Any) -> object:
        treated, control = y[t == 1], y[t == 0]
        welch = stats.ttest_ind(treated, control, equal_var=False)
        return treated.mean() - control.mean(), welch.pvalue, welch.confidence_interval()

    def ols(y: Any, t: Any, X: Any) -> object:
        return sm.OLS(y, np.column_stack([np.ones(len(y)), t, X])).fit(cov_type="HC1").bse[1]

    def ols_interacted(y: Any, t: Any, X: Any) -> object:
        centred = X - X.mean(axis=0)
        design = np.column_stack([np.ones(len(y)), t, centred, t[:, None] * centred])
        fitted = sm.OLS(y, design).fit(cov_type="HC2")
        gamma = fitted.params[2 + X.shape[1] :]
        variance = fitted.bse[1] ** 2 + gamma @ np.cov(X, rowvar=False) @ gamma / len(y)
        return np.sqrt(variance), fitted.params[1] + centred @ gamma

    def linear_dml(y: Any, t: Any, X: Any) -> object:
        from econml.dml import LinearDML

        params = REGISTRY["linear_dml"].build().get_params()
        model = LinearDML(
            model_y=outcome_learner(params["outcome_model"], SEED),
            model_t=propensity_learner(params["propensity_model"], SEED),
            discrete_treatment=True, cv=params["n_folds"], random_state=SEED,
        ).fit(y, t, X=X)  # fmt: skip
        return model.ate_inference(X=X).stderr_mean, model.effect(X)

    def causal_forest(y: Any, t: Any, X: Any) -> object:
        from econml.dml import CausalForestDML

        estimator = REGISTRY["causal_forest"].build()
        params = estimator.get_params()
        model = CausalForestDML(
            model_y=outcome_learner(params["outcome_model"], SEED),
            model_t=propensity_learner(params["propensity_model"], SEED),
            discrete_treatment=True, cv=params["n_folds"], random_state=SEED,
            n_estimators=params["n_estimators"], min_samples_leaf=params["min_samples_leaf"],
            max_samples=estimator._subsample(len(y)), n_jobs=1,
        ).fit(y, t, X=X)  # fmt: skip
        return model.ate_stderr_, model.effect(X)

    return {
        "diff_in_means": ("scipy", diff_in_means),
        "ols": ("statsmodels", ols),
        "ols_interacted": ("statsmodels", ols_interacted),
        "linear_dml": ("econml", linear_dml),
        "causal_forest": ("econml", causal_forest),
    }


def on_arrays(name: str) -> Callable[[Any, Any, Any], object]:
    """Our own implementations (no single library call): the estimator class fitted on arrays."""

    def fit(y: Any, t: Any, X: Any) -> object:
        estimator = REGISTRY[name].build()
        if "random_state" in estimator.get_params():
            estimator.set_params(random_state=SEED)
        return estimator.fit(y, t, X=X).ate_stderr_

    return fit


def user_arrays(frame: pd.DataFrame, roles: RoleMapping, covariates: bool) -> tuple[Any, Any, Any]:
    """y, t, X as a user preparing the library call by hand gets them from the data frame."""
    used = [roles.treatment, roles.outcome, *roles.covariates]
    data = frame[used].dropna()
    X = (
        pd.get_dummies(data[roles.covariates], drop_first=True, dtype=float).to_numpy()
        if covariates
        else None
    )
    return data[roles.outcome].to_numpy(dtype=float), data[roles.treatment].to_numpy(dtype=float), X


def from_frame(
    function: Callable[[Any, Any, Any], object], frame: pd.DataFrame, roles: RoleMapping, covariates: bool
) -> object:
    """The library call as a user makes it by hand: prepare the arrays from the frame, then call."""
    return function(*user_arrays(frame, roles, covariates))


def best_times(*calls: Callable[[], object], repeat: int) -> list[float]:
    """Fastest wall time of each call, run alternately `repeat` times (so a busy machine slows
    every side alike)."""
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(repeat):
        for call, out in zip(calls, times, strict=True):
            started = time.perf_counter()
            call()
            out.append(time.perf_counter() - started)
    return [min(t) for t in times]


def best_time(call: Callable[[], object], repeat: int) -> float:
    """Fastest wall time of `repeat` runs."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def peak_mb(call: Callable[[], object]) -> float:
    """tracemalloc peak (MB) of one run."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def main() -> None:
    """Print one row per method and size."""
    threadpool_limits(limits=1)  # as the estimator service runs (CQOX_ESTIMATOR_BLAS_THREADS)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--methods", nargs="+", default=None)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    direct = direct_calls()
    print(
        f"{'method':18s} {'rows':>7s} {'fit s':>8s} {'peak MB':>8s} {'frame s':>8s} {'ratio':>6s} "
        f"{'arrays s':>9s} {'ratio':>6s} {'library':>11s} {'prep s':>7s}  estimate"
    )
    for rows in args.rows:
        frame = confounded(rows, SEED, n_extra=N_EXTRA)
        covariates = ["x1", "x2", "segment", *[f"z{j + 1}" for j in range(N_EXTRA)]]
        roles = RoleMapping(treatment="treated", outcome="y", covariates=covariates)
        design = prepare(frame, roles)
        assert design.X.shape[1] == 20
        prepare_s = best_time(functools.partial(prepare, frame, roles), 5)
        names = args.methods or select_methods(roles, "observational", "auto")[0]
        for name in names:
            if name in REGISTRY and REGISTRY[name].estimator.panel:
                continue  # timed on a panel by bench_panel
            if name not in REGISTRY:
                raise SystemExit(f"unknown method {name}")
            wrapped = functools.partial(estimate, name, frame, roles, seed=SEED)
            source, function = direct.get(name, ("ours", on_arrays(name)))
            call = functools.partial(function, design.y, design.t.astype(float), design.X)
            with_covariates = REGISTRY[name].estimator.uses_covariates

            by_hand = functools.partial(from_frame, function, frame, roles, with_covariates)

            light = REGISTRY[name].cost == "light"
            result = wrapped()  # also warms up imports and caches for every side
            # Heavy methods (seconds to minutes per fit) are timed once each, memory not traced.
            fit_s, frame_s, direct_s = best_times(wrapped, by_hand, call, repeat=args.repeat if light else 1)
            memory = peak_mb(wrapped) if light else float("nan")
            print(
                f"{name:18s} {rows:7d} {fit_s:8.3f} {memory:8.1f} {frame_s:8.3f} {fit_s / frame_s:6.2f} "
                f"{direct_s:9.3f} {fit_s / direct_s:6.2f} {source:>11s} {prepare_s:7.4f}  "
                f"{result.estimand} {result.estimate:.3f} (SE {result.std_error:.3f})",
                flush=True,
            )
    panel_methods = [m for m, spec in REGISTRY.items() if spec.estimator.panel]
    for name in [m for m in panel_methods if args.methods is None or m in args.methods]:
        for rows in args.rows:
            bench_panel(name, rows, args.repeat)


def bench_panel(name: str, rows: int, repeat: int) -> None:
    """A panel method on a staggered panel of rows/20 units x 20 periods with 18 covariates.

    twfe is compared with one linearmodels PanelOLS fit (unit and period effects, unit-clustered
    SE), by hand from the frame (`set_index`, `astype`) and on a prepared index; the wrapper also
    fits the event-study pre-trend regression and the negative-weight diagnostic: three fits.
    cs_did is compared with its class fitted on the arrays, prepared by us in both columns."""
    frame = staggered_panel(rows // 20, 20, SEED, n_extra=N_EXTRA)
    covariates = ["x1", "x2", *[f"z{j + 1}" for j in range(N_EXTRA)]]
    roles = RoleMapping(treatment="treated", outcome="y", unit="unit", time="period", covariates=covariates)

    def panel_data() -> tuple[pd.Series, pd.DataFrame]:
        data = frame.dropna(subset=["y", "treated", *covariates]).set_index(["unit", "period"])
        return data["y"], data[["treated", *covariates]].astype(float)

    def panel_ols(outcome: pd.Series, exog: pd.DataFrame) -> object:
        model = PanelOLS(outcome, exog, entity_effects=True, time_effects=True)
        return model.fit(cov_type="clustered", cluster_entity=True, group_debias=True).std_errors

    def on_arrays() -> object:
        design = prepare(frame, roles, panel=True)
        fitted = (
            REGISTRY[name].build().fit(design.y, design.t, X=design.X, unit=design.unit, time=design.time)
        )
        return fitted.ate_stderr_

    wrapped = functools.partial(estimate, name, frame, roles, seed=SEED)
    result = wrapped()
    if name == "twfe":
        prepared = panel_data()
        source = "linearmodels"
        fit_s, frame_s, direct_s = best_times(
            wrapped, lambda: panel_ols(*panel_data()), lambda: panel_ols(*prepared), repeat=repeat
        )
    else:
        source = "ours"
        fit_s, frame_s = best_times(wrapped, on_arrays, repeat=repeat)
        direct_s = frame_s
    memory = peak_mb(wrapped)
    note = "; wrapper = 3 fits" if name == "twfe" else ""
    print(
        f"{name:18s} {rows:7d} {fit_s:8.3f} {memory:8.1f} {frame_s:8.3f} {fit_s / frame_s:6.2f} "
        f"{direct_s:9.3f} {fit_s / direct_s:6.2f} {source:>11s} {'':>7s}  "
        f"{result.estimand} {result.estimate:.3f} (SE {result.std_error:.3f}{note})",
        flush=True,
    )


if __name__ == "__main__":
    main()
