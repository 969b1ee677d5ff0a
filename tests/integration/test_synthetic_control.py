"""A synthetic control through the running services: one state adopts a policy, the mapper sees a
panel with a single treated unit and picks the design, the planner runs `synthetic_control`."""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd
import pytest

from cqox_estimator.simulation import synthetic_panel
from tests.integration.conftest import upload, wait_done

pytestmark = pytest.mark.integration

TRUTH = -20.0  # packs per head a year


def tobacco_tax_study(path: Path) -> Path:
    """39 states over 31 years; one raises its tobacco tax in year 19 (a Prop 99-like design)."""
    frame = synthetic_panel(n_donors=38, n_periods=31, adoption=19, effect=TRUTH / 10, seed=11)
    frame = frame.rename(columns={"unit": "state", "period": "year"})
    frame["year"] += 1970
    frame["cigarette_sales"] = (120 + 10 * frame.pop("y")).round(2)
    frame.to_csv(path, index=False)
    return path


def test_one_treated_state_gets_a_synthetic_control(api: httpx.Client, tmp_path: Path) -> None:
    created = upload(api, tobacco_tax_study(tmp_path / "tobacco.csv"), name="synthetic")
    analysis = wait_done(api, created["analysis_id"], timeout=180)
    assert analysis["status"] == "completed", analysis["error"]
    assert analysis["design"] == "synthetic_control"
    estimates = {e["method"]: e for e in analysis["estimates"]}
    assert estimates.keys() == {"synthetic_control", "twfe"}  # the classic DiD beside it
    sc = estimates["synthetic_control"]
    assert sc["estimand"] == "ATT" and abs(sc["estimate"] - TRUTH) < 3 * sc["std_error"], sc
    assert sc["n_treated"] == 12  # one state, 12 years from adoption
    assert sc["diagnostics"]["n_donors"] == 38 and sc["diagnostics"]["placebo_p_value"] <= 0.1
    # Balance and overlap of treated and untreated rows say nothing here: no causal gate runs them.
    gates = {g["name"]: g for g in analysis["gates"]}
    assert not {"balance_smd", "propensity_overlap"} & gates.keys()
    # TWFE's cluster-robust SE with one treated state is far too small: flagged, with the reason.
    twfe = estimates["twfe"]
    assert abs(twfe["estimate"] - TRUTH) < 5, twfe
    assert not gates["treated_clusters"]["passed"] and gates["treated_clusters"]["applies_to"] == ["twfe"]
    assert analysis["headline"]["estimand"] == "ATT"
    assert analysis["headline"]["method"] == "synthetic_control"
    # The donors reproduce the treated state's path up to its noise (pre-RMSPE 22 % of the outcome's
    # SD, under the 50 % that marks gross misfit), and the headline gets no confounding measure:
    # the design identifies it.
    assert gates["pre_period_fit"]["passed"], gates["pre_period_fit"]
    assert gates["pre_period_fit"]["value"] < 0.5
    assert analysis["sensitivity"][0]["e_value"] is None and analysis["sensitivity"][0]["notes"]
    assert analysis["verdict"]["level"] in ("GO", "CAUTION")
    # Its donors are its placebos: in space, in time and one donor at a time, all passing here.
    refuted = {g["name"]: g for g in analysis["gates"] if g["applies_to"] == ["synthetic_control"]}
    for refuter in ("placebo_treatment", "placebo_adoption", "data_subset"):
        gate = refuted[f"{refuter}[synthetic_control]"]
        assert gate["passed"] and gate["value"] is not None and gate["threshold"] == 0.05, gate


def test_a_synthetic_control_alone_shows_its_refuters_and_a_break_before_adoption(
    api: httpx.Client, tmp_path: Path
) -> None:
    """The only method is the synthetic control; the treated state's sales jump 3 noise SDs in 1982,
    seven years before the policy: the in-time placebo (adoption moved to 1980) must catch it."""
    path = tobacco_tax_study(tmp_path / "tobacco.csv")
    frame = pd.read_csv(path)
    frame.loc[(frame["state"] == "treated1") & (frame["year"] >= 1982), "cigarette_sales"] += 30.0
    frame.to_csv(path, index=False)
    spec = {"methods": ["synthetic_control"], "seed": 3}
    analysis = wait_done(api, upload(api, path, name="sc-break", spec=spec)["analysis_id"], timeout=180)
    assert analysis["status"] == "completed", analysis["error"]
    assert [e["method"] for e in analysis["estimates"]] == ["synthetic_control"]
    gates = {g["name"]: g for g in analysis["gates"]}
    assert {n for n in gates if n.endswith("[synthetic_control]")} == {
        "placebo_treatment[synthetic_control]",
        "placebo_adoption[synthetic_control]",
        "data_subset[synthetic_control]",
    }
    in_time = gates["placebo_adoption[synthetic_control]"]
    assert not in_time["passed"] and in_time["value"] < 0.05, in_time
    assert "pre-period RMSPE" in str(in_time["details"]["change"]) and "stops tracking" in in_time["message"]
    assert gates["placebo_treatment[synthetic_control]"]["value"] is not None
    assert analysis["verdict"]["level"] == "CAUTION"
    assert any("placebo_adoption[synthetic_control]" in reason for reason in analysis["verdict"]["failed"])
