"""Coverage study (on demand, not part of `make test`): bias, RMSE and CI coverage per method.

    uv run python -m bench.coverage.run [--sims 200] [--rows 1000] [--methods aipw psm ...]
    uv run python -m bench.coverage.run --design nonlinear [--sims 100] [--rows 2000] [--methods ...]

Each simulation draws the confounded design of the common test suite (two numeric confounders and
a three-level categorical one, constant effect 1.5, so ATE = ATT = ATO = 1.5; `cuped` gets the
randomised version) with its own seed and runs every fast method with its production defaults
and the analysis seed. Prints bias, RMSE, mean SE against the SD of the estimates, and the share of
95 % intervals covering the truth over the simulations the method accepted, and how many it
refused with a reason (target 93-97 %; with 200 simulations the Monte Carlo SE of a
95 % coverage is about 1.5 points). `cs_did` also runs as `cs_did+unit_x` (outcome regression,
its default) and `cs_did+unit_x+dr` (`adjustment: dr`) with each unit's first x1 as a unit-level
covariate (it predicts adoption); the common panel's covariates vary over time and are not used
by cs_did; for plain `cs_did` a last line also gives how often its simultaneous event-study band
(`att_event_e_band_lower/upper`) covers all event-time truths at once (1.5 after adoption, 0 for
the placebos), against how often the pointwise 95 % intervals all do. `iv_2sls` gets a treatment confounded by an unobserved trait with a randomised binary
instrument, `rd_robust` a sharp discontinuity at 0 with a cubic trend, `synthetic_control` one
treated unit among 30 donors over 30 periods (adoption at 20) from a linear factor model, the
treated unit inside the donors' convex hull, and as `synthetic_control+exch` with the treated unit
drawn like the donors; `spatial_spillover` units in towns with spillovers reaching 5 km and
town-level shocks, with its data-driven radius and as `spatial_spillover+5km` with the true one
(the same direct effect, 1.5).

`--design nonlinear` draws `simulation.nonlinear` instead: nonlinear confounding (an interaction
and a square in the propensity; periodic, quadratic and interaction terms in the baseline) and an
effect that varies with the covariates (ATE 1.5; the ATT and ATO, computed once by Monte Carlo over
2 million draws, differ). Every cross-section method of the observational design runs (heavy
ones too when named with --methods) and is scored against the truth of its own estimand; the
last column says whether the `linear_misspecification` gate (which judges the flexible nuisances'
out-of-fold gain over linear ones that the doubly robust methods report) would flag the method,
in what share of the simulations.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from cqox_contracts.v1 import RoleMapping
from cqox_estimator.domain import estimate
from cqox_estimator.estimators import REGISTRY
from cqox_estimator.estimators.design import EstimationError
from cqox_estimator.simulation import (
    confounded,
    discontinuity,
    instrumented,
    nonlinear,
    nonlinear_truths,
    spatial_units,
    staggered_panel,
    synthetic_panel,
)

TRUTH = 1.5
ROLES = RoleMapping(
    treatment="treated",
    outcome="y",
    covariates=["x1", "x2", "segment"],
    instrument="z",  # read by IV methods only
    running_variable="score",  # read by RD methods only, with the cutoff
    cutoff=0.0,
    latitude="latitude",  # read by spatial methods only
    longitude="longitude",
)
PANEL_ROLES = RoleMapping(
    treatment="treated", outcome="y", unit="unit", time="period", covariates=["x1", "x2"]
)
UNIT_X_ROLES = PANEL_ROLES.model_copy(update={"covariates": ["x1_first"]})
SYNTHETIC_ROLES = RoleMapping(treatment="treated", outcome="y", unit="unit", time="period")
# label -> (method, options), run on the panel with a unit-level covariate
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "cs_did+unit_x": ("cs_did", {}),
    "cs_did+unit_x+dr": ("cs_did", {"adjustment": "dr"}),
    "synthetic_control+exch": ("synthetic_control", {}),  # treated unit drawn like the donors
    "spatial_spillover+5km": ("spatial_spillover", {"radius_km": 5.0}),  # the true reach
}
PERIODS = 20  # panel methods: rows / PERIODS units with staggered adoption (staggered_panel)
FAST = [name for name, spec in REGISTRY.items() if spec.cost == "light" and name != "policy_tree"]
NONLINEAR_ROLES = RoleMapping(treatment="treated", outcome="y", covariates=["x1", "x2", "x3", "segment"])
# The cross-section methods of the observational design (no design roles, no panel).
CROSS_SECTION = [
    name
    for name in FAST
    if "observational" in REGISTRY[name].designs
    and not REGISTRY[name].estimator.design_roles
    and not REGISTRY[name].estimator.panel
]


def main() -> None:
    """Run the simulations and print the table."""
    threadpool_limits(limits=1)  # as the estimator service runs (CQOX_ESTIMATOR_BLAS_THREADS)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sims", type=int, default=200)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--methods", nargs="+")
    parser.add_argument("--design", choices=["linear", "nonlinear"], default="linear")
    args = parser.parse_args()
    if args.design == "nonlinear":
        _nonlinear(args.sims, args.rows, args.methods or CROSS_SECTION)
        return
    args.methods = args.methods or FAST
    args.methods += [label for label, (method, _) in VARIANTS.items() if method in args.methods]
    estimates: dict[str, list[float]] = {m: [] for m in args.methods}
    errors: dict[str, list[float]] = {m: [] for m in args.methods}
    covered: dict[str, list[bool]] = {m: [] for m in args.methods}
    seconds: dict[str, float] = dict.fromkeys(args.methods, 0.0)
    refused: dict[str, int] = dict.fromkeys(args.methods, 0)
    band_covers: list[tuple[bool, bool]] = []  # cs_did: (band covers all event times, pointwise all do)
    for sim in range(args.sims):
        observational = confounded(args.rows, 10_000 + sim, effect=TRUTH)
        randomised = confounded(args.rows, 10_000 + sim, effect=TRUTH, randomised=True)
        panel = staggered_panel(args.rows // PERIODS, PERIODS, 10_000 + sim)
        panel["x1_first"] = panel.groupby("unit")["x1"].transform("first")
        by_role = {
            "instrument": instrumented(args.rows, 10_000 + sim, effect=TRUTH),
            "running_variable": discontinuity(args.rows, 10_000 + sim, effect=TRUTH),
        }
        if any(
            "latitude" in REGISTRY[VARIANTS.get(m, (m, {}))[0]].estimator.design_roles for m in args.methods
        ):
            units = spatial_units(args.rows, 10_000 + sim, direct=TRUTH, radius_km=5.0)
            by_role["latitude"] = by_role["longitude"] = units.assign(segment="a")
        for label in args.methods:
            method, options = VARIANTS.get(label, (label, {}))
            frame = randomised if "observational" not in REGISTRY[method].designs else observational
            roles = ROLES
            for role in REGISTRY[method].estimator.design_roles:
                frame = by_role[role]
            if REGISTRY[method].estimator.panel:
                frame, roles = panel, UNIT_X_ROLES if label in VARIANTS else PANEL_ROLES
            if "synthetic_control" in REGISTRY[method].designs:
                exchangeable = label.endswith("+exch")
                frame = synthetic_panel(
                    30, 30, 20, effect=TRUTH, seed=10_000 + sim, inside_hull=not exchangeable
                )
                roles = SYNTHETIC_ROLES
            started = time.perf_counter()
            try:
                result = estimate(method, frame, roles, seed=sim, options=options)
            except EstimationError:  # a refusal (e.g. DR DiD on separated cohorts) is counted
                refused[label] += 1
                continue
            finally:
                seconds[label] += time.perf_counter() - started
            estimates[label].append(result.estimate)
            errors[label].append(result.std_error or float("nan"))
            covered[label].append(bool(result.ci_lower <= TRUTH <= result.ci_upper))  # type: ignore[operator]
            if label == "cs_did":
                band_covers.append(_event_band_covers(result.diagnostics))
    print(f"{args.sims} simulations x {args.rows} rows, truth {TRUTH} (cuped: randomised design)")
    print(
        f"{'method':18s} {'estimand':>9s} {'bias':>8s} {'RMSE':>7s} {'mean SE':>8s} {'SD est':>7s} {'coverage':>9s} {'s/fit':>6s} {'refused':>7s}"
    )
    for method in args.methods:
        values = np.array(estimates[method])
        print(
            f"{method:18s} {REGISTRY[VARIANTS.get(method, (method, {}))[0]].estimand:>9s} {values.mean() - TRUTH:+8.4f} "
            f"{np.sqrt(np.mean((values - TRUTH) ** 2)):7.4f} {np.mean(errors[method]):8.4f} "
            f"{values.std(ddof=1):7.4f} {np.mean(covered[method]) * 100:8.1f}% "
            f"{seconds[method] / args.sims:6.3f} {refused[method]:7d}"
        )
    if band_covers:
        band, pointwise = np.mean(band_covers, axis=0) * 100
        print(
            f"cs_did event-study band (all event times jointly, {len(band_covers)} fits): "
            f"simultaneous band covers all {band:.1f}%, pointwise 95 % intervals all cover {pointwise:.1f}%"
        )


def _nonlinear(sims: int, rows: int, methods: list[str]) -> None:
    """Coverage on the nonlinear, heterogeneous design, each method against its own estimand."""
    from cqox_quality_gate.gates.reported import linear_misspecification_gate
    from cqox_quality_gate.gates.thresholds import GateThresholds

    truths = nonlinear_truths()
    thresholds = GateThresholds()
    results: dict[str, list[tuple[float, float, bool, bool]]] = {m: [] for m in methods}
    seconds: dict[str, float] = dict.fromkeys(methods, 0.0)
    refused: dict[str, int] = dict.fromkeys(methods, 0)
    for sim in range(sims):
        frame = nonlinear(rows, 20_000 + sim)
        fitted = {}
        for method in methods:
            started = time.perf_counter()
            try:
                fitted[method] = estimate(method, frame, NONLINEAR_ROLES, seed=sim)
            except EstimationError:
                refused[method] += 1
            finally:
                seconds[method] += time.perf_counter() - started
        gate = linear_misspecification_gate(list(fitted.values()), thresholds)
        flagged = set(gate.applies_to) if gate is not None and not gate.passed else set()
        for method, result in fitted.items():
            truth = truths[REGISTRY[method].estimand]
            covers = bool(result.ci_lower <= truth <= result.ci_upper)  # type: ignore[operator]
            results[method].append(
                (result.estimate, result.std_error or float("nan"), covers, method in flagged)
            )
    print(
        f"{sims} simulations x {rows} rows, nonlinear design; truths ATE {truths['ATE']:.4f}, "
        f"ATT {truths['ATT']:.4f}, ATO {truths['ATO']:.4f}"
    )
    print(
        f"{'method':18s} {'estimand':>9s} {'bias':>8s} {'RMSE':>7s} {'mean SE':>8s} {'SD est':>7s} "
        f"{'coverage':>9s} {'flagged':>8s} {'s/fit':>6s} {'refused':>7s}"
    )
    for method in methods:
        if not results[method]:
            print(f"{method:18s} refused in every simulation")
            continue
        values = np.array([r[0] for r in results[method]])
        truth = truths[REGISTRY[method].estimand]
        print(
            f"{method:18s} {REGISTRY[method].estimand:>9s} {values.mean() - truth:+8.4f} "
            f"{np.sqrt(np.mean((values - truth) ** 2)):7.4f} {np.mean([r[1] for r in results[method]]):8.4f} "
            f"{values.std(ddof=1):7.4f} {np.mean([r[2] for r in results[method]]) * 100:8.1f}% "
            f"{np.mean([r[3] for r in results[method]]) * 100:7.0f}% "
            f"{seconds[method] / sims:6.3f} {refused[method]:7d}"
        )


def _event_band_covers(diagnostics: dict[str, float | str | None]) -> tuple[bool, bool]:
    """Whether cs_did's simultaneous band, and its pointwise 95 % intervals, cover every event-time
    truth (TRUTH from adoption on, 0 before: the placebos)."""
    prefix = "att_event_"
    times = [
        int(k[len(prefix) :])
        for k in diagnostics
        if k.startswith(prefix) and k[len(prefix) :].lstrip("-").isdigit()
    ]
    band = pointwise = True
    for e in times:
        truth = TRUTH if e >= 0 else 0.0
        value, se = float(diagnostics[f"{prefix}{e}"]), float(diagnostics[f"se_event_{e}"])  # type: ignore[arg-type]
        lower, upper = diagnostics[f"{prefix}{e}_band_lower"], diagnostics[f"{prefix}{e}_band_upper"]
        band = band and float(lower) <= truth <= float(upper)  # type: ignore[arg-type]
        pointwise = pointwise and abs(value - truth) <= 1.96 * se
    return band, pointwise


if __name__ == "__main__":
    main()
