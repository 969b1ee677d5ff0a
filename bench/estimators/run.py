"""Estimator benchmark (on demand, not part of `make test`): our wrapper against the direct call.

    uv run python -m bench.estimators.run [--rows 10000 100000] [--methods ols causal_forest ...]

For each registered method and size (rows x 20 covariates: 2 confounders, a 3-level segment and
17 noise columns), times `domain.estimate` from a data frame (design preparation, fit, inference,
result) and, where the method is one library call, the same computation called directly on arrays
(statsmodels OLS, EconML LinearDML / CausalForestDML with the same first stages) in the same run;
the ratio is wrapper / direct (target <= 1.1). Peak memory is the tracemalloc peak of a second,
traced run (numpy buffers included). Times are the best of `--repeat` untraced runs.
"""

from __future__ import annotations

import argparse
import functools
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import statsmodels.api as sm
from threadpoolctl import threadpool_limits

from cqox_contracts.v1 import RoleMapping
from cqox_estimator.domain import estimate
from cqox_estimator.estimators import REGISTRY, prepare, select_methods
from cqox_estimator.estimators.nuisance import outcome_learner, propensity_learner
from cqox_estimator.simulation import confounded

N_EXTRA = 16  # 2 numeric + a three-level categorical (2 columns) + 16 noise = 20 columns
SEED = 0


def direct_calls(spec_options: dict[str, dict[str, Any]]) -> dict[str, Callable[[Any, Any, Any], object]]:
    """The library call each wrapper makes, on prepared arrays."""

    def ols(y: Any, t: Any, X: Any) -> object:
        return sm.OLS(y, np.column_stack([np.ones(len(y)), t, X])).fit(cov_type="HC1").bse[1]

    def ols_interacted(y: Any, t: Any, X: Any) -> object:
        centred = X - X.mean(axis=0)
        design = np.column_stack([np.ones(len(y)), t, centred, t[:, None] * centred])
        return sm.OLS(y, design).fit(cov_type="HC2").bse[1]

    def linear_dml(y: Any, t: Any, X: Any) -> object:
        from econml.dml import LinearDML

        model = LinearDML(
            model_y=outcome_learner("linear", SEED), model_t=propensity_learner("linear", SEED),
            discrete_treatment=True, cv=3, random_state=SEED,
        ).fit(y, t, X=X)  # fmt: skip
        return model.ate_inference(X=X).stderr_mean, model.effect(X)

    def causal_forest(y: Any, t: Any, X: Any) -> object:
        from econml.dml import CausalForestDML

        model = CausalForestDML(
            model_y=outcome_learner("lightgbm", SEED), model_t=propensity_learner("lightgbm", SEED),
            discrete_treatment=True, cv=3, random_state=SEED, n_estimators=100, min_samples_leaf=5,
            n_jobs=1,
        ).fit(y, t, X=X)  # fmt: skip
        return model.ate_stderr_, model.effect(X)

    return {
        "ols": ols,
        "ols_interacted": ols_interacted,
        "linear_dml": linear_dml,
        "causal_forest": causal_forest,
    }


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
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    direct = direct_calls({})
    print(
        f"{'method':18s} {'rows':>7s} {'fit s':>8s} {'peak MB':>8s} {'direct s':>9s} {'ratio':>6s}  estimate"
    )
    for rows in args.rows:
        frame = confounded(rows, SEED, n_extra=N_EXTRA)
        covariates = ["x1", "x2", "segment", *[f"z{j + 1}" for j in range(N_EXTRA)]]
        roles = RoleMapping(treatment="treated", outcome="y", covariates=covariates)
        design = prepare(frame, roles)
        assert design.X.shape[1] == 20
        names = args.methods or select_methods(roles, "observational", "auto")[0]
        for name in names:
            if name not in REGISTRY:
                raise SystemExit(f"unknown method {name}")
            wrapped = functools.partial(estimate, name, frame, roles, seed=SEED)
            result = wrapped()
            fit_s = best_time(wrapped, args.repeat)
            memory = peak_mb(wrapped)
            if name in direct:
                call = functools.partial(direct[name], design.y, design.t.astype(float), design.X)
                direct_s = best_time(call, args.repeat)
                ratio = f"{fit_s / direct_s:6.2f}"
                direct_text = f"{direct_s:9.3f}"
            else:
                ratio, direct_text = f"{'-':>6s}", f"{'-':>9s}"
            print(
                f"{name:18s} {rows:7d} {fit_s:8.3f} {memory:8.1f} {direct_text} {ratio}  "
                f"{result.estimand} {result.estimate:.3f} (SE {result.std_error:.3f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
