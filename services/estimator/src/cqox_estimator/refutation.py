"""Refuters as pure functions: change the data so the answer is known, rerun the method (no I/O).

Each refuter reruns one registered method through `domain.run` (the same code as the estimate,
the same analysis seed for the method's own random steps) on a changed copy of the frame:

- placebo_treatment: the treatment permuted across rows (panels: adoption dates permuted across
  units), so it is independent of everything; the estimated effect must vanish. A sharp RD gets a
  placebo cutoff instead (the median of the running variable on the larger side, that side's rows
  only), where the outcome has no reason to jump;
- random_common_cause: an independent standard-normal covariate added; the estimate must not move;
- data_subset: a few 80 % subsamples of the rows (panels: of the treated and of the other units
  apart, at least one treated unit kept); each estimate may move only as far as sampling explains,
  sqrt((1 - f) / f) standard errors;
- placebo_outcome: a pre-treatment outcome (the `pre_outcome` role, or in a panel the outcome's
  lag before adoption) in place of the outcome; the treatment cannot have moved it;
- placebo_adoption (panels): adoption moved half way into the periods before the first real
  adoption, later periods left out; the effect must vanish.

A synthetic control (a method that weighs a pool of never-treated donors) gets the donor versions:

- placebo_treatment, placebo in space: the treatment moved to as many donors as there are treated
  units (drawn from the analysis seed), the real treated units left out; judged, as the estimate
  is, by the placebo's post/pre RMSPE ratio ranked among the other donors' (Abadie et al. 2010);
- placebo_adoption, placebo in time: the same fake adoption half way into the pre-period, judged
  by the same rank (Abadie, Diamond & Hainmueller 2015): the gap must stay as small as the
  pre-period fit;
- data_subset, leave one donor out: every donor with weight above 1 % left out in turn; the
  estimate must not hang on one donor (a Bonferroni-corrected normal test of the largest move,
  conservative: a sound fit moves far less than one placebo SE).

Every random change is seeded from the analysis seed, so the same input gives the same answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cqox_contracts.v1 import (
    AVERAGE_ESTIMANDS,
    SEED_RANGE,
    EstimateResult,
    Refutation,
    Refuter,
    RoleMapping,
)
from cqox_estimator.domain import run
from cqox_estimator.estimators import MIN_ROWS_PER_ARM, REGISTRY, EstimationError
from cqox_estimator.estimators.panel import did_treatment
from cqox_estimator.estimators.synthetic import WEIGHT_REPORTED, SyntheticControl, simplex_weights
from cqox_shared.periods import PeriodLabelError, period_order

SUBSET_SHARE = 0.8
SUBSET_DRAWS = 3
RANDOM_CAUSE = "random_common_cause"  # name of the added covariate column
LAGGED_OUTCOME = "lagged_outcome"  # name of the panel's placebo outcome column
PLACEBO_P_VALUE = "placebo_p_value"  # a donor-placebo method's rank p-value (its diagnostics key)
# Offsets of each refuter's random stream from the analysis seed (fixed: same input, same answer).
_STREAM = {
    Refuter.PLACEBO_TREATMENT: 1,
    Refuter.RANDOM_COMMON_CAUSE: 2,
    Refuter.DATA_SUBSET: 3,
}


def refutable(method: str) -> bool:
    """Whether refuters run on this method: what its registry entry and class declare.

    Light methods whose estimate is an average effect (design-based ones too: DiD, IV, RD, each
    with the refuters its design admits, `applicable_refuters`); not bounds nor policy gains.
    A method for one treated unit is refuted only when it builds it from a donor pool (synthetic
    control): its placebos are the donors.
    """
    spec = REGISTRY.get(method)
    if spec is None:
        return False
    estimator = spec.estimator
    return (
        spec.cost == "light"
        and estimator.estimand in AVERAGE_ESTIMANDS
        and (estimator.min_rows_per_arm >= MIN_ROWS_PER_ARM or donor_based(method))
    )


def donor_based(method: str) -> bool:
    """Whether the method weighs a pool of never-treated donors (a synthetic control)."""
    spec = REGISTRY.get(method)
    return spec is not None and issubclass(spec.estimator, SyntheticControl)


def applicable_refuters(method: str, roles: RoleMapping) -> dict[str, str | None]:
    """Every refuter with None when it applies to this method and roles, else why not."""
    estimator = REGISTRY[method].estimator
    panel = estimator.panel
    rough = (
        None
        if estimator.smooth
        else (
            f"{method} is not a smooth function of the data: any change re-matches units and moves "
            "it by more than its standard error explains even when it is right, so this check has "
            "no calibrated threshold for it"
        )
    )
    return {
        Refuter.PLACEBO_TREATMENT: _placebo_treatment_reason(method, estimator.design_roles),
        Refuter.RANDOM_COMMON_CAUSE: (
            rough
            if estimator.uses_covariates
            else f"{method} ignores covariates: an added one cannot move it"
        ),
        Refuter.DATA_SUBSET: rough,
        Refuter.PLACEBO_OUTCOME: (
            (
                f"{method} fits the treated unit's own outcomes before adoption, so an earlier outcome "
                "is what it matched, not a placebo: its pre-period check is placebo_adoption (a fake "
                "adoption date)"
            )
            if donor_based(method)
            else None
            if roles.pre_outcome or panel
            else "no pre-treatment outcome: map one as the pre_outcome role (e.g. last year's outcome)"
        ),
        Refuter.PLACEBO_ADOPTION: None if panel else "placebo adoption dates are for panels",
    }


def _placebo_treatment_reason(method: str, design_roles: tuple[str, ...]) -> str | None:
    if "instrument" in design_roles:
        return (
            f"{method} identifies the effect through the instrument: a permuted treatment has no first "
            "stage, so its placebo estimate is undefined (the instrument's strength is the "
            "weak_instrument gate's to judge; its exclusion cannot be tested)"
        )
    return None


def refute(
    method: str,
    df: pd.DataFrame,
    roles: RoleMapping,
    *,
    ci_level: float = 0.95,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    refuters: list[str] | None = None,
) -> list[Refutation]:
    """Run the refuters that apply (all, or those named) on `method`; one result per refuter run.

    Raises `EstimationError` when the method fails on the data as given (nothing to refute).
    A refuter whose changed data the method cannot fit comes back with `error` set.
    """
    spec = REGISTRY[method]
    options = dict(options or {})
    if "random_state" in _accepted(method):
        options.setdefault("random_state", seed)  # one fit per run: no second-seed stability refit
    if spec.estimator.panel:
        df, roles, _ = did_treatment(df, roles)

    def fit(frame: pd.DataFrame, frame_roles: RoleMapping) -> EstimateResult:
        return run(method, frame, frame_roles, ci_level=ci_level, seed=seed, options=options).result

    baseline = fit(df, roles)
    wanted = set(refuters) if refuters else None
    runners: dict[str, Callable[[], Refutation]] = {
        Refuter.PLACEBO_TREATMENT: lambda: _placebo_treatment(method, df, roles, baseline, fit, seed),
        Refuter.RANDOM_COMMON_CAUSE: lambda: _random_common_cause(method, df, roles, baseline, fit, seed),
        Refuter.DATA_SUBSET: lambda: _data_subset(method, df, roles, baseline, fit, seed),
        Refuter.PLACEBO_OUTCOME: lambda: _placebo_outcome(method, df, roles, baseline, fit),
        Refuter.PLACEBO_ADOPTION: lambda: _placebo_adoption(method, df, roles, baseline, fit),
    }
    if donor_based(method):
        runners[Refuter.PLACEBO_TREATMENT] = lambda: _placebo_in_space(method, df, roles, baseline, fit, seed)
        runners[Refuter.DATA_SUBSET] = lambda: _leave_one_donor_out(method, df, roles, baseline, fit)
        runners[Refuter.PLACEBO_ADOPTION] = lambda: _placebo_in_time(method, df, roles, baseline, fit)
    out: list[Refutation] = []
    for name, reason in applicable_refuters(method, roles).items():
        if reason is not None or (wanted is not None and name not in wanted):
            continue
        try:
            out.append(runners[name]())
        except EstimationError as exc:
            out.append(_base(method, name, baseline).model_copy(update={"error": str(exc)}))
    return out


def not_run(method: str, roles: RoleMapping, refuters: list[str] | None = None) -> list[Refutation]:
    """The refuters (all, or those named) that do not apply to `method` on these roles, each with
    why (`not_applicable`): what `refute` leaves out, so a reader is told instead of left to guess."""
    return [
        Refutation(
            method=method,
            refuter=name,
            expectation=_EXPECTATION[Refuter(name)],  # type: ignore[arg-type]
            not_applicable=reason,
        )
        for name, reason in applicable_refuters(method, roles).items()
        if reason is not None and (not refuters or name in refuters)
    ]


def _accepted(method: str) -> set[str]:
    import inspect

    return set(inspect.signature(REGISTRY[method].estimator.__init__).parameters) - {"self"}


_EXPECTATION = {
    Refuter.PLACEBO_TREATMENT: "zero",
    Refuter.RANDOM_COMMON_CAUSE: "unchanged",
    Refuter.DATA_SUBSET: "unchanged",
    Refuter.PLACEBO_OUTCOME: "zero",
    Refuter.PLACEBO_ADOPTION: "zero",
}


def _base(method: str, refuter: str, baseline: EstimateResult) -> Refutation:
    return Refutation(
        method=method,
        refuter=refuter,
        expectation=_EXPECTATION[Refuter(refuter)],  # type: ignore[arg-type]
        estimate=baseline.estimate,
        std_error=baseline.std_error,
    )


def _p_value(result: EstimateResult) -> float | None:
    """The result's p-value of a zero effect, or the normal one from its estimate and SE.

    A multi-arm result is judged on every contrast: the smallest Holm-adjusted p-value, the test
    that no arm differs from the reference (a permuted treatment moves none of them). A method
    whose inference ranks the treated unit among donor placebos is judged by that rank, as its
    estimate is.
    """
    adjusted = [c.p_value_adjusted for c in result.contrasts if c.p_value_adjusted is not None]
    if adjusted:
        return min(adjusted)
    permutation = result.diagnostics.get(PLACEBO_P_VALUE)  # inference by donor placebos: their rank
    if isinstance(permutation, float):
        return permutation
    if result.p_value is not None:
        return result.p_value
    if result.std_error:
        return float(2 * stats.norm.sf(abs(result.estimate / result.std_error)))
    return None


def _shift_se(moved: float, baseline: EstimateResult) -> float | None:
    if not baseline.std_error:
        return None
    return abs(moved - baseline.estimate) / baseline.std_error


def _rng(seed: int, refuter: Refuter, draw: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed % SEED_RANGE, _STREAM[refuter], draw])


def _zero_effect(
    method: str,
    refuter: Refuter,
    result: EstimateResult,
    baseline: EstimateResult,
    change: str,
    seed: int | None,
) -> Refutation:
    return _base(method, refuter, baseline).model_copy(
        update={
            "change": change,
            "refuted_estimate": result.estimate,
            "refuted_std_error": result.std_error,
            "p_value": _p_value(result),
            "shift_se": _shift_se(result.estimate, baseline),
            "draws": [result.estimate],
            "seed": seed,
        }
    )


Fit = Callable[[pd.DataFrame, RoleMapping], EstimateResult]


def _placebo_treatment(
    method: str, df: pd.DataFrame, roles: RoleMapping, baseline: EstimateResult, fit: Fit, seed: int
) -> Refutation:
    rng = _rng(seed, Refuter.PLACEBO_TREATMENT)
    treatment = str(roles.treatment)
    if "running_variable" in REGISTRY[method].estimator.design_roles:
        return _placebo_cutoff(method, df, roles, baseline, fit)
    if REGISTRY[method].estimator.panel:
        ranks, adopted = _panel_timing(df, roles)
        units = adopted.index.to_numpy()
        shuffled = pd.Series(adopted.to_numpy()[rng.permutation(len(units))], index=units)
        first = df[str(roles.unit)].map(shuffled)
        changed = df.assign(**{treatment: (ranks >= first).astype(float)})
        plain_roles = roles.model_copy(update={"treatment_coding": {}})
        change = f"adoption dates of {treatment} permuted across {len(units)} units"
        result = fit(changed, plain_roles)
    else:
        present = df[treatment].notna().to_numpy()
        values = df[treatment].to_numpy(copy=True)
        values[present] = values[present][rng.permutation(int(present.sum()))]
        changed = df.assign(**{treatment: values})
        change = f"{treatment} permuted across {int(present.sum())} rows"
        result = fit(changed, roles)
    return _zero_effect(method, Refuter.PLACEBO_TREATMENT, result, baseline, change, seed)


def _placebo_cutoff(
    method: str, df: pd.DataFrame, roles: RoleMapping, baseline: EstimateResult, fit: Fit
) -> Refutation:
    """A sharp RD's placebo treatment: a cutoff where nothing happens, on one side's rows only."""
    if roles.cutoff is None or roles.running_variable not in df.columns:
        raise EstimationError("a placebo cutoff needs the running variable and the cutoff")
    running = pd.to_numeric(df[str(roles.running_variable)], errors="coerce")
    above = running >= roles.cutoff
    treated = _binary(df[str(roles.treatment)], roles.treatment_coding)
    known = treated.notna() & running.notna()
    if (
        not (treated[known] == above[known].astype(float)).all()
        and not (treated[known] == (~above[known]).astype(float)).all()
    ):
        raise EstimationError(
            "a fuzzy RD has no first stage at a placebo cutoff: this check is for sharp designs"
        )
    side = above if int(above.sum()) >= int((~above & running.notna()).sum()) else ~above & running.notna()
    placebo = float(running[side].median())
    rows = df[side]
    placebo_running = running[side]
    changed = rows.assign(**{str(roles.treatment): (placebo_running >= placebo).astype(float)})
    placebo_roles = roles.model_copy(update={"cutoff": placebo, "treatment_coding": {}})
    result = fit(changed, placebo_roles)
    where = "above" if bool(above[side].all()) else "below"
    change = (
        f"a placebo cutoff at {placebo:g}, the median of {roles.running_variable} {where} the real "
        f"cutoff {roles.cutoff:g}, on the {len(rows)} rows {where} it"
    )
    return _zero_effect(method, Refuter.PLACEBO_TREATMENT, result, baseline, change, None)


def _random_common_cause(
    method: str, df: pd.DataFrame, roles: RoleMapping, baseline: EstimateResult, fit: Fit, seed: int
) -> Refutation:
    rng = _rng(seed, Refuter.RANDOM_COMMON_CAUSE)
    name = RANDOM_CAUSE
    while name in df.columns:
        name = f"_{name}"
    changed = df.assign(**{name: rng.normal(size=len(df))})
    result = fit(changed, roles.model_copy(update={"covariates": [*roles.covariates, name]}))
    return _base(method, Refuter.RANDOM_COMMON_CAUSE, baseline).model_copy(
        update={
            "change": "an independent standard-normal covariate added to the covariates",
            "refuted_estimate": result.estimate,
            "refuted_std_error": result.std_error,
            "shift_se": _shift_se(result.estimate, baseline),
            "draws": [result.estimate],
            "seed": seed,
        }
    )


def _data_subset(
    method: str, df: pd.DataFrame, roles: RoleMapping, baseline: EstimateResult, fit: Fit, seed: int
) -> Refutation:
    """Subsample estimates against the full one: z_j = (θ_j - θ) / (SE √((1 - f)/f)).

    Given the data, draws are independent and (for a smooth estimator with a correct SE) each z_j
    is about standard normal, so Σ z_j² is χ² with one degree of freedom per draw.
    """
    panel = REGISTRY[method].estimator.panel
    draws: list[float] = []
    for draw in range(SUBSET_DRAWS):
        rng = _rng(seed, Refuter.DATA_SUBSET, draw)
        if panel:
            kept = _unit_subsample(df, roles, rng)
            subset = df[df[str(roles.unit)].isin(kept)]
        else:
            rows = rng.choice(len(df), size=round(SUBSET_SHARE * len(df)), replace=False)
            subset = df.iloc[np.sort(rows)]
        draws.append(fit(subset, roles).estimate)
    unit = "units (ever-treated and other units drawn apart)" if panel else "rows"
    refutation = _base(method, Refuter.DATA_SUBSET, baseline).model_copy(
        update={
            "change": f"{SUBSET_DRAWS} random subsamples of {SUBSET_SHARE:.0%} of the {unit}",
            "refuted_estimate": float(np.mean(draws)),
            "draws": draws,
            "seed": seed,
        }
    )
    if not baseline.std_error:
        return refutation
    scale = baseline.std_error * math.sqrt((1 - SUBSET_SHARE) / SUBSET_SHARE)
    z = (np.asarray(draws) - baseline.estimate) / scale
    return refutation.model_copy(
        update={
            "p_value": float(stats.chi2.sf(float(np.sum(z**2)), df=len(draws))),
            "shift_se": float(np.max(np.abs(np.asarray(draws) - baseline.estimate)) / baseline.std_error),
        }
    )


def _unit_subsample(df: pd.DataFrame, roles: RoleMapping, rng: np.random.Generator) -> np.ndarray:
    """SUBSET_SHARE of a panel's units, drawn within the ever-treated and the other units apart,
    at least one of each: one treated unit among many (the per-arm rule of `check_panel_arms`)
    stays in every subsample instead of leaving a draw with nothing to estimate."""
    _, adopted = _panel_timing(df, roles)
    ever = adopted.index[adopted < np.inf].to_numpy()
    never = adopted.index[adopted == np.inf].to_numpy()
    return np.concatenate(
        [
            rng.choice(group, size=max(1, round(SUBSET_SHARE * len(group))), replace=False)
            for group in (ever, never)
            if len(group)
        ]
    )


def _placebo_outcome(
    method: str, df: pd.DataFrame, roles: RoleMapping, baseline: EstimateResult, fit: Fit
) -> Refutation:
    if roles.pre_outcome:
        if roles.pre_outcome not in df.columns:
            raise EstimationError(f"the pre-treatment outcome {roles.pre_outcome!r} is not a column")
        placebo_roles = roles.model_copy(
            update={
                "outcome": roles.pre_outcome,
                "covariates": [c for c in roles.covariates if c != roles.pre_outcome],
            }
        )
        change = f"outcome replaced by the pre-treatment outcome {roles.pre_outcome}"
        result = fit(df, placebo_roles)
    else:  # a panel: the outcome one period earlier, on rows not yet treated one period earlier
        ranks, adopted = _panel_timing(df, roles)
        unit, outcome = str(roles.unit), str(roles.outcome)
        order = np.lexsort((ranks.to_numpy(), df[unit].astype(str).to_numpy()))
        ordered = df.iloc[order]
        lagged = ordered.groupby(unit, sort=False)[outcome].shift(1).reindex(df.index)
        previous = ranks - 1
        before = previous < df[unit].map(adopted)
        name = LAGGED_OUTCOME
        while name in df.columns:
            name = f"_{name}"
        changed = df.assign(**{name: lagged})[lagged.notna() & before]
        change = f"outcome replaced by {outcome} one period earlier (rows not yet treated then)"
        result = fit(changed, roles.model_copy(update={"outcome": name}))
    return _zero_effect(method, Refuter.PLACEBO_OUTCOME, result, baseline, change, None)


def _placebo_adoption(
    method: str, df: pd.DataFrame, roles: RoleMapping, baseline: EstimateResult, fit: Fit
) -> Refutation:
    changed, change = _adoption_moved(df, roles)
    result = fit(changed, roles.model_copy(update={"treatment_coding": {}}))
    return _zero_effect(method, Refuter.PLACEBO_ADOPTION, result, baseline, change, None)


def _adoption_moved(df: pd.DataFrame, roles: RoleMapping) -> tuple[pd.DataFrame, str]:
    """The periods before the first adoption, treated units adopting half way into them."""
    ranks, adopted = _panel_timing(df, roles)
    treated = adopted[adopted < np.inf]
    if treated.empty:
        raise EstimationError("no unit is ever treated")
    first = float(treated.min())
    pre_periods = int((np.unique(ranks[ranks < first])).size)
    if pre_periods < 2:
        raise EstimationError(
            f"a placebo adoption needs two periods before the first adoption; the data have {pre_periods}"
        )
    placebo = first - max(1, pre_periods // 2)
    unit, treatment = str(roles.unit), str(roles.treatment)
    ever = df[unit].isin(treated.index)
    kept = ranks < first
    changed = df.assign(**{treatment: (ever & (ranks >= placebo)).astype(float)})[kept]
    change = (
        f"every treated unit's adoption moved {int(first - placebo)} period(s) before the first real "
        f"adoption; the {pre_periods} periods before it kept"
    )
    return changed, change


def _placebo_in_space(
    method: str, df: pd.DataFrame, roles: RoleMapping, baseline: EstimateResult, fit: Fit, seed: int
) -> Refutation:
    """The treatment moved to donors drawn at random (the real treated units left out)."""
    ranks, adopted = _panel_timing(df, roles)
    unit, treatment = str(roles.unit), str(roles.treatment)
    treated = adopted[adopted < np.inf]
    if treated.empty:
        raise EstimationError("no unit is ever treated")
    donors = _complete_units(df, roles, ranks).intersection(adopted.index[adopted == np.inf])
    if donors.size < treated.size + 1:
        raise EstimationError(f"{donors.size} complete donors cannot stand in for {treated.size} treated")
    rng = _rng(seed, Refuter.PLACEBO_TREATMENT)
    chosen = donors[np.sort(rng.choice(donors.size, size=treated.size, replace=False))]
    start = float(treated.min())
    kept = ~df[unit].isin(treated.index)
    pseudo = df[unit].isin(chosen) & (ranks >= start)
    changed = df.assign(**{treatment: pseudo.astype(float)})[kept]
    result = fit(changed, roles.model_copy(update={"treatment_coding": {}}))
    names = ", ".join(str(u) for u in chosen)
    real = baseline.diagnostics.get(PLACEBO_P_VALUE)
    change = (
        f"the treatment moved to donor(s) {names} (drawn at random from {donors.size} donors observed in "
        f"every period; the treated unit(s) left out), adopting when the real one did; judged by its "
        f"post/pre RMSPE ratio ranked among the other donors' placebos"
        + _attainable(result)
        + (
            f". The real estimate's own placebo-in-space p-value is {real:.3g}"
            if isinstance(real, float)
            else ""
        )
    )
    return _zero_effect(method, Refuter.PLACEBO_TREATMENT, result, baseline, change, seed)


def _placebo_in_time(
    method: str, df: pd.DataFrame, roles: RoleMapping, baseline: EstimateResult, fit: Fit
) -> Refutation:
    """A fake adoption half way into the pre-period: the placebo gap, set against the donors'
    placebo gaps at the same fake date (the method's placebo SE), must vanish.

    Not their RMSPE-ratio rank: a unit inside the donors' hull is fitted almost exactly over a short
    pre-period, so its ratio is large while its gap is small; the gap over the spread of the donors'
    gaps does not reward that overfit.
    """
    changed, change = _adoption_moved(df, roles)
    result = fit(changed, roles.model_copy(update={"treatment_coding": {}}))
    scale = baseline.diagnostics.get("pre_rmspe")
    spread = float(pd.to_numeric(df[str(roles.outcome)], errors="coerce").std())
    if isinstance(scale, float) and scale > 1e-6 * spread:
        change += (
            f"; placebo gap {result.estimate:.3g}, {abs(result.estimate) / scale:.2f} times the pre-period "
            f"RMSPE {scale:.3g} of the real fit"
        )
    elif isinstance(scale, float):
        change += (
            f"; placebo gap {result.estimate:.3g} (the real fit reproduces every pre-period exactly, "
            "more donors than periods, so its RMSPE is no yardstick)"
        )
    change += ", set against the donors' placebo gaps at the same fake date (the placebo SE)"
    refutation = _zero_effect(method, Refuter.PLACEBO_ADOPTION, result, baseline, change, None)
    return refutation.model_copy(update={"p_value": result.p_value})


def _leave_one_donor_out(
    method: str, df: pd.DataFrame, roles: RoleMapping, baseline: EstimateResult, fit: Fit
) -> Refutation:
    """Each donor that carries weight left out in turn: the estimate must not hang on one donor.

    p = min(1, k · 2 Φ(-max_j |θ_(-j) - θ| / SE)) over the k donors with weight above 1 %: a
    Bonferroni-corrected normal test of the largest move, conservative (a sound fit moves by far
    less than one placebo SE, which holds the treated unit's own noise).
    """
    unit = str(roles.unit)
    weights = _donor_weights(df, roles)
    carrying = weights[weights > WEIGHT_REPORTED].sort_values(ascending=False)
    if carrying.empty:
        raise EstimationError("no donor carries weight")
    draws = [fit(df[df[unit] != donor], roles).estimate for donor in carrying.index]
    moves = np.abs(np.asarray(draws) - baseline.estimate)
    worst = int(np.argmax(moves))
    listed = ", ".join(f"{u} ({w:.2f})" for u, w in carrying.items())
    refutation = _base(method, Refuter.DATA_SUBSET, baseline).model_copy(
        update={
            "change": (
                f"each of the {carrying.size} donors with weight above {WEIGHT_REPORTED:.0%} left out in "
                f"turn: {listed}; leaving out {carrying.index[worst]} moves the estimate most, to "
                f"{draws[worst]:.3g}"
            ),
            "refuted_estimate": float(np.mean(draws)),
            "draws": draws,
        }
    )
    if not baseline.std_error:
        return refutation
    largest = float(moves[worst]) / baseline.std_error
    return refutation.model_copy(
        update={
            "p_value": float(min(1.0, carrying.size * 2 * stats.norm.sf(largest))),
            "shift_se": largest,
        }
    )


def _donor_weights(df: pd.DataFrame, roles: RoleMapping) -> pd.Series:
    """Each complete donor's weight in the synthetic control, averaged over the treated units
    (the method's fit: simplex least squares on the outcomes before adoption)."""
    ranks, adopted = _panel_timing(df, roles)
    unit, outcome = str(roles.unit), str(roles.outcome)
    treated = adopted[adopted < np.inf]
    if treated.empty:
        raise EstimationError("no unit is ever treated")
    wide = pd.DataFrame(
        {
            "unit": df[unit].to_numpy(),
            "rank": ranks.to_numpy(),
            "y": pd.to_numeric(df[outcome], errors="coerce").to_numpy(),
        }
    ).pivot_table(index="unit", columns="rank", values="y", aggfunc="mean", dropna=False)
    periods = wide.columns.to_numpy(dtype=float)
    before = wide.iloc[:, np.flatnonzero(periods < float(treated.min()))]
    donors = _complete_units(df, roles, ranks).intersection(adopted.index[adopted == np.inf])
    pool = before.loc[donors].to_numpy(dtype=float).T
    weights = np.mean(
        [simplex_weights(before.loc[u].to_numpy(dtype=float), pool) for u in treated.index], axis=0
    )
    return pd.Series(weights, index=donors)


def _complete_units(df: pd.DataFrame, roles: RoleMapping, ranks: pd.Series) -> pd.Index:
    """Units with an outcome in every period (a synthetic control's usable donors)."""
    outcome = pd.to_numeric(df[str(roles.outcome)], errors="coerce")
    periods = ranks[outcome.notna()].groupby(df[str(roles.unit)]).nunique()
    return pd.Index(periods.index[periods == ranks.nunique()])


def _attainable(result: EstimateResult) -> str:
    """The smallest p-value a rank among the result's placebos can reach, in words."""
    placebos = result.diagnostics.get("n_placebos")
    if not isinstance(placebos, float):
        return ""
    return f" (the smallest p-value {int(placebos)} placebos allow is {1 / (placebos + 1):.3g})"


def _panel_timing(df: pd.DataFrame, roles: RoleMapping) -> tuple[pd.Series, pd.Series]:
    """Each row's period rank (0, 1, ...) and each unit's first treated rank (inf: never)."""
    unit, time, treatment = str(roles.unit), str(roles.time), str(roles.treatment)
    try:
        keys = period_order(df[time])
    except PeriodLabelError:
        keys = df[time]
    ranks = pd.Series(pd.factorize(keys, sort=True)[0], index=df.index).astype(float)
    treated = _binary(df[treatment], roles.treatment_coding)
    first = ranks[treated == 1].groupby(df[unit]).min()
    units = pd.Index(df[unit].dropna().unique())
    return ranks, first.reindex(units, fill_value=np.inf).astype(float)


def _binary(values: pd.Series, coding: dict[str, int]) -> pd.Series:
    if coding:
        lookup = {str(label).strip(): float(code) for label, code in coding.items()}
        return values.map(lambda v: lookup.get(str(v).strip(), np.nan) if pd.notna(v) else np.nan)
    numeric = pd.to_numeric(values.astype(float) if values.dtype == bool else values, errors="coerce")
    if not numeric.dropna().isin([0.0, 1.0]).all():
        raise EstimationError("this refuter needs a 0/1 treatment")
    return numeric
