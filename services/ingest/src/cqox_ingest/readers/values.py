"""Value parsing shared by every reader: NA tokens, booleans, localized numbers, dates, 64-bit integers.

Columns arrive as whatever the format gave (CSV text comes through Arrow's own inference first, which
handles plain numbers fast); text columns are then tried, whole column at a time, against the typed
forms users' exports contain. A column converts only if every non-missing value fits the form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NA_TOKENS = ("", "NA", "N/A", "n/a", "na", "null", "NULL", "Null", "None", "NaN", "nan", "-", "欠損", "#N/A")
TRUE_TOKENS = ("true", "yes", "y", "はい", "真", "예", "是")
FALSE_TOKENS = ("false", "no", "n", "いいえ", "偽", "아니오", "否")
# Numbers with separators: "1,234.5" (thousands comma) and "1.234,5" / "1 234,5" / "12,5" (decimal comma).
THOUSANDS_COMMA = r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$|^[+-]?\d+\.\d+$|^[+-]?\d+$"
DECIMAL_COMMA = r"^[+-]?\d{1,3}([. \x{00A0}\x{202F}]\d{3})*(,\d+)?$|^[+-]?\d+(,\d+)?$"
DATE_FORMATS = (
    ("%Y-%m-%d", r"^\d{4}-\d{1,2}-\d{1,2}$"),
    ("%Y/%m/%d", r"^\d{4}/\d{1,2}/\d{1,2}$"),
    ("%Y.%m.%d", r"^\d{4}\.\d{1,2}\.\d{1,2}$"),
    ("%Y年%m月%d日", r"^\d{4}年\d{1,2}月\d{1,2}日$"),
    # Year-months (the first of the month): '2023年4月' sorts wrongly as text ('10月' < '2月').
    ("%Y年%m月", r"^\d{4}年\d{1,2}月$"),
    ("%Y-%m", r"^\d{4}-\d{1,2}$"),
    ("%Y/%m", r"^\d{4}/\d{1,2}$"),
    ("%d.%m.%Y", r"^\d{1,2}\.\d{1,2}\.\d{4}$"),
    ("%Y-%m-%d %H:%M:%S", r"^\d{4}-\d{1,2}-\d{1,2}[ T]\d{1,2}:\d{2}:\d{2}$"),
    ("%Y/%m/%d %H:%M:%S", r"^\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{2}:\d{2}$"),
    ("%Y-%m-%d %H:%M", r"^\d{4}-\d{1,2}-\d{1,2}[ T]\d{1,2}:\d{2}$"),
    ("%Y/%m/%d %H:%M", r"^\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{2}$"),
)
SLASH_DATE = r"^\d{1,2}/\d{1,2}/\d{4}$"
SAMPLE_VALUES = 2000
_NA_VALUES = pa.array(NA_TOKENS)
_NA_BYTES = max(len(token.encode()) for token in NA_TOKENS)
# The first and the last bytes of the characters `utf8_trim_whitespace` removes (ASCII spaces and
# controls, U+0085, U+00A0, U+1680, U+2000-200A, U+2028/9, U+202F, U+205F, U+3000; a test checks
# these against Arrow over every code point): text without them at either end needs no trimming.
_SPACE_FIRST = np.zeros(256, bool)
_SPACE_FIRST[[*range(9, 14), *range(28, 33), 0xC2, 0xE1, 0xE2, 0xE3]] = True
_SPACE_LAST = np.zeros(256, bool)
_SPACE_LAST[[*range(9, 14), *range(28, 33), *range(0x80, 0x8B), 0x9F, 0xA0, 0xA8, 0xA9, 0xAF]] = True


def normalize(table: pa.Table, *, decimal_comma: bool = False) -> tuple[pa.Table, list[str]]:
    """Type every column as precisely as its values allow; return the table and notes on conversions."""
    notes: list[str] = []
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        converted, note = normalize_column(column, decimal_comma=decimal_comma)
        if note:
            notes.append(f"column {name!r}: {note}")
        columns.append(converted)
    return pa.table(columns, names=table.column_names), notes


def normalize_column(column: pa.ChunkedArray, *, decimal_comma: bool = False) -> tuple[pa.ChunkedArray, str]:
    """One column typed: text parsed into numbers, booleans or dates; integers widened to 64 bits."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_integer(kind):
        return _int64(column)
    if pa.types.is_large_string(kind):
        column = column.cast(pa.string())
        kind = column.type
    if not pa.types.is_string(kind):
        return column, ""
    text = trimmed_text(column)
    present = pc.drop_null(text)
    if len(present) == 0:
        return text, "no values"
    sample = present.slice(0, SAMPLE_VALUES)
    for attempt in (_boolean, _number, _date):
        # A cheap look at a sample rules most forms out before the whole column is scanned.
        if attempt(sample, sample, decimal_comma) is None:
            continue
        result = attempt(text, present, decimal_comma)
        if result is not None:
            return result
    changed = text.null_count - column.null_count
    return text, f"{changed} missing-value tokens read as missing" if changed > 0 else ""


