"""IV and RD designs through the running services: the mapper finds the instrument or the running
variable (and its cutoff), the planner runs the design's own method, and the gates judge it by the
design's own tests instead of treated/untreated balance."""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd
import pytest

from cqox_estimator.simulation import discontinuity, instrumented
from tests.integration.conftest import upload, wait_done

pytestmark = pytest.mark.integration

TRUTH = 1.5


def scholarship_study(path: Path) -> Path:
    """Students with an entrance score; a scholarship from 60 points on (sharp RD, jump 1.5)."""
    frame = discontinuity(3000, 5, effect=TRUTH)
    frame = pd.DataFrame(
        {
            "student_id": [f"s{i}" for i in range(len(frame))],
            "entrance_score": (60 + 20 * frame["score"]).round(3),
            "scholarship": frame["treated"],
            "gpa": frame["y"].round(4),
            "family_income": frame["x1"].round(4),
            "age": frame["x2"].round(4),
        }
    )
    frame.to_csv(path, index=False)
    return path


def lottery_study(path: Path) -> Path:
    """A programme offered by lottery; enrolment is confounded by an unobserved trait (LATE 1.5)."""
    frame = instrumented(3000, 5, effect=TRUTH).rename(
        columns={"z": "lottery", "treated": "enrolled", "y": "earnings", "x1": "age", "x2": "test_score"}
    )
    frame.insert(0, "person_id", [f"p{i}" for i in range(len(frame))])
    frame.to_csv(path, index=False)
    return path


def test_a_sharp_discontinuity_is_found_estimated_and_gated(api: httpx.Client, tmp_path: Path) -> None:
    # Treatment and outcome are named by the user; the running variable and the cutoff of 60 are
    # inferred from the name "entrance_score" and from where the scholarship switches on.
    spec = {"methods": "auto", "roles": {"treatment": "scholarship", "outcome": "gpa"}}
    created = upload(api, scholarship_study(tmp_path / "scholarship.csv"), name="rd", spec=spec)
    analysis = wait_done(api, created["analysis_id"], timeout=180)
    assert analysis["status"] == "completed", analysis["error"]
    assert analysis["roles"]["running_variable"] == "entrance_score"
    assert analysis["roles"]["cutoff"] == 60.0
    assert [e["method"] for e in analysis["estimates"]] == ["rd_robust"]
    [rd] = analysis["estimates"]
    # One draw: within three robust SEs of the truth (its 95 % interval misses 1 in 20 draws).
    assert rd["estimand"] == "LATE" and abs(rd["estimate"] - TRUTH) < 3 * rd["std_error"], rd
    assert rd["diagnostics"]["rd_design"] == "sharp"
    gates = {g["name"]: g for g in analysis["gates"] if g["category"] == "causal"}
    refuters = {name for name in gates if name.endswith("[rd_robust]")}
    assert gates.keys() - refuters == {"rd_manipulation", "rd_covariate_continuity", "rd_mass_points"}
    assert gates["rd_mass_points"]["passed"], gates["rd_mass_points"]  # a continuous entrance score
    assert gates["rd_manipulation"]["passed"], gates["rd_manipulation"]["message"]
    # The RD's refuters: a placebo cutoff on one side (no jump there), a random covariate, subsets.
    assert {"placebo_treatment[rd_robust]", "data_subset[rd_robust]"} <= refuters
    placebo = gates["placebo_treatment[rd_robust]"]
    assert placebo["passed"] and "placebo cutoff" in placebo["message"], placebo["message"]


def test_an_instrument_is_found_and_beats_the_confounded_comparison(
    api: httpx.Client, tmp_path: Path
) -> None:
    created = upload(api, lottery_study(tmp_path / "lottery.csv"), name="iv")
    analysis = wait_done(api, created["analysis_id"], timeout=180)
    assert analysis["status"] == "completed", analysis["error"]
    assert (analysis["roles"]["instrument"], analysis["roles"]["treatment"]) == ("lottery", "enrolled")
    assert [e["method"] for e in analysis["estimates"]] == ["iv_2sls"]
    [iv] = analysis["estimates"]
    assert iv["estimand"] == "LATE" and abs(iv["estimate"] - TRUTH) < 3 * iv["std_error"], iv
    assert iv["diagnostics"]["ols_estimate"] > iv["ci_upper"]  # OLS is biased by the hidden trait
    gates = {g["name"]: g for g in analysis["gates"] if g["category"] == "causal"}
    refuters = {name for name in gates if name.endswith("[iv_2sls]")}
    assert gates.keys() - refuters == {"weak_instrument"} and gates["weak_instrument"]["passed"]
    # No placebo treatment for IV (a permuted treatment has no first stage): the other refuters run.
    assert refuters == {"random_common_cause[iv_2sls]", "data_subset[iv_2sls]"}


def test_card_returns_to_schooling_with_a_continuous_treatment(api: httpx.Client, tmp_path: Path) -> None:
    """Card (1995) through the upload API: log wage on years of schooling, instrumented by growing
    up near a four-year college (Wooldridge, Example 15.4: 0.1315; OLS 0.0747)."""
    from linearmodels.datasets import card

    controls = ["exper", "expersq", "black", "smsa", "south", "smsa66", *[f"reg66{j}" for j in range(2, 10)]]
    path = tmp_path / "card.csv"
    card.load()[["id", "lwage", "educ", "nearc4", *controls]].to_csv(path, index=False)
    spec = {
        "methods": "auto",
        "roles": {"treatment": "educ", "outcome": "lwage", "instrument": "nearc4", "covariates": controls},
        "options": {"iv_2sls": {"cov_type": "unadjusted"}},
    }
    analysis = wait_done(api, upload(api, path, name="card", spec=spec)["analysis_id"], timeout=180)
    assert analysis["status"] == "completed", analysis["error"]
    assert analysis["design"] == "iv"
    [iv] = analysis["estimates"]
    assert iv["method"] == "iv_2sls" and iv["estimate"] == pytest.approx(0.1315, abs=5e-4)
    assert iv["diagnostics"]["treatment_scale"] == "continuous"
    assert iv["diagnostics"]["ols_estimate"] == pytest.approx(0.0747, abs=5e-4)


def test_a_sharp_rd_given_as_running_variable_and_cutoff_derives_its_treatment(
    api: httpx.Client, tmp_path: Path
) -> None:
    """No treatment column: the treatment of a sharp RD is 1(running >= cutoff), derived and said."""
    path = scholarship_study(tmp_path / "scholarship.csv")
    pd.read_csv(path).drop(columns="scholarship").to_csv(path, index=False)
    spec = {"roles": {"outcome": "gpa", "running_variable": "entrance_score", "cutoff": 60}}
    analysis = wait_done(api, upload(api, path, name="rd-derived", spec=spec)["analysis_id"], timeout=180)
    assert analysis["status"] == "completed", analysis["error"]
    assert analysis["design"] == "rd"
    assert not analysis["roles"]["treatment"]
    [rd] = analysis["estimates"]
    assert rd["method"] == "rd_robust" and abs(rd["estimate"] - TRUTH) < 3 * rd["std_error"], rd
    assert rd["diagnostics"]["treatment_definition"].startswith("sharp RD: no treatment column")
    definition = next(g for g in analysis["gates"] if g["name"] == "treatment_definition")
    assert definition["passed"] and "entrance_score ≥ 60" in definition["message"]
