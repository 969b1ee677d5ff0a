"""period_order: period labels sort in calendar order, step by one period, and fail clearly."""

from __future__ import annotations

import datetime
import random

import numpy as np
import pandas as pd
import pytest

from cqox_shared.periods import PeriodLabelError, looks_like_periods, parse_period, period_order


def _keys(labels: list[object]) -> list[float]:
    return period_order(pd.Series(labels, dtype=object)).tolist()


def _steps(labels: list[str]) -> None:
    """Labels given in calendar order come back as consecutive integers after shuffling."""
    shuffled = labels[:]
    random.Random(7).shuffle(shuffled)
    keys = dict(zip(shuffled, _keys(shuffled), strict=True))
    ordered = [keys[label] for label in labels]
    assert np.diff(ordered).tolist() == [1.0] * (len(labels) - 1), (labels, ordered)


@pytest.mark.parametrize(
    "labels",
    [
        ["Q42010", "Q12011", "Q22011", "Q32011", "Q42011", "Q12012"],  # causaldata organ_donations
        ["Q4 2010", "Q1 2011", "Q2 2011"],
        ["2010-Q4", "2011-Q1", "2011-Q2"],
        ["2010Q4", "2011Q1", "2011Q2"],
        ["2010 q4", "2011 q1"],
        ["4Q2010", "1Q2011"],
        ["Q4-10", "Q1-11"],
        ["2010年第4四半期", "2011年第1四半期"],
        ["2010年第四季度", "2011年第一季度"],
        ["2010년 4분기", "2011년 1분기"],
        ["2010T4", "2011T1"],
        ["H1 2020", "H2 2020", "H1 2021"],
        ["2020H2", "2021H1"],
        ["2020-H2", "2021-H1"],
        ["2020年上期", "2020年下期", "2021年上期"],
        ["2020년 상반기", "2020년 하반기"],
        ["FY2018", "FY2019", "FY2020"],
        ["FY18", "FY19"],
        ["FY 2019-20", "FY 2020-21"],
        ["2018年度", "2019年度"],
        ["平成30年", "平成31年", "令和2年"],  # 2018, 2019, 2020: era years continue across eras
        ["Nov-2018", "Dec-2018", "Jan-2019", "Feb-2019"],
        ["November 2018", "December 2018", "January 2019"],
        ["Dec-18", "Jan-19"],
        ["2018-12", "2019-01", "2019-02"],
        ["2018/12", "2019/1"],
        ["12/2018", "01/2019"],
        ["2018M12", "2019M01"],
        ["2018年12月", "2019年1月", "2019年2月"],
        ["2018년 12월", "2019년 1월"],
        ["令和元年12月", "令和2年1月"],
        ["déc. 2018", "janv. 2019", "févr. 2019"],
        ["Dezember 2018", "Januar 2019", "Februar 2019", "März 2019"],
        ["diciembre 2018", "enero 2019"],
        ["2019-W52", "2020-W01", "2020-W02"],
        ["2019-12-31", "2020-01-01", "2020-01-02"],
        ["31/12/2019", "01/01/2020"],
        ["2019年12月31日", "2020年1月1日"],
    ],
)
def test_labels_step_by_one_period_in_calendar_order(labels: list[str]) -> None:
    _steps(labels)


def test_text_sort_would_be_wrong_but_the_key_is_right() -> None:
    labels = pd.Series(["Q42010", "Q12011", "Q32011", "Q12012"] * 2, name="Quarter")
    assert sorted(set(labels)) != ["Q42010", "Q12011", "Q32011", "Q12012"]  # what text sort does
    keys = period_order(labels)
    assert keys.index.equals(labels.index) and keys.name == "Quarter"
    assert labels[keys.sort_values(kind="stable").index].drop_duplicates().tolist() == [
        "Q42010",
        "Q12011",
        "Q32011",
        "Q12012",
    ]


def test_keys_per_granularity() -> None:
    assert _keys(["2010-Q4"]) == [2010 * 4 + 3]
    assert _keys(["H2 2020"]) == [2020 * 2 + 1]
    assert _keys(["Jan-2019"]) == [2019 * 12]
    assert _keys(["FY2019", "FY2020"]) == [2019, 2020]
    assert _keys(["令和元年", "令和2年"]) == [2019, 2020]
    assert _keys(["2020-01-02", "2020-01-01"]) == [18263, 18262]


def test_mixed_granularities_use_the_finest_at_period_starts() -> None:
    keys = _keys(["2019", "2019-Q2", "2020", "2019-Q1"])
    assert keys == [2019 * 4, 2019 * 4 + 1, 2020 * 4, 2019 * 4]


