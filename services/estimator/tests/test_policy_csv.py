"""The policy CSV cannot run as a spreadsheet formula (OWASP CSV injection)."""

from __future__ import annotations

import io

import pandas as pd

from cqox_contracts.v1 import EstimateResult
from cqox_estimator.domain import MethodRun, neutralise_formulas


def _result() -> EstimateResult:
    return EstimateResult(
        method="policy_tree",
        estimand="policy gain",
        estimate=1.0,
        std_error=None,
        ci_lower=None,
        ci_upper=None,
        p_value=None,
        n=8,
        inference="none",
    )


def test_text_cells_starting_a_formula_get_an_apostrophe_and_numbers_stay_numbers() -> None:
    policy = pd.DataFrame(
        {
            "unit": ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "plain", "a=b"],
            "row": range(8),
            "recommended_arm": ["treat"] * 8,
            "expected_gain": [-0.5, 0.1, -2.0, 3.0, 0.0, -1.0, 2.0, 1.0],
        }
    )
    files = MethodRun(result=_result(), policy=policy).files()
    assert [name for name, _, _ in files] == ["policy_policy_tree.csv"]
    text = files[0][1]
    assert b"'\rx" in text  # pandas leaves a bare CR unquoted, so it is checked in the bytes
    read = pd.read_csv(io.BytesIO(text.replace(b"\r", b"")), dtype={"unit": str}, keep_default_na=False)
    assert read["unit"].tolist() == [
        '\'=HYPERLINK("http://x")',
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "'x",
        "plain",
        "a=b",
    ]
    assert read["expected_gain"].tolist() == [-0.5, 0.1, -2.0, 3.0, 0.0, -1.0, 2.0, 1.0]
    assert policy["unit"].iloc[0].startswith("=")  # the caller's frame is left as it was


def test_a_column_name_starting_a_formula_is_neutralised() -> None:
    frame = neutralise_formulas(pd.DataFrame({"=cmd": ["x"], "gain": [1.0]}))
    assert list(frame.columns) == ["'=cmd", "gain"]
