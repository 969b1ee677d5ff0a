"""Refuter calibration (on demand, not part of `make test`): how often each refuter rejects.

    uv run python -m bench.coverage.refuters [--sims 200] [--rows 1000] [--methods ols ipw ...]
                                             [--panel-sims 100] [--sc-sims 100] [--check]

Correctly specified simulations (`hidden_confounder` with hidden = 0: adjusting for x1, x2 and the
segment is right; `staggered_panel` with parallel trends) must pass each refuter at its nominal
rate: a p-value test at 0.05 (placebo treatment, placebo outcome, placebo adoption, data subsets)
rejects in about 5 % of simulations, and a random common cause moves the estimate by more than
the gate's threshold almost never. Planted violations must be caught: a confounder u nobody
measured (hidden = 1) that also moved last period's outcome `y_pre` (placebo outcome), and
treated units drifting away before adoption (placebo adoption). A synthetic control (one treated
unit among 38 donors, 31 periods, `synthetic_panel`) must pass its donor refuters (placebo in
space, in time, leave one donor out) at their nominal rate and its in-time placebo must catch a
jump of the treated unit seven periods before adoption. Each simulation uses its own data
seed and analysis seed, as production does. With 200 simulations the Monte Carlo SE of a 5 %
rate is 1.5 points; `--check` exits non-zero when a correctly specified rate leaves 0-10 % or a
planted violation is caught (by the refuter of at least one method of the analysis, as the user
sees it) in fewer than 80 % of simulations; each method's own catch rate is printed beside it.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from cqox_contracts.v1 import Refuter, RoleMapping
from cqox_estimator.refutation import refute
from cqox_estimator.simulation import hidden_confounder, staggered_panel, synthetic_panel
from cqox_quality_gate.gates.refutation import rejects
from cqox_quality_gate.gates.thresholds import GateThresholds

ROLES = RoleMapping(treatment="treated", outcome="y", covariates=["x1", "x2", "segment"], pre_outcome="y_pre")
PANEL_ROLES = RoleMapping(treatment="treated", outcome="y", unit="unit", time="period", covariates=["x1"])
METHODS = ["ols", "ipw", "aipw", "psm", "entropy_balancing"]
PANEL_METHODS = ["twfe", "cs_did"]
SC_ROLES = RoleMapping(treatment="treated", outcome="y", unit="unit", time="period")
SC_BREAK = 2.0  # the treated unit's jump from period 12 (adoption at 19), in outcome units (noise SD 0.5)
NOMINAL_BAND = (0.0, 0.10)  # a correctly specified rejection rate of a 5 % test, with MC noise
MIN_POWER = 0.8


def _rates(
    sims: int,
    methods: list[str],
    draw: object,
    roles: RoleMapping,
    thresholds: GateThresholds,
    refuters: list[str] | None = None,
) -> tuple[dict[tuple[str, str], list[bool]], dict[str, float]]:
    """(method, refuter) -> rejected per simulation (method '*': any method), and seconds per method."""
    rejected: dict[tuple[str, str], list[bool]] = {}
    seconds = dict.fromkeys(methods, 0.0)
    for sim in range(sims):
        frame = draw(sim)  # type: ignore[operator]
        anyone: dict[str, bool] = {}
        for method in methods:
            started = time.perf_counter()
            for refutation in refute(method, frame, roles, seed=sim, refuters=refuters):
                if refutation.error is None:
                    flag = rejects(refutation, thresholds)
                    rejected.setdefault((method, refutation.refuter), []).append(flag)
                    anyone[refutation.refuter] = anyone.get(refutation.refuter, False) or flag
            seconds[method] += time.perf_counter() - started
        for refuter, flag in anyone.items():
            rejected.setdefault(("*", refuter), []).append(flag)
    return rejected, seconds


def _print(title: str, rejected: dict[tuple[str, str], list[bool]]) -> None:
    print(title)
    for (method, refuter), flags in sorted(rejected.items()):
        print(f"  {method:18s} {refuter:20s} rejects {np.mean(flags) * 100:5.1f}% of {len(flags)}")


def _synthetic_control(sims: int, thresholds: GateThresholds) -> list[str]:
    """Donor refuters of synthetic_control: nominal rates with no effect before adoption (treated
    inside the donors' hull, and outside it), and the in-time placebo's catch rate of a jump."""
    problems: list[str] = []
    for inside in (True, False):

        def draw(sim: int, inside: bool = inside) -> object:
            return synthetic_panel(38, 31, 19, effect=-1.0, seed=50_000 + sim, inside_hull=inside)

        sound, seconds = _rates(sims, ["synthetic_control"], draw, SC_ROLES, thresholds)
        where = "inside" if inside else "outside"
        _print(f"synthetic control, treated unit {where} the donors' hull: {sims} simulations", sound)
        print(f"  seconds per refutation job: {seconds['synthetic_control'] / sims:.2f}")
        for (method, refuter), flags in sound.items():
            rate = float(np.mean(flags))
            if method != "*" and not NOMINAL_BAND[0] <= rate <= NOMINAL_BAND[1]:
                problems.append(f"synthetic_control {refuter} ({where} the hull): rejects {rate:.1%}")

    def broken(sim: int) -> object:
        panel = synthetic_panel(38, 31, 19, effect=-1.0, seed=50_000 + sim)
        jump = (panel["unit"] == "treated1") & (panel["period"] >= 12)
        return panel.assign(y=panel["y"] + np.where(jump, SC_BREAK, 0.0))

    caught, _ = _rates(
        sims, ["synthetic_control"], broken, SC_ROLES, thresholds, refuters=[Refuter.PLACEBO_ADOPTION]
    )
    _print(f"synthetic control, treated unit jumps {SC_BREAK:g} at period 12 (adoption 19): in time", caught)
    if np.mean(caught[("*", Refuter.PLACEBO_ADOPTION)]) < MIN_POWER:
        problems.append("the in-time placebo misses the jump before adoption")
    return problems


def main() -> None:
    """Run the simulations, print the rejection rates, and optionally check them."""
    threadpool_limits(limits=1)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sims", type=int, default=200)
    parser.add_argument("--panel-sims", type=int, default=100)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--panel-methods", nargs="+", default=PANEL_METHODS)
    parser.add_argument("--sc-sims", type=int, default=100)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    thresholds = GateThresholds()
    problems: list[str] = []

    if args.sims and args.methods:
        sound, seconds = _rates(
            args.sims,
            args.methods,
            lambda s: hidden_confounder(args.rows, 30_000 + s, hidden=0.0),
            ROLES,
            thresholds,
        )
        _print(
            f"correctly specified: {args.sims} simulations x {args.rows} rows (no hidden confounder)", sound
        )
        print(
            "  seconds per refutation job: "
            + ", ".join(f"{m} {t / args.sims:.2f}" for m, t in seconds.items())
        )
        for (method, refuter), flags in sound.items():
            rate = float(np.mean(flags))
            if method != "*" and not NOMINAL_BAND[0] <= rate <= NOMINAL_BAND[1]:
                problems.append(f"{method} {refuter}: rejects {rate:.1%} of correct simulations")

        for strength in (1.0, 0.3):
            hidden, _ = _rates(
                args.sims,
                args.methods,
                lambda s, h=strength: hidden_confounder(args.rows, 30_000 + s, hidden=h),  # type: ignore[misc]
                ROLES,
                thresholds,
                refuters=[Refuter.PLACEBO_OUTCOME],
            )
            _print(
                f"planted confounder u of strength {strength:g} (moves treatment, y and y_pre; not a "
                "covariate): placebo outcome ('*': any method of the analysis)",
                hidden,
            )
            if strength == 1.0 and np.mean(hidden[("*", Refuter.PLACEBO_OUTCOME)]) < MIN_POWER:
                problems.append("placebo outcome misses the planted confounder")

    if args.panel_sims and args.panel_methods:
        periods = 12
        panel_sound, _ = _rates(
            args.panel_sims,
            args.panel_methods,
            lambda s: staggered_panel(100, periods, 40_000 + s),
            PANEL_ROLES,
            thresholds,
        )
        _print(
            f"panels with parallel trends: {args.panel_sims} simulations x 100 units x {periods} periods",
            panel_sound,
        )
        for (method, refuter), flags in panel_sound.items():
            rate = float(np.mean(flags))
            if method != "*" and not NOMINAL_BAND[0] <= rate <= NOMINAL_BAND[1]:
                problems.append(f"{method} {refuter}: rejects {rate:.1%} of parallel-trend panels")

        def drifting(sim: int) -> object:
            panel = staggered_panel(100, periods, 40_000 + sim)
            ever = panel.groupby("unit")["treated"].transform("max") == 1
            return panel.assign(y=panel["y"] + np.where(ever, 0.3 * panel["period"], 0.0))

        adoption, _ = _rates(
            args.panel_sims,
            args.panel_methods,
            drifting,
            PANEL_ROLES,
            thresholds,
            refuters=[Refuter.PLACEBO_ADOPTION],
        )
        _print("treated units drift 0.3 per period before adoption: placebo adoption", adoption)
        if np.mean(adoption[("*", Refuter.PLACEBO_ADOPTION)]) < MIN_POWER:
            problems.append("placebo adoption misses the diverging trends")

    if args.sc_sims:
        problems += _synthetic_control(args.sc_sims, thresholds)

    if problems:
        print("out of band:\n  " + "\n  ".join(problems))
    if args.check and problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
