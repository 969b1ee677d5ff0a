"""Estimation as a pure function: data frame and roles in, `EstimateResult` out (no I/O)."""

from __future__ import annotations

import inspect
import io
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from cqox_contracts.v1 import SEED_RANGE, EstimateResult, RoleMapping
from cqox_estimator.estimators import (
    REGISTRY,
    BinaryTreatmentRequired,
    DesignData,
    EstimationError,
    prepare,
)
from cqox_estimator.estimators.base import CausalEstimator
from cqox_estimator.estimators.bounds import keep_missing_outcome
from cqox_estimator.estimators.panel import did_treatment


@dataclass(frozen=True)
class MethodRun:
    """One method's result plus the per-unit tables it produced (none for average-only methods)."""

    result: EstimateResult
    effects: pd.DataFrame | None = None  # unit, row, cate
    policy: pd.DataFrame | None = None  # unit, row, recommended_arm, expected_gain

    def files(self) -> list[tuple[str, bytes, str]]:
        """(file name, bytes, media type) of every table, ready for the artifact store."""
        out: list[tuple[str, bytes, str]] = []
        if self.effects is not None:
            buffer = io.BytesIO()
            self.effects.to_parquet(buffer, index=False)
            out.append(
                (f"cate_{self.result.method}.parquet", buffer.getvalue(), "application/vnd.apache.parquet")
            )
        if self.policy is not None:
            text = neutralise_formulas(self.policy).to_csv(index=False).encode()
            out.append((f"policy_{self.result.method}.csv", text, "text/csv"))
        return out


FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells and column names cannot run as spreadsheet formulas (OWASP CSV injection).

    A text cell starting with =, +, -, @, tab or CR gets a leading apostrophe; numbers stay numbers
    (a spreadsheet reads -0.3 as a value, never as a formula).
    """

    def safe(value: Any) -> Any:
        return "'" + value if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) else value

    out = frame.copy()
    for column in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[column]) or pd.api.types.is_bool_dtype(out[column])):
            out[column] = out[column].map(safe)
    out.columns = [safe(str(column)) for column in out.columns]
    return out


# The second seed of a stability check: far from the first, derived from it (same input, same answer).
SECOND_SEED_OFFSET = 104_729


def other_seed(seed: int, k: int = 1) -> int:
    """The k-th seed after `seed` for a refit, kept in range (a seed near 2**32 wraps around)."""
    return (seed + k * SECOND_SEED_OFFSET) % SEED_RANGE


# Most extra seeds a stability check fits (two: three pairs of seeds, so one lucky pair cannot hide
# an unstable method).
MAX_EXTRA_SEEDS = 2
# A first pair of seeds closer than this many SEs settles the check with one extra fit (clearly
# stable); a wider move earns the third seed, so the verdict does not rest on one lucky pair.
SETTLED_SPREAD_SE = 0.25
# A seed-dependent method whose fit took at most this many CPU seconds is fitted again with other
# seeds (so "cheap" follows the data's size, not a list of methods); slower ones get their cheaper
# partial refit, if any. The service's setting CQOX_ESTIMATOR_SEED_REFIT_BUDGET_S overrides it.
SEED_REFIT_BUDGET_S = 10.0


def estimate(
    method: str,
    df: pd.DataFrame,
    roles: RoleMapping,
    *,
    ci_level: float = 0.95,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    seed_refit_budget_s: float = SEED_REFIT_BUDGET_S,
) -> EstimateResult:
    """Run one registered method on `df`; `EstimationError` says why the data cannot support it."""
    return run(
        method,
        df,
        roles,
        ci_level=ci_level,
        seed=seed,
        options=options,
        seed_refit_budget_s=seed_refit_budget_s,
    ).result


def run(
    method: str,
    df: pd.DataFrame,
    roles: RoleMapping,
    *,
    ci_level: float = 0.95,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    seed_refit_budget_s: float = SEED_REFIT_BUDGET_S,
) -> MethodRun:
    """Like `estimate`, also returning per-unit effects and policy tables of CATE methods.

    A seed-dependent method whose fit took at most `seed_refit_budget_s` CPU seconds is fitted
    again with other seeds (`_seed_stability`); a slower one gives its cheaper internal estimate, if any.
    """
    started = time.perf_counter()
    spec = REGISTRY.get(method)
    if spec is None:
        raise EstimationError(f"unknown method {method!r}; known methods: {', '.join(REGISTRY)}")
    if not 0 < ci_level < 1:
        raise EstimationError(f"ci_level must be between 0 and 1, got {ci_level}")
    missing = spec.missing_roles(roles)
    if missing:
        raise EstimationError(f"{method} needs the {', '.join(missing)} role(s)")
    accepted = set(inspect.signature(spec.estimator.__init__).parameters) - {"self"}
    unknown = sorted(set(options or {}) - accepted)
    if unknown:
        raise EstimationError(
            f"unknown option(s) for {method}: {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(accepted)) or 'none'}"
        )

    did_note = None
    if spec.estimator.panel:
        df, roles, did_note = did_treatment(df, roles)
    observed = None
    if getattr(spec.estimator, "keeps_missing_outcome", False):  # lee_bounds: lost outcomes are data
        df, observed = keep_missing_outcome(df, roles.outcome)
    try:
        design = prepare(df, roles, **spec.estimator.requirements())
    except BinaryTreatmentRequired as exc:
        raise exc.with_hint([name for name, other in REGISTRY.items() if other.estimator.multi_arm]) from exc
    estimator = spec.build(options)
    if "random_state" in accepted and "random_state" not in (options or {}):
        estimator.set_params(random_state=seed)  # the analysis seed, unless the user fixed one
    if "cutoff" in accepted and "cutoff" not in (options or {}) and roles.cutoff is not None:
        estimator.set_params(cutoff=roles.cutoff)  # the mapping's (or the user's) threshold
    outcome = design.y if observed is None else np.where(observed[design.rows], design.y, np.nan)
    try:
        # CPU seconds of this thread (fits run single-threaded): the fit's cost on these data, not
        # how busy the machine was, so the same input gets the same stability check under load.
        fit_started = time.thread_time()
        estimator.fit(outcome, design.t, X=design.X, **design.fit_keywords())
        fit_s = time.thread_time() - fit_started
        stability = _seed_stability(estimator, outcome, design, seed, options, fit_s, seed_refit_budget_s)
    except np.linalg.LinAlgError as exc:
        raise EstimationError(f"{method} failed numerically: {exc}") from exc
    result = estimator.result(ci_level=ci_level, design=design, runtime_s=time.perf_counter() - started)
    if stability:
        result = result.model_copy(update={"diagnostics": {**result.diagnostics, **stability}})
    if did_note:
        result = result.model_copy(
            update={"diagnostics": {**result.diagnostics, "treatment_definition": did_note}}
        )
    return MethodRun(
        result=result,
        effects=_unit_table(estimator, design, df, roles, "effects") if spec.writes("effects") else None,
        policy=_unit_table(estimator, design, df, roles, "policy") if spec.writes("policy") else None,
    )


def _seed_stability(
    estimator: CausalEstimator,
    outcome: np.ndarray,
    design: DesignData,
    seed: int,
    options: dict[str, Any] | None,
    fit_s: float,
    budget_s: float,
) -> dict[str, float | str | None]:
    """How far other seeds move a seed-dependent estimate, in units of its first SE.

    A method whose first fit took at most `budget_s` CPU seconds (`fit_s`) is fitted again with up to MAX_EXTRA_SEEDS
    more seeds (the second only when the first pair moved by more than SETTLED_SPREAD_SE), and
    the spread is the mean absolute difference between the estimates of two seeds (every pair).
    A fit too slow for one more gives its own cheaper partial refit (`internal_seed_refit`, e.g. the
    forest regrown on the same residuals: a lower bound) or the reason it is not measured
    (`seed_stability`). `seed_spread_se` is what the quality gate's unstable_across_seeds judges.
    Nothing for methods whose estimate does not depend on the seed or a seed the user fixed.
    """
    if not estimator.estimate_uses_seed or "random_state" in (options or {}):
        return {}
    extra = MAX_EXTRA_SEEDS if fit_s <= budget_s else 0
    estimates = [float(estimator.ate_)]
    if extra:
        for k in range(1, extra + 1):
            second = clone(estimator).set_params(random_state=other_seed(seed, k))
            second.fit(outcome, design.t, X=design.X, **design.fit_keywords())
            estimates.append(float(second.ate_))
            if abs(estimates[1] - estimates[0]) <= SETTLED_SPREAD_SE * float(estimator.ate_stderr_):
                break  # the first pair already agrees closely: no need for a third seed
        how = (
            f"fitted again with {len(estimates) - 1} more seed(s), within the {budget_s:g} CPU-second budget"
        )
    else:
        partial = estimator.internal_seed_refit(other_seed(seed))
        if partial is None:
            return {
                "seed_stability": (
                    f"not measured: the first fit overran the {budget_s:g} CPU-second budget for a second "
                    f"one, and {estimator.method} has no cheaper partial refit"
                )
            }
        estimates.append(partial[0])
        how = f"{partial[1]}; the first fit overran the {budget_s:g} CPU-second budget for a second one"
    pairs = [abs(a - b) for i, a in enumerate(estimates) for b in estimates[i + 1 :]]
    return {
        "estimate_second_seed": estimates[1],
        "seed_estimates": ", ".join(f"{value:.6g}" for value in estimates),
        "seed_spread_se": float(np.mean(pairs)) / float(estimator.ate_stderr_),
        "seed_stability": how,
    }


def _unit_table(
    estimator: CausalEstimator, design: DesignData, df: pd.DataFrame, roles: RoleMapping, kind: str
) -> pd.DataFrame | None:
    """Per-unit rows keyed by the unit column (if mapped) and the row number in the upload."""
    effects = getattr(estimator, "effects_", None)
    if effects is None:
        return None
    table = pd.DataFrame({"row": design.rows})
    if roles.unit and roles.unit in df.columns:
        table.insert(0, "unit", df[roles.unit].iloc[design.rows].astype(str).to_numpy())
    if kind == "effects":
        table["cate"] = effects
        return table
    recommendation = getattr(estimator, "recommendation_", None)
    if recommendation is None:
        return None
    table["recommended_arm"] = np.where(recommendation == 1, "treat", "control")
    table["expected_gain"] = np.where(recommendation == 1, effects, 0.0)
    return table
