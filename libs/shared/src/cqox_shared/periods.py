"""Period labels as an order: `Q42010`, `2010-Q4`, `FY2019`, `H1 2020`, `Jan-2019`, `2019年1月`, `令和2年`.

Time columns often hold labels that sort wrongly as text (`Q12011` < `Q42010`). ``period_order``
turns one column of labels into a numeric key per row that sorts in calendar order and steps by 1
from one period to the next at the column's finest granularity:

=========  ==========================================  =============================
granularity  labels (examples)                          key
=========  ==========================================  =============================
year       `2019`, `FY2019`, `FY19`, `2019年度`, `令和元年`   year
half       `H1 2020`, `2020H2`, `2020年上期`                year * 2 + half - 1
quarter    `Q42010`, `Q4 2010`, `2010-Q4`, `2010年第4四半期`  year * 4 + quarter - 1
month      `Jan-2019`, `January 2019`, `2019-01`, `2019年1月`  year * 12 + month - 1
week       `2019-W05`                                     days since 1970-01-01 of its Monday // 7
day        `2019-01-15`, `15/01/2019`                     days since 1970-01-01
=========  ==========================================  =============================

A column mixing granularities (`2019` beside `2019-Q1`) is keyed at the finest one, each label at
the start of its period. Plain numbers (also numeric text) and datetimes are returned as they are:
they already sort. Anything else raises ``PeriodLabelError`` naming the labels it could not read.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = ["PeriodLabelError", "looks_like_periods", "parse_period", "period_order"]

Granularity = Literal["year", "half", "quarter", "month", "week", "day"]
_FINENESS: dict[Granularity, int] = {"year": 0, "half": 1, "quarter": 2, "month": 3, "week": 4, "day": 5}
_EPOCH = datetime.date(1970, 1, 1)


class PeriodLabelError(ValueError):
    """The values are not period labels (the message quotes some that could not be read)."""


@dataclass(frozen=True)
class Period:
    """One parsed label: its granularity and the first day of the period."""

    granularity: Granularity
    start: datetime.date
    index: int  # position on the granularity's own axis (see the module's table)


_MONTHS = {
    # English, then the other languages the platform reads (Latin script, accents folded).
    **{m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)},
    **{
        "january": 1, "february": 2, "march": 3, "april": 4, "june": 6, "july": 7, "august": 8,
        "september": 9, "sept": 9, "october": 10, "november": 11, "december": 12,
        # es / pt
        "ene": 1, "enero": 1, "febrero": 2, "marzo": 3, "abr": 4, "abril": 4, "mayo": 5, "junio": 6,
        "julio": 7, "ago": 8, "agosto": 8, "septiembre": 9, "setiembre": 9, "set": 9, "octubre": 10,
        "noviembre": 11, "dic": 12, "diciembre": 12, "fev": 2, "fevereiro": 2, "marco": 3, "mai": 5,
        "maio": 5, "junho": 6, "julho": 7, "setembro": 9, "out": 10, "outubro": 10, "novembro": 11,
        "dez": 12, "dezembro": 12, "janeiro": 1,
        # fr
        "janv": 1, "janvier": 1, "fevr": 2, "fevrier": 2, "mars": 3, "avr": 4, "avril": 4, "juin": 6,
        "juil": 7, "juillet": 7, "aout": 8, "septembre": 9, "octobre": 10, "novembre": 11,
        "decembre": 12,
        # de
        "januar": 1, "jaen": 1, "februar": 2, "maerz": 3, "marz": 3, "juni": 6, "juli": 7,
        "okt": 10, "oktober": 10, "dezember": 12,
    },
}  # fmt: skip
_ERAS = {"明治": 1867, "大正": 1911, "昭和": 1925, "平成": 1988, "令和": 2018}
_KANJI_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "上": 1, "下": 2, "前": 1, "後": 2}

_Y = r"(?P<y>\d{4})"
_QUARTER = [
    re.compile(rf"^q(?P<q>[1-4])[-/ .]?{_Y}$"),  # Q42010, Q4 2010, Q4-2010
    re.compile(rf"^{_Y}[-/ .]?q(?P<q>[1-4])$"),  # 2010Q4, 2010-Q4, 2010 Q4
    re.compile(rf"^(?P<q>[1-4])q[-/ .]?{_Y}$"),  # 4Q2010, 4Q 2010
    re.compile(r"^q(?P<q>[1-4])[-/ .]?(?P<yy>\d{2})$"),  # Q4-10, Q410
    re.compile(rf"^{_Y}\s*年?\s*第?\s*(?P<q>[1-4一二三四])\s*(四半期|季度|季|분기|q)$"),  # 2010年第4四半期
    re.compile(rf"^{_Y}\s*년\s*(?P<q>[1-4])\s*분기$"),  # 2010년 4분기
    re.compile(rf"^(?P<q>[1-4])\s*(trim|trimestre|quartal|quarter|t)\.?\s*{_Y}$"),  # 4 trim 2010
    re.compile(rf"^{_Y}\s*[-/ ]?\s*t(?P<q>[1-4])$"),  # 2010T4 (es/fr/pt trimestre)
]
_HALF = [
    re.compile(rf"^h(?P<h>[12])[-/ .]?{_Y}$"),  # H1 2020, H12020
    re.compile(rf"^{_Y}[-/ .]?h(?P<h>[12])$"),  # 2020H1, 2020-H1
    re.compile(rf"^(?P<h>[12])h[-/ .]?{_Y}$"),  # 1H2020
    re.compile(rf"^{_Y}\s*年?\s*度?\s*(?P<h>[上下前後])\s*(半期|期|半年)$"),  # 2020年上期, 2020年度下半期
    re.compile(rf"^{_Y}\s*년\s*(?P<h>[상하])\s*반기$"),  # 2020년 상반기
    re.compile(rf"^(?P<h>[12])\s*(sem|semestre|halbjahr|hj)\.?\s*{_Y}$"),  # 1 sem 2020
    re.compile(rf"^{_Y}\s*[-/ ]?\s*s(?P<h>[12])$"),  # 2020S1
]
_YEAR = [
    re.compile(rf"^{_Y}$"),
    re.compile(rf"^(fy|ay|sy|cy)\s*[-/ ]?\s*{_Y}(\s*[-/]\s*\d{{2,4}})?$"),  # FY2019, FY 2019-20
    re.compile(r"^(fy|ay|sy)\s*[-/ ]?\s*(?P<yy>\d{2})$"),  # FY19
    re.compile(rf"^{_Y}\s*[-/]\s*(?P<next>\d{{2}}|\d{{4}})$"),  # 2019/20 (a fiscal or school year)
    re.compile(rf"^{_Y}\s*(年度?|년도?|年份)$"),  # 2019年, 2019年度, 2019년
]
_MONTH = [
    re.compile(rf"^{_Y}\s*[-/.]\s*(?P<m>\d{{1,2}})$"),  # 2019-01, 2019/1, 2019.01
    re.compile(rf"^(?P<m>\d{{1,2}})\s*[-/.]\s*{_Y}$"),  # 01/2019, 1-2019
    re.compile(rf"^{_Y}\s*m\s*(?P<m>\d{{1,2}})$"),  # 2019M01 (statistical offices)
    re.compile(rf"^{_Y}\s*(年|년)\s*(?P<m>\d{{1,2}})\s*(月|월)(分)?$"),  # 2019年1月, 2019년 1월
    re.compile(
        r"^(?P<name>[a-z]{3,10})\.?\s*[-/ ]?\s*(?P<yyyy>\d{4}|\d{2})$"
    ),  # Jan-2019, January 2019, Jan-19
    re.compile(r"^(?P<yyyy>\d{4})\s*[-/ ]?\s*(?P<name>[a-z]{3,10})\.?$"),  # 2019-Jan, 2019 January
]
_WEEK = re.compile(rf"^{_Y}\s*[-/ ]?\s*w(eek)?\s*(?P<w>\d{{1,2}})$")  # 2019-W05, 2019W5
_ERA = re.compile(
    r"^(?P<era>明治|大正|昭和|平成|令和)\s*(?P<n>\d{1,2}|元)\s*年度?"
    r"(\s*(?P<m>\d{1,2})\s*月(分)?)?$"
)
_DAY_TEXT = re.compile(
    r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}([ t]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(z|[+-]\d{2}:?\d{2})?"
    r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}"
    r"|\d{4}\s*(年|년)\s*\d{1,2}\s*(月|월)\s*\d{1,2}\s*(日|일))$"
)
_YEAR_PAIR = re.compile(r"^\d{4}\s*[-/]\s*\d{2,4}$")
_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})[-/.](\d{1,2})[-/.]\d{4}\s*$")


def _normalise(label: str) -> str:
    """Width-fold, case-fold and strip accents ('févr.' → 'fevr.'; '２０１９年' → '2019年')."""
    text = unicodedata.normalize("NFKC", label).strip().casefold()
    folded = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFKC", "".join(c for c in folded if not unicodedata.combining(c)))


def _year(match: re.Match[str]) -> int:
    groups = match.groupdict()
    if groups.get("y"):
        return int(groups["y"])
    if groups.get("yyyy"):
        raw = groups["yyyy"]
        return int(raw) if len(raw) == 4 else 2000 + int(raw)
    return 2000 + int(groups["yy"])


def _period(granularity: Granularity, year: int, step: int = 1) -> Period | None:
    """A period from its year and its step within the year (half, quarter or month number)."""
    if not 1800 <= year <= 2200:  # product codes like Q12345 are no quarters
        return None
    per_year = {"year": 1, "half": 2, "quarter": 4, "month": 12}[granularity]
    if not 1 <= step <= per_year:
        return None
    month = 1 + (step - 1) * (12 // per_year)
    return Period(granularity, datetime.date(year, month, 1), year * per_year + step - 1)


def _day(day: datetime.date) -> Period:
    return Period("day", day, (day - _EPOCH).days)


def parse_period(label: object, *, day_first: bool = True, year_pairs: bool = False) -> Period | None:
    """One label as a period, or None when it does not read as one (plain numbers other than years).

    ``day_first`` reads `03/04/2019` as 3 April (else as 4 March); `15/01/2019` and `01/15/2019`
    read the same either way. ``year_pairs`` reads `2011/12` as the year 2011/12 (else December).
    """
    if not isinstance(label, str):
        return None
    text = _normalise(label)
    if not text:
        return None
    for pattern in _QUARTER:
        if match := pattern.match(text):
            quarter = match["q"]
            return _period("quarter", _year(match), _KANJI_DIGITS.get(quarter) or int(quarter))
    for pattern in _HALF:
        if match := pattern.match(text):
            half = match["h"]
            step = {"상": 1, "하": 2}.get(half) or _KANJI_DIGITS.get(half) or int(half)
            return _period("half", _year(match), step)
    for pattern in _YEAR:
        if match := pattern.match(text):
            if match.groupdict().get("next"):  # 2019/20 is a year only when 20 follows 19 …
                following = int(match["next"]) % 100
                if following != (int(match["y"]) + 1) % 100:
                    break
                if not (year_pairs or len(match["next"]) == 4 or int(match["next"]) > 12):
                    break  # … and 2011/12 is December 2011 unless the column says otherwise
            return _period("year", _year(match))
    if match := _ERA.match(text):
        year = _ERAS[match["era"]] + (1 if match["n"] == "元" else int(match["n"]))
        return _period("month", year, int(match["m"])) if match["m"] else _period("year", year)
    for pattern in _MONTH:
        if match := pattern.match(text):
            if "name" in match.groupdict():
                month = _MONTHS.get(match["name"])
                if month is None:
                    return None
                return _period("month", _year(match), month)
            return _period("month", _year(match), int(match["m"]))
    if match := _WEEK.match(text):
        try:
            monday = datetime.date.fromisocalendar(int(match["y"]), int(match["w"]), 1)
        except ValueError:
            return None
        return Period("week", monday, (monday - _EPOCH).days // 7)
    if _DAY_TEXT.match(text):
        day = _parse_day(text, day_first)
        return _day(day) if day is not None else None
    return None


def _parse_day(text: str, day_first: bool) -> datetime.date | None:
    cjk = re.match(r"^(\d{4})\s*[年년]\s*(\d{1,2})\s*[月월]\s*(\d{1,2})\s*[日일]$", text)
    if cjk:
        parts = [int(g) for g in cjk.groups()]
    elif re.match(r"^\d{4}", text):
        parts = [int(p) for p in re.split(r"[-/.]", text[:10].split("t")[0].split(" ")[0])]
    else:  # dd/mm/yyyy or mm/dd/yyyy
        first, second, year = (int(p) for p in re.split(r"[-/.]", text))
        if first > 12 or second > 12:
            day_first = first > 12
        parts = [year, second, first] if day_first else [year, first, second]
    try:
        return datetime.date(parts[0], parts[1], parts[2])
    except (ValueError, IndexError):
        return None


def _key(period: Period, granularity: Granularity) -> int:
    """The period's start on the axis of a (finer or equal) granularity."""
    start = period.start
    if granularity == period.granularity:
        return period.index
    if granularity in ("half", "quarter", "month"):
        per_year = {"half": 2, "quarter": 4, "month": 12}[granularity]
        return start.year * per_year + (start.month - 1) // (12 // per_year)
    if granularity == "week":
        return (start - _EPOCH).days // 7
    return (start - _EPOCH).days


