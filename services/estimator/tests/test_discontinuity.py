"""Regression discontinuity (rd_robust): known answers, rdrobust itself, a published result, refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rdrobust import rdrobust
from rdrobust.datasets import rdrobust_RDsenate

from cqox_contracts.v1 import RoleMapping
from cqox_estimator import simulation
from cqox_estimator.domain import estimate
from cqox_estimator.estimators import EstimationError
from cqox_estimator.estimators.discontinuity import RegressionDiscontinuity
from cqox_estimator.estimators.registry import REGISTRY

ROLES = RoleMapping(
    treatment="treated",
    outcome="y",
    running_variable="score",
    covariates=["x1", "x2", "segment"],
    cutoff=0.0,
)


def _fit(frame: pd.DataFrame, **params: object) -> RegressionDiscontinuity:
    estimator = RegressionDiscontinuity(cutoff=0.0, **params)  # type: ignore[arg-type]
    X = frame[["x1", "x2"]].to_numpy()
    return estimator.fit(frame["y"], frame["treated"], X=X, running=frame["score"])


def test_sharp_design_recovers_the_jump() -> None:
    fitted = _fit(simulation.discontinuity(4000, seed=1))
    lower, upper = fitted.ate_interval()
    assert fitted.diagnostics_["rd_design"] == "sharp"
    assert lower < 1.5 < upper
    assert fitted.ate_ == pytest.approx(1.5, abs=0.3)
    assert fitted.interval_centre_ == fitted.diagnostics_["bias_corrected_estimate"]
    assert fitted.diagnostics_["density_test_p"] > 0.01  # the simulated score is uniform
    assert fitted.diagnostics_["covariate_jump_min_p"] > 0.01  # x1, x2 are smooth at the cutoff
    assert fitted.diagnostics_["covariate_jump_tests"] == 2.0
    assert "rdrobust sharp RD" in fitted.inference_ and "mserd h=" in fitted.inference_


def test_fuzzy_design_recovers_the_effect_for_compliers() -> None:
    fitted = _fit(simulation.discontinuity(4000, seed=2, fuzzy=True))
    lower, upper = fitted.ate_interval()
    assert fitted.diagnostics_["rd_design"] == "fuzzy"
    assert lower < 1.5 < upper
    assert fitted.ate_ == pytest.approx(1.5, abs=0.4)
    assert fitted.diagnostics_["first_stage_jump"] == pytest.approx(0.6, abs=0.1)
    assert fitted.diagnostics_["first_stage_robust_p"] < 1e-6


def test_matches_a_direct_rdrobust_call() -> None:
    frame = simulation.discontinuity(2000, seed=3)
    fitted = _fit(frame, kernel="epanechnikov")
    direct = rdrobust(frame["y"].to_numpy(), frame["score"].to_numpy(), c=0.0, kernel="epanechnikov")
    robust_lower, robust_upper = direct.ci.loc["Robust"]
    assert fitted.ate_ == pytest.approx(direct.coef.loc["Conventional"].iloc[0], abs=1e-8)
    assert fitted.ate_stderr_ == pytest.approx(direct.se.loc["Robust"].iloc[0], abs=1e-8)
    assert fitted.ate_interval() == pytest.approx((robust_lower, robust_upper), abs=1e-8)
    assert fitted.ate_pvalue_ == pytest.approx(direct.pv.loc["Robust"].iloc[0], abs=1e-8)
    assert fitted.diagnostics_["bandwidth_h_left"] == pytest.approx(direct.bws.loc["h", "left"], abs=1e-12)


def test_covariate_adjustment_passes_the_covariates_to_rdrobust() -> None:
    frame = simulation.discontinuity(2000, seed=4)
    fitted = _fit(frame, covariate_adjustment=True)
    covs = frame[["x1", "x2"]].to_numpy()
    direct = rdrobust(frame["y"].to_numpy(), frame["score"].to_numpy(), c=0.0, covs=covs)
    assert fitted.ate_ == pytest.approx(direct.coef.loc["Conventional"].iloc[0], abs=1e-8)
    assert fitted.ate_interval() == pytest.approx(tuple(direct.ci.loc["Robust"]), abs=1e-8)
    assert fitted.diagnostics_["covariate_adjustment"] == "yes"


def test_treatment_below_the_cutoff_is_a_sharp_design_with_the_sign_turned() -> None:
    frame = simulation.discontinuity(2000, seed=5)
    flipped = frame.assign(treated=1 - frame["treated"], y=frame["y"] - 2 * 1.5 * frame["treated"])
    above, below = _fit(frame), _fit(flipped)
    assert below.diagnostics_["rd_design"] == "sharp"
    assert below.diagnostics_["treated_side"] == "below the cutoff"
    assert below.ate_ == pytest.approx(1.5, abs=0.3)
    assert below.ate_stderr_ > 0 and above.ate_stderr_ > 0


def test_senate_incumbency_advantage_reproduces_the_published_estimate() -> None:
    """Cattaneo, Frandsen & Titiunik (2015) U.S. Senate data, shipped with rdrobust (2.1.1).

    `rdrobust(vote, margin)` is the running illustration of the rdrobust software articles
    (Calonico, Cattaneo & Titiunik 2015, R Journal 7(1); Calonico, Cattaneo, Farrell & Titiunik
    2017, Stata Journal 17(2)), whose incumbency advantage of 7.414 points (SE 1.459, MSE-optimal
    h = 17.754) is the figure this test holds us to. The remaining numbers (b, effective
    observations, the robust CI) are those rdrobust 2.1.1 prints for the same call; the articles
    were not available offline to check them, so they guard against drift, not a publication.
    """
    senate = rdrobust_RDsenate()[["vote", "margin"]].dropna()
    fitted = RegressionDiscontinuity(cutoff=0.0).fit(
        senate["vote"], (senate["margin"] >= 0).astype(int), running=senate["margin"]
    )
    lower, upper = fitted.ate_interval()
    assert fitted.diagnostics_["rd_design"] == "sharp"
    assert fitted.ate_ == pytest.approx(7.414, abs=5e-4)
    assert fitted.diagnostics_["conventional_se"] == pytest.approx(1.459, abs=5e-4)
    assert fitted.diagnostics_["bandwidth_h_left"] == pytest.approx(17.754, abs=5e-4)
    assert fitted.diagnostics_["bandwidth_b_right"] == pytest.approx(28.028, abs=5e-4)
    assert (fitted.diagnostics_["n_effective_left"], fitted.diagnostics_["n_effective_right"]) == (360, 323)
    assert (lower, upper) == pytest.approx((4.094, 10.919), abs=5e-4)


def test_through_the_domain_the_cutoff_comes_from_the_roles() -> None:
    frame = simulation.discontinuity(2000, seed=6, cutoff=0.5)
    from_roles = estimate("rd_robust", frame, ROLES.model_copy(update={"cutoff": 0.5}))
    from_option = estimate(
        "rd_robust", frame, ROLES.model_copy(update={"cutoff": -0.3}), options={"cutoff": 0.5}
    )
    assert from_roles.method == "rd_robust" and from_roles.estimand == "LATE"
    assert from_roles.diagnostics["cutoff"] == 0.5
    assert from_roles.ci_lower < 1.5 < from_roles.ci_upper
    assert from_option.estimate == from_roles.estimate
    assert from_option.diagnostics["cutoff"] == 0.5
    assert from_roles.diagnostics["covariate_columns"] == "x1, x2, segment=b, segment=c"
    assert from_roles.diagnostics["covariate_jump_tests"] == 4.0


def test_registered_for_rd_designs() -> None:
    spec = REGISTRY["rd_robust"]
    assert spec.estimator is RegressionDiscontinuity
    assert spec.designs == frozenset({"rd"})
    assert spec.missing_roles(RoleMapping(treatment="t", outcome="y")) == ["running_variable"]


@pytest.mark.parametrize(
    ("roles", "options", "message"),
    [
        (ROLES.model_copy(update={"cutoff": None}), None, "needs the cutoff"),
        (ROLES.model_copy(update={"cutoff": 5.0}), None, "outside the running variable's range"),
        (ROLES, {"cutoff": 0.995}, "too few rows on one side"),
        (ROLES.model_copy(update={"running_variable": None}), None, "running_variable role"),
        (ROLES, {"kernel": "gaussian"}, "kernel must be one of"),
        (ROLES, {"p": 3}, "must be 1 or 2"),
    ],
)
def test_refusals(roles: RoleMapping, options: dict[str, object] | None, message: str) -> None:
    frame = simulation.discontinuity(500, seed=7)
    with pytest.raises(EstimationError, match=message):
        estimate("rd_robust", frame, roles, options=options)


def test_a_non_numeric_running_variable_is_refused_readably() -> None:
    frame = simulation.discontinuity(500, seed=8)
    frame["score"] = np.where(frame["score"] >= 0, "high", "low")
    with pytest.raises(EstimationError, match="running variable 'score' must be numeric"):
        estimate("rd_robust", frame, ROLES)


def test_covariate_adjustment_without_covariates_is_refused() -> None:
    frame = simulation.discontinuity(500, seed=9)
    with pytest.raises(EstimationError, match="covariate_adjustment needs covariates"):
        estimate(
            "rd_robust",
            frame,
            ROLES.model_copy(update={"covariates": []}),
            options={"covariate_adjustment": True},
        )


def _plot_points(diagnostics: dict[str, float | str | None], prefix: str) -> list[tuple[float, float]]:
    """(x, y) pairs of `prefix{i}_x` / `prefix{i}_y` diagnostics, in index order."""
    points = []
    for i in range(100):
        x, y = diagnostics.get(f"{prefix}{i}_x"), diagnostics.get(f"{prefix}{i}_y")
        if isinstance(x, float) and isinstance(y, float):
            points.append((x, y))
    return points


@pytest.mark.parametrize(("kernel", "p"), [("triangular", 1), ("epanechnikov", 1), ("uniform", 2)])
def test_rd_plot_fit_lines_jump_by_the_sharp_estimate_at_the_cutoff(kernel: str, p: int) -> None:
    """The plot's local polynomial fits are rdrobust's own conventional fits, side by side."""
    fitted = _fit(simulation.discontinuity(4000, seed=1), kernel=kernel, p=p)
    d = fitted.diagnostics_
    left, right = _plot_points(d, "rd_plot_fit_left_"), _plot_points(d, "rd_plot_fit_right_")
    assert len(left) == len(right) == (2 if p == 1 else 9)
    assert left[0][0] == right[0][0] == 0.0  # j = 0 at the cutoff
    assert left[-1][0] == pytest.approx(-d["bandwidth_h_left"])
    assert right[-1][0] == pytest.approx(d["bandwidth_h_right"])
    assert right[0][1] - left[0][1] == pytest.approx(fitted.ate_, abs=1e-6)


def test_rd_plot_bins_lie_in_the_window_on_their_side() -> None:
    frame = simulation.discontinuity(4000, seed=1)
    d = _fit(frame).diagnostics_
    h = d["bandwidth_h_left"]
    assert d["rd_plot_window_left"] == pytest.approx(min(2 * h, -frame["score"].min()))
    assert d["rd_plot_window_right"] == pytest.approx(min(2 * d["bandwidth_h_right"], frame["score"].max()))
    bins = {k: d[f"rd_plot_bin_{k}_x"] for k in range(30) if f"rd_plot_bin_{k}_x" in d}
    assert len(bins) == 30  # 4000 uniform scores fill every bin
    assert all(-d["rd_plot_window_left"] <= x < 0 for k, x in bins.items() if k < 15)
    assert all(0 <= x <= d["rd_plot_window_right"] for k, x in bins.items() if k >= 15)
    assert list(bins.values()) == sorted(bins.values())  # numbered left to right
    in_window = (
        (frame["score"] >= -d["rd_plot_window_left"]) & (frame["score"] <= d["rd_plot_window_right"])
    ).sum()
    assert sum(d[f"rd_plot_bin_{k}_n"] for k in bins) == in_window
    # Near the cutoff the bin means sit close to the fit lines (y is smooth, noise sd 0.5).
    assert d["rd_plot_bin_14_y"] == pytest.approx(d["rd_plot_fit_left_0_y"], abs=0.3)
    assert d["rd_plot_bin_15_y"] == pytest.approx(d["rd_plot_fit_right_0_y"], abs=0.3)
    assert sum(key.startswith("rd_plot_") for key in d) <= 2 + 30 * 3 + 2 * 9 * 2  # bounded


def test_rd_plot_of_a_fuzzy_design_shows_the_outcome_jump() -> None:
    """Fuzzy: the fits jump by the reduced form, the estimate times the first-stage jump."""
    fitted = _fit(simulation.discontinuity(4000, seed=2, fuzzy=True))
    d = fitted.diagnostics_
    gap = d["rd_plot_fit_right_0_y"] - d["rd_plot_fit_left_0_y"]
    assert gap == pytest.approx(fitted.ate_ * d["first_stage_jump"], abs=1e-6)


def test_rd_plot_with_treatment_below_the_cutoff_still_plots_the_outcome() -> None:
    frame = simulation.discontinuity(2000, seed=5)
    flipped = frame.assign(treated=1 - frame["treated"], y=frame["y"] - 2 * 1.5 * frame["treated"])
    fitted = _fit(flipped)
    d = fitted.diagnostics_
    # The outcome drops at the cutoff; the estimate (treated minus untreated) is positive.
    assert d["rd_plot_fit_right_0_y"] - d["rd_plot_fit_left_0_y"] == pytest.approx(-fitted.ate_, abs=1e-6)


def test_rdrobust_notices_become_a_diagnostic_not_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    """A running variable with many repeated values (scores in whole points) makes rdrobust print
    a notice; it is kept in `rdrobust_notes` and nothing reaches stdout (the service's JSON logs)."""
    frame = simulation.discontinuity(3000, seed=4)
    frame["score"] = (frame["score"] * 20).round() / 20  # 41 distinct values
    result = estimate("rd_robust", frame, ROLES)
    assert "Mass points detected in the running variable." in str(result.diagnostics["rdrobust_notes"])
    assert capsys.readouterr().out == ""


def test_a_donut_leaves_out_the_rows_nearest_the_cutoff() -> None:
    """Units just above the cutoff that sorted themselves there (their outcomes are off) bias the
    plain estimate; a donut that leaves them out recovers the effect, and says how many it left."""
    frame = simulation.discontinuity(6000, seed=12)
    sorted_in = (frame["score"] >= 0) & (frame["score"] < 0.03)
    frame.loc[sorted_in, "y"] += 3.0
    plain = estimate("rd_robust", frame, ROLES)
    donut = estimate("rd_robust", frame, ROLES, options={"donut": 0.05})
    assert abs(plain.estimate - 1.5) > 3 * plain.std_error
    assert abs(donut.estimate - 1.5) < 3 * donut.std_error
    near = int((frame["score"].abs() < 0.05).sum())
    assert (donut.diagnostics["donut"], donut.diagnostics["donut_rows_left_out"]) == (0.05, float(near))
    with pytest.raises(EstimationError, match="donut must be a distance of 0 or more"):
        estimate("rd_robust", frame, ROLES, options={"donut": -1})
    with pytest.raises(EstimationError, match="with a donut of 5 around the cutoff"):
        estimate("rd_robust", frame, ROLES, options={"donut": 5})


def _grid(diagnostics: dict[str, float | str | None], prefix: str, first: str) -> list[dict[str, float]]:
    """Rows `{prefix}_{k}_{field}` in order, as the report reads them."""
    rows: list[dict[str, float]] = []
    while f"{prefix}_{len(rows)}_{first}" in diagnostics:
        head = f"{prefix}_{len(rows)}_"
        rows.append({key[len(head) :]: float(v) for key, v in diagnostics.items() if key.startswith(head)})  # type: ignore[arg-type]
    return rows


def test_the_bandwidth_grid_holds_the_chosen_fit_and_each_refit_matches_rdrobust() -> None:
    frame = simulation.discontinuity(4000, seed=1)
    fitted = _fit(frame)
    d = fitted.diagnostics_
    grid = _grid(d, "bandwidth_grid", "h")
    h, b = float(d["bandwidth_h_left"]), float(d["bandwidth_b_left"])  # type: ignore[arg-type]
    assert [row["h"] for row in grid] == pytest.approx([m * h for m in (0.5, 0.75, 1.0, 1.5, 2.0)])
    chosen = grid[2]
    assert chosen["estimate"] == pytest.approx(fitted.ate_, abs=1e-10)
    assert (chosen["ci_lower"], chosen["ci_upper"]) == pytest.approx(fitted.ate_interval(), abs=1e-8)
    direct = rdrobust(frame["y"].to_numpy(), frame["score"].to_numpy(), c=0.0, h=0.5 * h, b=0.5 * b)
    assert grid[0]["estimate"] == pytest.approx(direct.coef.loc["Conventional"].iloc[0], abs=1e-8)
    # Known answer: the jump is 1.5 at every bandwidth; the widest may miss it (curvature).
    assert sum(row["ci_lower"] < 1.5 < row["ci_upper"] for row in grid) >= 4
    assert all(row["ci_upper"] - row["ci_lower"] > 0 for row in grid)


def test_placebo_cutoffs_use_one_side_and_find_no_jump() -> None:
    frame = simulation.discontinuity(4000, seed=1)
    d = _fit(frame).diagnostics_
    placebos = _grid(d, "placebo_cutoff", "at")
    assert len(placebos) == 4
    assert [row["at"] < 0 for row in placebos] == [True, True, False, False]
    left = frame[frame["score"] < 0]
    at = float(np.quantile(left["score"], 1 / 3))
    h, b = d["bandwidth_h_left"], d["bandwidth_b_left"]  # the real cutoff's left bandwidths
    direct = rdrobust(left["y"].to_numpy(), left["score"].to_numpy(), c=at, h=h, b=b)
    assert placebos[0]["at"] == pytest.approx(at)
    assert placebos[0]["estimate"] == pytest.approx(direct.coef.loc["Conventional"].iloc[0], abs=1e-8)
    assert sum(row["ci_lower"] < 0 < row["ci_upper"] for row in placebos) >= 3  # no treatment there
    assert max(abs(row["estimate"]) for row in placebos) < 1.5 / 2


def test_a_fuzzy_design_has_a_bandwidth_grid_but_no_placebo_cutoffs() -> None:
    d = _fit(simulation.discontinuity(4000, seed=2, fuzzy=True)).diagnostics_
    assert len(_grid(d, "bandwidth_grid", "h")) == 5
    assert "placebo_cutoff_0_at" not in d  # the outcome's jump alone is not the effect there
