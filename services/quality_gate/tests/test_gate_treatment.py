"""Reading treatment columns: 0/1, bool and two-level labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cqox_quality_gate.domain import code_treatment


@pytest.mark.parametrize(
    ("values", "dtype", "treated", "control", "expected"),
    [
        ([1, 0, 1], None, "1", "0", [1.0, 0.0, 1.0]),
        ([1.0, 0.0, np.nan], None, "1.0", "0.0", [1.0, 0.0, np.nan]),
        ([True, False, None], "boolean", "True", "False", [1.0, 0.0, np.nan]),
        (["yes", "no", None], None, "yes", "no", [1.0, 0.0, np.nan]),
        (["Control", "Treated"], None, "Treated", "Control", [0.0, 1.0]),
        (["treatment", "control"], None, "treatment", "control", [1.0, 0.0]),
        (["1", "0"], None, "1", "0", [1.0, 0.0]),
        (["b", "a", "b"], None, "b", "a", [1.0, 0.0, 1.0]),  # no treated label: sorted order
        ([2, 5], None, "5", "2", [0.0, 1.0]),  # two numbers, not 0/1: the larger
    ],
)
def test_two_level_columns(
    values: list[object], dtype: str | None, treated: str, control: str, expected: list[float]
) -> None:
    coding = code_treatment(pd.Series(values, dtype=dtype))
    assert coding.is_binary
    assert (coding.treated_level, coding.control_level) == (treated, control)
    assert coding.indicator is not None
    np.testing.assert_array_equal(coding.indicator.to_numpy(), np.array(expected))


def test_single_arm_counts_rows() -> None:
    control_only = code_treatment(pd.Series(["no"] * 5))
    assert not control_only.is_binary
    assert (control_only.n_treated, control_only.n_control) == (0, 5)
    treated_only = code_treatment(pd.Series([1, 1, 1]))
    assert (treated_only.n_treated, treated_only.n_control) == (3, 0)


def test_more_than_two_levels_has_no_indicator() -> None:
    coding = code_treatment(pd.Series(["a", "b", "c"]))
    assert coding.indicator is None
    assert coding.levels == ("a", "b", "c")
    assert not coding.is_binary


@pytest.mark.parametrize(
    ("values", "coding", "treated", "indicator"),
    [
        (["はい", "いいえ", "はい"], {"いいえ": 0, "はい": 1}, "はい", [1.0, 0.0, 1.0]),
        # Sorted-text order alone would call "B" treated; the confirmed mapping says otherwise.
        (["A", "B", "A"], {"A": 1, "B": 0}, "A", [1.0, 0.0, 1.0]),
        ([1.0, 2.0, 1.0], {"1": 0, "2": 1}, "2", [0.0, 1.0, 0.0]),
    ],
)
def test_the_mappings_coding_decides_the_treated_level(values, coding, treated, indicator) -> None:  # type: ignore[no-untyped-def]
    result = code_treatment(pd.Series(values), coding)
    assert result.treated_level == treated
    assert result.indicator is not None and result.indicator.tolist() == indicator


def test_a_coding_that_names_no_observed_level_falls_back_to_the_labels() -> None:
    result = code_treatment(pd.Series(["yes", "no"]), {"ja": 1, "nein": 0})
    assert result.treated_level == "yes"