def _day_first(labels: np.ndarray) -> bool:
    """Whether `dd/mm/yyyy` dates in a column put the day first: a second part above 12 says no."""
    pairs = [m.groups() for m in map(_NUMERIC_DATE.match, labels) if m]
    return not any(int(second) > 12 for _, second in pairs) or any(int(first) > 12 for first, _ in pairs)


def _is_numeric_text(values: pd.Series) -> bool:
    return bool(pd.to_numeric(values, errors="coerce").notna().all())


def period_order(values: pd.Series) -> pd.Series:
    """An orderable numeric key per row for a column of period labels (see the module's table).

    Numbers and numeric text come back as floats, datetimes unchanged; missing values stay
    missing. Raises ``PeriodLabelError`` when a non-missing label is neither a number nor a period.
    """
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise PeriodLabelError(f"column {values.name!r} is boolean, not a period")
    if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
        return values
    if isinstance(dtype, pd.ArrowDtype) and (
        pa.types.is_timestamp(dtype.pyarrow_dtype) or pa.types.is_date(dtype.pyarrow_dtype)
    ):
        return values
    if pd.api.types.is_numeric_dtype(dtype):
        return values
    present = values.dropna()
    if present.empty:
        return pd.Series(np.nan, index=values.index, dtype="float64", name=values.name)
    if all(isinstance(v, datetime.date | np.datetime64 | pd.Timestamp) for v in present.iloc[:100]):
        converted = pd.to_datetime(values, errors="coerce")
        if converted.notna().sum() == len(present):
            return converted
    labels = present.astype(str)
    distinct = np.asarray(pd.unique(labels), dtype=object)
    if _is_numeric_text(pd.Series(distinct)):
        return pd.to_numeric(values.astype(object).where(values.notna()), errors="coerce").astype("float64")
    day_first = _day_first(distinct)
    parsed = {label: parse_period(label, day_first=day_first) for label in distinct}
    if any(
        _YEAR_PAIR.match(_normalise(label)) and p is not None and p.granularity == "year"
        for label, p in parsed.items()
    ):
        # One unambiguous `2012/13` says the column counts fiscal or school years.
        parsed = {label: parse_period(label, day_first=day_first, year_pairs=True) for label in distinct}
    unread = [label for label, period in parsed.items() if period is None]
    if unread:
        shown = ", ".join(repr(label) for label in unread[:5])
        more = f" and {len(unread) - 5} more" if len(unread) > 5 else ""
        raise PeriodLabelError(
            f"column {values.name!r}: {len(unread)} of {len(distinct)} labels are not periods "
            f"(e.g. {shown}{more}); expected dates, years or labels like 2010-Q4, FY2019, H1 2020, Jan-2019"
        )
    periods = {label: period for label, period in parsed.items() if period is not None}
    finest = max((p.granularity for p in periods.values()), key=_FINENESS.__getitem__)
    keys = {label: float(_key(period, finest)) for label, period in periods.items()}
    ordered = labels.map(keys).astype("float64")
    ordered = ordered.reindex(values.index)
    ordered.name = values.name
    return ordered


def looks_like_periods(values: pd.Series, min_share: float = 1.0) -> bool:
    """True when text values read as period labels (not plain numbers): at least ``min_share`` of them."""
    present = values.dropna()
    if (
        present.empty
        or pd.api.types.is_numeric_dtype(values.dtype)
        or pd.api.types.is_bool_dtype(values.dtype)
    ):
        return False
    distinct = pd.Series(pd.unique(present.astype(str)))
    if _is_numeric_text(distinct):
        return False
    read = sum(parse_period(label) is not None for label in distinct)
    return read >= min_share * len(distinct)
