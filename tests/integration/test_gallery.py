"""The real-data gallery's fast half (issue 12): published datasets uploaded through the HTTP API as a
user would, each scored against its published figure (bench/gallery/datasets.py has the sources
and tolerances; `python -m bench.gallery` runs all of it).

Bar: the headline is inside the tolerance, and every other estimate is inside it or flagged by a
named gate. Datasets that miss it today are strict xfails with the precise reason: when the
platform is fixed the test XPASSes, fails, and the entry must be removed here — a visible flip.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/ is a folder of the repository, not an installed package
    sys.path.insert(0, str(REPO))
gallery = importlib.import_module("bench.gallery.datasets")
harness = importlib.import_module("bench.gallery.harness")
BY_NAME, GALLERY, run_dataset = gallery.BY_NAME, gallery.GALLERY, harness.run_dataset

# Fast-half datasets that miss the bar today (measured), and why.
MISSES_TODAY: dict[str, str] = {}

FAST = [d.name for d in GALLERY if d.fast]


def _param(name: str) -> object:
    if name in MISSES_TODAY:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=MISSES_TODAY[name]))
    return name


@pytest.mark.integration
@pytest.mark.parametrize("name", [_param(n) for n in FAST])
def test_published_dataset_meets_the_bar(api: httpx.Client, tmp_path: Path, name: str) -> None:
    row = run_dataset(api, BY_NAME[name], tmp_path)
    detail = "; ".join(row.reasons) + f" (analysis {row.analysis_id}, design {row.design})"
    assert row.meets_bar, detail


def test_the_gallery_covers_every_claimed_design() -> None:
    """At least 24 datasets, each with a source and a positive tolerance, across the designs."""
    assert len(GALLERY) >= 24
    assert all(d.reference.source and d.reference.tolerance > 0 for d in GALLERY)
    claims = " | ".join(d.claim for d in GALLERY)
    for family in (
        "good overlap",
        "poor overlap",
        "experiment",
        "attrition",
        "multi-arm",
        "staggered panel",
        "2x2 DiD on a panel",
        "repeated cross-sections",
        "one treated unit",
        "IV, binary",
        "IV, continuous",
        "sharp RD",
        "fuzzy RD",
    ):
        assert family in claims, family


# --- references recomputed from the cited code on the shipped file (no servers)


def test_the_fuzzy_rd_reference_is_the_books_code_on_the_shipped_file() -> None:
    """The Effect ch. 20: 2SLS of home ownership on veteran status and its slope in the running
    variable, instrumented by being above the cutoff and its slope, within 12 quarters, with
    nonwhite and birth-state and quarter fixed effects, robust SE. The entry used to say 0.482
    (0.0127): the same fit without the running variable, not an RD."""
    frame = BY_NAME["mortgages_fuzzy"].load()
    vet = frame[frame["qob_minus_kw"].abs() < 12]
    x = vet["qob_minus_kw"].to_numpy(dtype=float)
    above = (x > 0).astype(float)
    treated = vet["vet_wwko"].to_numpy(dtype=float)
    fixed = pd.get_dummies(vet[["bpl", "qob"]].astype("category"), drop_first=True).to_numpy(dtype=float)
    exog = np.column_stack([np.ones(len(vet)), vet["nonwhite"].to_numpy(dtype=float), x, fixed])
    regressors = np.column_stack([treated, treated * x, exog])
    instruments = np.column_stack([above, above * x, exog])
    y = vet["home_ownership"].to_numpy(dtype=float)
    # 2SLS by hand (first stage fitted values, then OLS on them), heteroskedasticity-robust SE (HC0)
    fitted = instruments @ np.linalg.solve(instruments.T @ instruments, instruments.T @ regressors)
    beta = np.linalg.solve(fitted.T @ fitted, fitted.T @ y)
    residual = y - regressors @ beta
    bread = np.linalg.inv(fitted.T @ fitted)
    meat = (fitted * residual[:, None] ** 2).T @ fitted
    se = float(np.sqrt((bread @ meat @ bread)[0, 0]))
    reference = BY_NAME["mortgages_fuzzy"].reference
    assert beta[0] == pytest.approx(reference.value, abs=5e-4)
    assert se == pytest.approx(reference.se, abs=5e-4)


def test_the_sharp_rd_reference_is_the_linear_fit_over_the_whole_window() -> None:
    """gov_transfers: Support on Participation, Income_Centered and their interaction over the file's
    whole ±0.02 window, 0.0999 (0.0295): what rd_robust gives with the stated bandwidth 0.02 and
    equal (uniform) weights, the options the entry states."""
    dataset = BY_NAME["gov_transfers"]
    frame = dataset.load()
    income, treated = (
        frame["Income_Centered"].to_numpy(dtype=float),
        frame["Participation"].to_numpy(dtype=float),
    )
    design = np.column_stack([np.ones(len(frame)), treated, income, treated * income])
    y = frame["Support"].to_numpy(dtype=float)
    beta, residual_ss, *_ = np.linalg.lstsq(design, y, rcond=None)
    sigma2 = float(residual_ss[0]) / (len(y) - design.shape[1])
    se = float(np.sqrt(sigma2 * np.linalg.inv(design.T @ design)[1, 1]))
    assert beta[1] == pytest.approx(dataset.reference.value, abs=5e-4)
    assert se == pytest.approx(dataset.reference.se, abs=5e-4)
    assert dataset.options == {"rd_robust": {"bandwidth": 0.02, "kernel": "uniform"}}


# --- the scoring itself, on hand-made analyses (no servers)


def _analysis(**extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "status": "completed",
        "design": "observational",
        "roles": {"treatment": "treat", "outcome": "re78"},
        "estimates": [
            {"method": "ols", "estimand": "ATE", "estimate": 1700.0, "ci_lower": 400.0, "ci_upper": 3000.0},
            {
                "method": "ipw",
                "estimand": "ATE",
                "estimate": -9000.0,
                "ci_lower": -9900.0,
                "ci_upper": -8100.0,
            },
            {"method": "policy_tree", "estimand": "policy gain", "estimate": 50.0},
        ],
        "gates": [
            {
                "name": "propensity_overlap",
                "passed": False,
                "applies_to": ["ipw"],
                "message": "treated units sit where no control is",
            }
        ],
        "headline": {
            "estimand": "ATE",
            "estimate": 1700.0,
            "ci_lower": 400.0,
            "ci_upper": 3000.0,
            "method": "ols",
        },
    }
    base.update(extra)
    return base


def _score(analysis: dict[str, object]) -> object:
    dataset = BY_NAME["nsw_experiment"]
    row = harness.Row(dataset.name, dataset.claim, dataset.design, dataset.package, 1794.34, 1240.4, "")
    return harness.score(dataset, analysis, row)


def test_a_flagged_estimate_outside_the_tolerance_keeps_the_bar() -> None:
    row = _score(_analysis())
    scores = {s.method: s for s in row.scores}
    assert scores["ipw"].flags == ["propensity_overlap"] and not scores["ipw"].in_tolerance
    assert not scores["policy_tree"].scored  # a policy gain is no effect estimate
    assert row.headline.source == "analysis.headline" and row.headline_in_tolerance
    assert row.meets_bar, row.reasons


def test_an_unflagged_estimate_outside_the_tolerance_misses_the_bar() -> None:
    row = _score(_analysis(gates=[]))
    assert not row.meets_bar
    assert row.reasons == ["ipw -9,000 outside 1,794 ± 1,240, no gate flags it"]


def test_without_a_structured_headline_the_report_sentence_is_read() -> None:
    report = {"headline": "Median ATE across 2 methods: -3,650.000 (range -9,000 to 1,700); 1 of 2 agree."}
    row = _score(_analysis(headline=None, report=report))
    assert row.headline.estimate == -3650.0 and row.headline.estimand == "ATE"
    assert not row.meets_bar and row.reasons[0].startswith("headline ATE -3,650 outside")


def test_an_analysis_waiting_for_confirmation_says_which_roles() -> None:
    mapping = [
        {"role": "treatment", "column": "treat", "confidence": 0.4},
        {"role": "outcome", "column": "re78", "confidence": 0.9},
    ]
    row = _score(_analysis(status="awaiting_confirmation", estimates=[], mapping=mapping, headline=None))
    assert row.error == "waits for the user to confirm treatment=treat (0.40)"
    assert not row.meets_bar


def test_the_verdict_sensitivity_and_refuters_are_read_and_shown() -> None:
    """Issue 14: every gallery analysis shows its verdict, the headline's panel and the refuters."""
    main = importlib.import_module("bench.gallery.__main__")
    refuters = [
        {"name": "placebo_treatment[ols]", "passed": True, "applies_to": []},
        {"name": "placebo_treatment[ipw]", "passed": False, "applies_to": ["ipw"], "message": "m"},
        {"name": "data_subset[ipw]", "passed": True, "applies_to": []},
    ]
    analysis = _analysis(
        gates=[*_analysis()["gates"], *refuters],  # type: ignore[misc]
        verdict={"level": "CAUTION", "summary": "CAUTION: read the reasons."},
        sensitivity=[
            {
                "method": "ols",
                "headline": True,
                "e_value": {"point": 1.89, "ci": 1.55},
                "omitted_variable_bias": {"robustness_value": 0.139, "robustness_value_alpha": 0.076},
            }
        ],
    )
    row = _score(analysis)
    rob = row.robustness
    assert (rob.verdict, rob.e_value, rob.robustness_value) == ("CAUTION", 1.89, 0.139)
    outcomes = {r.refuter: (r.passed, r.failed, r.headline) for r in rob.refuters}
    assert outcomes == {"placebo_treatment": (1, 1, "passed"), "data_subset": (1, 0, "")}
    assert main.sensitivity_text(row) == "E-value 1.89 (CI 1.55), RV 13.9% (α: 7.6%)"
    assert main.refuters_text(row) == "placebo_treatment ✓ 1/2, data_subset · 1/1"
    table = main.markdown([row])
    assert "| CAUTION | E-value 1.89 (CI 1.55), RV 13.9% (α: 7.6%) | placebo_treatment ✓ 1/2" in table
    again = harness.Row.from_json(json.loads(json.dumps(row.to_json(), default=str)))
    assert again.robustness == rob