def trimmed_text(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Text with whitespace trimmed at both ends and the missing-value tokens made null.

    Each step is skipped where it cannot change anything (about two thirds of a text column's
    typing cost on the bench CSV): the trim when no value starts or ends with a byte of a space
    character, the token lookup when every value is longer than the longest token."""
    stripped = pc.utf8_trim_whitespace(column) if _may_have_edge_spaces(column) else column
    if (pc.min(pc.binary_length(stripped)).as_py() or 0) > _NA_BYTES:
        return stripped
    missing = pc.is_in(stripped, value_set=_NA_VALUES)
    return pc.if_else(missing, pa.scalar(None, pa.string()), stripped)


def _may_have_edge_spaces(column: pa.Array | pa.ChunkedArray) -> bool:
    """Whether some value may start or end with a space character (read from the bytes, no copy)."""
    for chunk in column.chunks if isinstance(column, pa.ChunkedArray) else [column]:
        _, offsets_buffer, data_buffer = chunk.buffers()
        if data_buffer is None or not len(chunk):
            continue
        offsets = np.frombuffer(offsets_buffer, np.int32, len(chunk) + 1, chunk.offset * 4)
        data = np.frombuffer(data_buffer, np.uint8)
        # Empty (or null) values read a neighbour's byte instead: at worst a needless trim.
        first = _SPACE_FIRST.take(data.take(offsets[:-1], mode="clip"))
        last = _SPACE_LAST.take(data.take(offsets[1:] - 1, mode="clip"))
        if first.any() or last.any():
            return True
    return False


def _int64(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, str]:
    if column.type == pa.int64():
        return column, ""
    if pa.types.is_unsigned_integer(column.type) and column.type.bit_width == 64:
        top = pc.max(column).as_py()
        if top is not None and top > 2**63 - 1:
            return column, "kept as unsigned 64-bit: values exceed the signed range"
    return column.cast(pa.int64()), f"widened from {column.type} to int64"


def _all_match(present: pa.ChunkedArray, pattern: str) -> bool:
    return bool(pc.all(pc.match_substring_regex(present, pattern)).as_py())


def _boolean(text: pa.ChunkedArray, present: pa.ChunkedArray, _: bool) -> tuple[pa.ChunkedArray, str] | None:
    lower = pc.utf8_lower(present)
    if not pc.all(pc.is_in(lower, value_set=pa.array(TRUE_TOKENS + FALSE_TOKENS))).as_py():
        return None
    truth = pc.is_in(pc.utf8_lower(text), value_set=pa.array(TRUE_TOKENS))
    return pc.if_else(pc.is_null(text), pa.scalar(None, pa.bool_()), truth), "read as boolean"


def _number(
    text: pa.ChunkedArray, present: pa.ChunkedArray, decimal_comma: bool
) -> tuple[pa.ChunkedArray, str] | None:
    thousands = _all_match(present, THOUSANDS_COMMA)
    decimal = _all_match(present, DECIMAL_COMMA)
    if thousands and decimal:  # e.g. only "1,234": a decimal comma in semicolon files, else thousands
        thousands = not decimal_comma
    if thousands:
        cleaned = pc.replace_substring(text, ",", "")
        note = "numbers with thousands separators"
    elif decimal:
        cleaned = pc.replace_substring_regex(text, r"[. \x{00A0}\x{202F}]", "")
        cleaned = pc.replace_substring(cleaned, ",", ".")
        note = "numbers with decimal commas"
    else:
        return None
    is_integer = not pc.any(pc.match_substring(cleaned, ".")).as_py()
    try:
        number = cleaned.cast(pa.int64() if is_integer else pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        number = cleaned.cast(pa.float64())
    return number, f"{note} read as {number.type}"


def _date(text: pa.ChunkedArray, present: pa.ChunkedArray, _: bool) -> tuple[pa.ChunkedArray, str] | None:
    for fmt, pattern in DATE_FORMATS:
        if _all_match(present, pattern):
            return _parsed(text, fmt)
    if _all_match(present, SLASH_DATE):
        first = pc.replace_substring(pc.utf8_slice_codeunits(present, 0, 2), "/", "")
        day_first = bool(pc.any(pc.greater(first.cast(pa.int32()), 12)).as_py())  # 31/1/2024
        return _parsed(text, "%d/%m/%Y" if day_first else "%m/%d/%Y")
    return None


def _parsed(text: pa.ChunkedArray, fmt: str) -> tuple[pa.ChunkedArray, str] | None:
    try:
        stamps = pc.strptime(text, format=fmt, unit="s")
    except pa.ArrowInvalid:
        return None  # matched the shape but not the calendar (e.g. month 13): keep as text
    if "%H" not in fmt:
        return stamps.cast(pa.date32()), f"dates ({fmt}) read as date32"
    return stamps, f"timestamps ({fmt}) read as timestamp[s]"


# ---- streaming: one plan per column, decided on the first batch, checked on every later batch ----


class PlanBroken(Exception):
    """A later batch does not fit the form chosen on the first one: re-read the file whole."""


@dataclass
class ColumnPlan:
    """How one text column of a streamed file is typed, and what the whole-column reader would say.

    `form` is "text", "boolean", "thousands"/"decimal" (numbers), "date" or "undecided" (no values
    yet). Every batch is checked against the running state: when the decision the whole-column
    reader would take differs from the plan already applied to earlier batches, `PlanBroken`.
    """

    form: str
    fmt: str = ""
    integer: bool = False
    thousands_all: bool = True
    decimal_all: bool = True
    tokens_missing: int = 0

    def note(self, dtype: pa.DataType) -> str:
        """What reading the column as `dtype` did to its values, for the upload's notes."""
        if self.form == "undecided":
            return "no values"
        if self.form == "text":
            n = self.tokens_missing
            return f"{n} missing-value tokens read as missing" if n > 0 else ""
        if self.form == "boolean":
            return "read as boolean"
        if self.form == "date":
            if "%H" not in self.fmt:
                return f"dates ({self.fmt}) read as date32"
            return f"timestamps ({self.fmt}) read as timestamp[s]"
        kind = (
            "numbers with thousands separators" if self.form == "thousands" else "numbers with decimal commas"
        )
        return f"{kind} read as {dtype}"


@dataclass
class BatchNormalizer:
    """`normalize`, one record batch at a time, for files too large to hold whole (CSV streaming).

    Plans are taken from the first batch with `normalize_column`'s rules; a later batch that would
    change any column's decision raises `PlanBroken` (the caller then falls back to the whole file).
    """

    decimal_comma: bool = False
    plans: dict[str, ColumnPlan] = field(default_factory=dict)
    schema: pa.Schema | None = None
    # Typed formats (Parquet, Arrow) bring narrow integers, dictionaries and large strings: widen
    # them as `normalize_column` does (CSV and NDJSON give none of these).
    widen: bool = False
    widened: dict[str, str] = field(default_factory=dict)

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        columns = []
        first = self.schema is None
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            columns.append(self._column(name, column, first))
        out = pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
        if first:
            self.schema = out.schema
        elif out.schema != self.schema:
            raise PlanBroken(f"the column types changed: {out.schema} after {self.schema}")
        return out

    def notes(self, schema: pa.Schema, widened: dict[str, str]) -> list[str]:
        """The same notes `normalize` gives for the whole file."""
        notes = []
        for f in schema:
            note = widened.get(f.name) or (self.plans[f.name].note(f.type) if f.name in self.plans else "")
            if note:
                notes.append(f"column {f.name!r}: {note}")
        return notes

    def _unsigned(self, name: str, column: pa.Array, first: bool) -> pa.Array:
        """uint64 as `_int64` types the whole column: int64 unless a value exceeds its range."""
        top = pc.max(column).as_py()
        over = top is not None and top > 2**63 - 1
        if first:
            self.widened[name] = (
                "kept as unsigned 64-bit: values exceed the signed range"
                if over
                else "widened from uint64 to int64"
            )
        kept = self.widened.get(name, "").startswith("kept")
        if over and not kept:
            raise PlanBroken(f"column {name!r}: an unsigned integer beyond the signed 64-bit range")
        return column if kept else column.cast(pa.int64())

    def _column(self, name: str, column: pa.Array, first: bool) -> pa.Array:
        kind = column.type
        if self.widen and pa.types.is_dictionary(kind):
            column = column.cast(kind.value_type)
            kind = column.type
        if self.widen and pa.types.is_large_string(kind):
            column = column.cast(pa.string())
            kind = column.type
        if pa.types.is_integer(kind):
            if kind != pa.int64() and self.widen and kind != pa.uint64():
                self.widened[name] = f"widened from {kind} to int64"
                return column.cast(pa.int64())
            if kind == pa.uint64() and self.widen:
                return self._unsigned(name, column, first)
            if kind != pa.int64():
                raise PlanBroken(f"column {name!r} holds {kind} integers")
            return column
        if not pa.types.is_string(kind):
            return column
        text = trimmed_text(column)
        present = pc.drop_null(text)
        plan = self.plans.get(name)
        if plan is None or plan.form == "undecided":
            if plan is not None and len(present):
                raise PlanBroken(f"column {name!r} has its first values after its first rows")
            plan = self.plans[name] = _plan_of(text, present, self.decimal_comma)
            if not first and plan.form != "undecided":
                raise PlanBroken(f"column {name!r} has its first values after its first rows")
        plan.tokens_missing += text.null_count - column.null_count
        try:
            return _apply(plan, text, present, self.decimal_comma)
        except PlanBroken as exc:
            raise PlanBroken(f"column {name!r}: {exc}") from exc


def _plan_of(text: pa.Array, present: pa.Array, decimal_comma: bool) -> ColumnPlan:
    if len(present) == 0:
        return ColumnPlan("undecided")
    sample = present.slice(0, SAMPLE_VALUES)
    lower = pc.utf8_lower(sample)
    if pc.all(pc.is_in(lower, value_set=pa.array(TRUE_TOKENS + FALSE_TOKENS))).as_py() and (
        _boolean(text, present, decimal_comma) is not None
    ):
        return ColumnPlan("boolean")
    if _number(sample, sample, decimal_comma) is not None:
        number = _number(text, present, decimal_comma)
        if number is not None:
            thousands = _all_match(present, THOUSANDS_COMMA)
            decimal = _all_match(present, DECIMAL_COMMA)
            form = "thousands" if number[1].startswith("numbers with thousands") else "decimal"
            return ColumnPlan(
                form, integer=number[0].type == pa.int64(), thousands_all=thousands, decimal_all=decimal
            )
    if _date(sample, sample, decimal_comma) is not None:
        dated = _date(text, present, decimal_comma)
        if dated is not None:
            found = re.search(r"\((.+)\)", dated[1])
            assert found is not None
            return ColumnPlan("date", fmt=found.group(1))
    return ColumnPlan("text")


def _apply(plan: ColumnPlan, text: pa.Array, present: pa.Array, decimal_comma: bool) -> pa.Array:
    if plan.form in ("text", "undecided"):
        return text
    if plan.form == "boolean":
        result = _boolean(text, present, decimal_comma)
        if result is None:
            raise PlanBroken("a value that is not a boolean in a column of booleans")
        return result[0]
    if plan.form == "date":
        pattern = dict(DATE_FORMATS).get(plan.fmt, SLASH_DATE)
        if not _all_match(present, pattern):
            raise PlanBroken(f"a value that is not a date ({plan.fmt}) in a column of dates")
        parsed = _parsed(text, plan.fmt)
        if parsed is None:
            raise PlanBroken(f"an impossible date ({plan.fmt}) in a column of dates")
        return parsed[0]
    plan.thousands_all = plan.thousands_all and _all_match(present, THOUSANDS_COMMA)
    plan.decimal_all = plan.decimal_all and _all_match(present, DECIMAL_COMMA)
    thousands, decimal = plan.thousands_all, plan.decimal_all
    if thousands and decimal:
        thousands = not decimal_comma
    if (plan.form == "thousands") != thousands or (plan.form == "decimal" and not decimal):
        raise PlanBroken("numbers written another way (separators) or a value that is not a number")
    if plan.form == "thousands":
        cleaned = pc.replace_substring(text, ",", "")
    else:
        cleaned = pc.replace_substring_regex(text, r"[. \x{00A0}\x{202F}]", "")
        cleaned = pc.replace_substring(cleaned, ",", ".")
    if plan.integer:
        if pc.any(pc.match_substring(cleaned, ".")).as_py():
            raise PlanBroken("a decimal number in a column of integers")
        try:
            return cleaned.cast(pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise PlanBroken("an integer beyond 64 bits") from exc
    return cleaned.cast(pa.float64())