def test_numbers_and_datetimes_are_kept_as_they_are() -> None:
    numbers = pd.Series([2001, 1999, 2000])
    assert period_order(numbers) is numbers
    floats = pd.Series([0.5, 1.5])
    assert period_order(floats) is floats
    dates = pd.Series(pd.to_datetime(["2020-02-01", "2020-01-01"]))
    assert period_order(dates) is dates
    text_numbers = period_order(pd.Series(["2001", "1999", None], dtype=object))
    assert text_numbers.tolist()[:2] == [2001.0, 1999.0] and np.isnan(text_numbers.iloc[2])
    objects = period_order(pd.Series([datetime.date(2020, 2, 1), datetime.date(2020, 1, 1)], dtype=object))
    assert objects.iloc[0] > objects.iloc[1]


def test_missing_values_stay_missing_and_the_index_is_kept() -> None:
    series = pd.Series(["Q1 2020", None, "Q2 2020"], index=[10, 20, 30], dtype=object)
    keys = period_order(series)
    assert keys.index.tolist() == [10, 20, 30]
    assert keys[10] == 2020 * 4 and np.isnan(keys[20]) and keys[30] == 2020 * 4 + 1
    assert period_order(pd.Series([None, None], dtype=object)).isna().all()


def test_day_first_is_decided_by_the_column() -> None:
    us = _keys(["03/04/2019", "12/31/2019"])  # 31 cannot be a month: month first, so 4 March
    assert us[0] == (datetime.date(2019, 3, 4) - datetime.date(1970, 1, 1)).days
    europe = _keys(["03/04/2019", "31/12/2019"])
    assert europe[0] == (datetime.date(2019, 4, 3) - datetime.date(1970, 1, 1)).days


@pytest.mark.parametrize(
    "labels",
    [
        ["control", "treated"],
        ["Tokyo", "Osaka"],
        ["Q5 2010"],  # no fifth quarter
        ["2019-13"],  # no thirteenth month
        ["H3 2020"],
        ["Foo-2019"],
        ["2019/23"],  # not a fiscal year 2019/20
        ["2019-W60"],
        ["2019-02-30"],
        ["Q12345", "Q23456"],  # product codes, not quarters of the year 2345
    ],
)
def test_labels_that_are_not_periods_raise_a_clear_error(labels: list[str]) -> None:
    with pytest.raises(PeriodLabelError, match="not periods"):
        period_order(pd.Series(labels, name="col"))
    assert not looks_like_periods(pd.Series(labels))


def test_one_bad_label_among_periods_is_named() -> None:
    with pytest.raises(PeriodLabelError, match=r"1 of 3 labels.*'total'"):
        period_order(pd.Series(["Q1 2020", "Q2 2020", "total"], name="quarter"))


def test_booleans_are_not_periods() -> None:
    with pytest.raises(PeriodLabelError):
        period_order(pd.Series([True, False]))


def test_looks_like_periods() -> None:
    assert looks_like_periods(pd.Series(["Q42010", "Q12011"]))
    assert looks_like_periods(pd.Series(["2019年1月", None]))
    assert not looks_like_periods(pd.Series(["2019", "2020"]))  # plain numbers are numbers
    assert not looks_like_periods(pd.Series([2019, 2020]))
    assert looks_like_periods(pd.Series(["Q1 2020", "x"]), min_share=0.5)


def test_parse_period_is_none_for_non_text() -> None:
    assert parse_period(2019) is None
    assert parse_period("") is None
    period = parse_period("Ｑ４　２０１０")  # full width, as Japanese spreadsheets write it
    assert (
        period is not None and period.granularity == "quarter" and period.start == datetime.date(2010, 10, 1)
    )


def test_real_file_organ_donations_quarters_sort_in_time() -> None:
    causaldata = pytest.importorskip("causaldata")
    data = causaldata.organ_donations.load_pandas().data
    keys = period_order(data["Quarter"])
    by_label = pd.Series(keys.to_numpy(), index=data["Quarter"].to_numpy()).groupby(level=0).first()
    # The dataset's own running number agrees with the order of the labels.
    numbered = data.groupby("Quarter")["Quarter_Num"].first()
    assert by_label.rank().sort_index().tolist() == numbered.rank().sort_index().tolist()


def test_year_pairs_read_as_fiscal_years_when_the_column_says_so() -> None:
    assert _keys(["2011/12", "2012/01"]) == [2011 * 12 + 11, 2012 * 12]  # months
    assert _keys(["2011/12", "2012/13"]) == [2011, 2012]  # school years: 2012/13 is no month


def test_arrow_backed_columns_as_parquet_reads_them() -> None:
    stamps = pd.Series(pd.to_datetime(["2020-01-01", "2020-02-01"])).astype("timestamp[ns][pyarrow]")
    assert period_order(stamps) is stamps
    labels = pd.Series(["Q2 2020", "Q1 2020"], dtype="string[pyarrow]")
    assert period_order(labels).tolist() == [2020 * 4 + 1, 2020 * 4]
