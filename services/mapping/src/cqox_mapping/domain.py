"""Role inference: which column is the treatment, the outcome, the unit, the time, a covariate.

Pure logic. The only input besides the DataFrame is the packaged synonym dictionary
(``synonyms/<language>.json``), versioned data loaded through importlib.resources.

Evidence comes from two places and is combined per (column, role):

* the name, normalised into tokens and matched against the dictionary (whole name > phrase >
  token > prefix > substring), minus a penalty when the name clearly points at another role;
* the values: binary columns suit a treatment, continuous numbers an outcome, unique keys a
  unit, datetimes and years a time; constants, free text and ids are never covariates.
"""

from __future__ import annotations

import datetime
import json
import numbers
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal, cast

import numpy as np
import pandas as pd
import pyarrow as pa

from cqox_contracts.v1.models import Role, RoleAssignment, RoleMapping

__all__ = [
    "MappingError",
    "MappingResult",
    "SynonymDictionary",
    "dictionary_version",
    "infer_roles",
    "load_synonyms",
    "normalise_name",
]

# Single-column roles, in the order assignments are reported.
SINGLE_ROLES: tuple[str, ...] = (
    "treatment",
    "outcome",
    "unit",
    "time",
    "instrument",
    "running_variable",
    "cluster",
    "weight",
)
_OVERRIDE_ALIASES = {
    "covariate": "covariates",
    "covariates": "covariates",
    "exclude": "excluded",
    "excluded": "excluded",
}
OVERRIDE_KEYS: tuple[str, ...] = (*SINGLE_ROLES, "covariates", "excluded")

# Weights of name and value evidence, and how much a name pointing elsewhere costs.
_NAME_WEIGHT = 0.6
_VALUE_WEIGHT = 0.4
_OTHER_ROLE_PENALTY = 0.5
# Below these scores a role is left empty rather than filled with a guess.
_MIN_SCORE = {"treatment": 0.1, "outcome": 0.1, "unit": 0.35, "time": 0.45}
_MIN_ALTERNATIVE_SCORE = 0.1
# A lead of this size over the runner-up counts as unambiguous.
_CLEAR_MARGIN = 0.3
_MAX_CATEGORY_LEVELS = 50
_MAX_ALTERNATIVES = 3
_PROFILE_SAMPLE = 500
_IDENTIFIER_TOKENS = frozenset({"id", "uid", "uuid", "guid", "pid", "cid", "key"})
_LATER_ROLES = ("instrument", "running_variable", "cluster", "weight")

_ACRONYM_BOUNDARY = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL_BOUNDARY = re.compile(r"([a-z0-9])([A-Z])")
_SEPARATORS = re.compile(r"[\W_]+")
_TRAILING_DIGITS = re.compile(r"^([a-z]+)\d+$")
_DATE_TEXT = re.compile(
    r"^\s*(\d{4}[-/.]\d{1,2}([-/.]\d{1,2})?([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?"
    r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"
    r"|\d{4}\s*-?\s*[QqHh][1-4]"
    r"|\d{4}-?W\d{1,2})"
    r"(Z|[+-]\d{2}:?\d{2})?\s*$"
)

Kind = Literal["bool", "integer", "float", "datetime", "text", "empty", "other"]


class MappingError(ValueError):
    """The requested roles cannot be applied to this dataset (the message says how to fix it)."""


@dataclass(frozen=True)
class MappingResult:
    """Inferred (or overridden) roles for one dataset, with per-column evidence."""

    roles: RoleMapping
    assignments: list[RoleAssignment]
    design: str
    needs_confirmation: bool
    notes: list[str]


# --------------------------------------------------------------------------- synonyms


@dataclass(frozen=True)
class Synonym:
    """One dictionary entry: a term, its tokens and how strongly it signals the role."""

    term: str
    tokens: tuple[str, ...]
    weight: float


@dataclass(frozen=True)
class SynonymDictionary:
    """Column-name synonyms per role for one language, as shipped in ``synonyms/``."""

    version: str
    language: str
    roles: Mapping[str, tuple[Synonym, ...]]
    treatment_levels: frozenset[str] = frozenset()


@cache
def load_synonyms(language: str = "en") -> SynonymDictionary:
    """Load the packaged synonym dictionary for ``language``."""
    resource = resources.files("cqox_mapping").joinpath("synonyms", f"{language}.json")
    if not resource.is_file():
        raise MappingError(f"no synonym dictionary for language {language!r}; 'en' is available")
    raw = json.loads(resource.read_text(encoding="utf-8"))
    roles: dict[str, tuple[Synonym, ...]] = {}
    for role, entries in raw["roles"].items():
        synonyms = []
        for entry in entries:
            if isinstance(entry, str):
                term, weight = entry, 1.0
            else:
                term, weight = entry["term"], entry["weight"]
            tokens = normalise_name(term)
            if tokens:
                synonyms.append(Synonym(term=term, tokens=tokens, weight=float(weight)))
        roles[role] = tuple(synonyms)
    return SynonymDictionary(
        version=str(raw["version"]),
        language=raw["language"],
        roles=roles,
        treatment_levels=frozenset(raw.get("treatment_levels", ())),
    )


def dictionary_version(language: str = "en") -> str:
    """Version of the packaged synonym dictionary, recorded with every mapping."""
    return load_synonyms(language).version


def normalise_name(name: object) -> tuple[str, ...]:
    """Split a column name into lower-case, accent-free tokens (camelCase, snake, kebab, spaces)."""
    text = unicodedata.normalize("NFKC", str(name))
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = unicodedata.normalize("NFC", text)
    text = _ACRONYM_BOUNDARY.sub(r"\1 \2", text)
    text = _CAMEL_BOUNDARY.sub(r"\1 \2", text)
    return tuple(token for token in _SEPARATORS.split(text.lower()) if token)


def _singular(token: str) -> str:
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return token


def _stem(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """Drop trailing numbering: ``x1`` -> ``x``, ``x_2`` -> ``x``."""
    stemmed = list(tokens)
    while len(stemmed) > 1 and stemmed[-1].isdigit():
        stemmed.pop()
    if stemmed and (match := _TRAILING_DIGITS.match(stemmed[-1])):
        stemmed[-1] = match.group(1)
    return tuple(stemmed)


def _contains_phrase(tokens: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    width = len(phrase)
    return any(tokens[i : i + width] == phrase for i in range(len(tokens) - width + 1))


def _match_score(tokens: tuple[str, ...], synonym: Synonym) -> float:
    singular = tuple(_singular(t) for t in tokens)
    phrase = synonym.tokens
    if phrase in (tokens, singular):
        return 1.0
    if phrase == _stem(tokens):
        return 0.9
    if len(phrase) > 1:
        found = _contains_phrase(tokens, phrase) or _contains_phrase(singular, phrase)
        return 0.9 if found else 0.0
    (term,) = phrase
    if len(term) == 1:  # 'd', 'y', 'x' are names, never fragments
        return 0.0
    if term in tokens or term in singular:
        return 0.8 if len(term) >= 3 else 0.6
    if len(term) >= 4 and any(len(t) >= 4 and (t.startswith(term) or term.startswith(t)) for t in tokens):
        return 0.5
    if len(term) >= 5 and term in "".join(tokens):
        return 0.4
    return 0.0


@dataclass(frozen=True)
class _NameMatch:
    score: float
    terms: tuple[str, ...] = ()

    @property
    def quoted(self) -> str:
        """The matching dictionary terms, for reasons: 'received'/'coupon'."""
        return "/".join(repr(term) for term in self.terms)


def _match_name(tokens: tuple[str, ...], dictionary: SynonymDictionary) -> dict[str, _NameMatch]:
    matches: dict[str, _NameMatch] = {}
    for role, synonyms in dictionary.roles.items():
        best, terms = 0.0, []
        for synonym in synonyms:
            score = round(_match_score(tokens, synonym) * synonym.weight, 6)
            if score > best:
                best, terms = score, [synonym.term]
            elif score == best and score > 0:
                terms.append(synonym.term)
        matches[role] = _NameMatch(best, tuple(terms[:2]))
    return matches


# --------------------------------------------------------------------------- value profiles


@dataclass(frozen=True)
class _Profile:
    kind: Kind
    n_rows: int
    n_non_null: int
    n_unique: int
    levels: tuple[str, ...]  # the two levels of a binary column, else empty
    is_zero_one: bool
    is_id_like: bool
    is_free_text: bool
    is_year_like: bool
    is_date_text: bool

    @property
    def is_constant(self) -> bool:
        return self.n_unique <= 1

    @property
    def is_binary(self) -> bool:
        return self.n_unique == 2

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("bool", "integer", "float")

    @property
    def unique_ratio(self) -> float:
        return self.n_unique / self.n_non_null if self.n_non_null else 0.0

    @property
    def is_repeated_key(self) -> bool:
        """Integer or text values each shared by several rows, like units of a panel."""
        return (
            self.kind in ("integer", "text") and self.n_unique > 2 and self.n_unique <= 0.5 * self.n_non_null
        )


def _kind(series: pd.Series, values: pd.Series) -> Kind:
    dtype = series.dtype
    if values.empty:
        return "empty"
    if isinstance(dtype, pd.ArrowDtype):
        arrow_type = dtype.pyarrow_dtype
        if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
            return "datetime"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
        return "datetime"
    if pd.api.types.is_timedelta64_dtype(dtype) or pd.api.types.is_complex_dtype(dtype):
        return "other"
    if pd.api.types.is_numeric_dtype(dtype):
        floats = values.to_numpy(dtype="float64", na_value=np.nan)
        if not np.all(np.isfinite(floats)):
            return "float"
        return "integer" if np.all(np.equal(np.mod(floats, 1), 0)) else "float"
    sample = values.iloc[:_PROFILE_SAMPLE]
    if all(isinstance(v, bool | np.bool_) for v in sample):
        return "bool"
    if all(isinstance(v, datetime.date | np.datetime64) for v in sample):
        return "datetime"
    return "text"


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool | np.bool_)


def _even_sample(values: pd.Series) -> pd.Series:
    step = max(1, len(values) // _PROFILE_SAMPLE)
    return values.iloc[::step].iloc[:_PROFILE_SAMPLE]


def _profile(series: pd.Series, unit_named: bool) -> _Profile:
    values = series.dropna()
    if values.dtype == object and all(_is_number(v) for v in values.iloc[:_PROFILE_SAMPLE]):
        # Python numbers in an object column (e.g. decimals): profile them as numbers.
        as_numbers = pd.to_numeric(series, errors="coerce")
        if as_numbers.notna().sum() == len(values):
            series, values = as_numbers, as_numbers.dropna()
    kind = _kind(series, values)
    if kind == "text" or kind == "other":
        values = values.astype(str)
    try:
        n_unique = int(values.nunique())
    except TypeError:  # unhashable cells (lists, dicts)
        values = values.astype(str)
        n_unique = int(values.nunique())
    n_non_null = len(values)

    levels: tuple[str, ...] = ()
    is_zero_one = False
    if n_unique == 2:
        distinct = sorted(values.unique().tolist(), key=str)
        levels = tuple(_format_level(v) for v in distinct)
        is_zero_one = kind == "bool" or (kind == "integer" and {float(v) for v in distinct} == {0.0, 1.0})

    is_free_text = False
    is_date_text = False
    if kind == "text":
        sample = _even_sample(values)
        lengths = sample.str.len()
        is_free_text = bool(lengths.mean() >= 25 and sample.str.contains(" ").mean() >= 0.5)
        is_date_text = bool(sample.str.match(_DATE_TEXT).mean() >= 0.95)

    is_year_like = False
    span = 0.0
    if kind == "integer" and n_non_null:
        low, high = float(values.min()), float(values.max())
        span = high - low + 1
        years = low >= 1800 and high <= 2200
        year_months = low >= 180001 and high <= 220012 and bool(values.mod(100).between(1, 12).all())
        is_year_like = (years or year_months) and 1 < n_unique <= 300

    high_unique = n_unique >= 3 and n_non_null > 0 and n_unique / n_non_null >= 0.95
    is_id_like = high_unique and (
        (kind == "text" and not is_free_text and not is_date_text)
        or (kind == "integer" and (span <= 2 * n_unique or unit_named))
    )
    return _Profile(
        kind=kind,
        n_rows=len(series),
        n_non_null=n_non_null,
        n_unique=n_unique,
        levels=levels,
        is_zero_one=is_zero_one,
        is_id_like=is_id_like,
        is_free_text=is_free_text,
        is_year_like=is_year_like,
        is_date_text=is_date_text,
    )


def _format_level(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.bool_):
        return str(bool(value))
    return str(value)


# --------------------------------------------------------------------------- value evidence


@dataclass(frozen=True)
class _Evidence:
    value: float
    text: str


def _treatment_evidence(p: _Profile, treatment_levels: frozenset[str]) -> _Evidence | None:
    if p.is_constant or p.is_id_like or p.is_year_like:
        return None
    if p.is_binary:
        if p.is_zero_one:
            return _Evidence(1.0, "values binary 0/1" if p.kind != "bool" else "values boolean")
        levels = f"({p.levels[0]!r}/{p.levels[1]!r})"
        if any(treatment_levels.intersection(normalise_name(level)) for level in p.levels):
            return _Evidence(1.0, f"values look like treatment/control {levels}")
        return _Evidence(0.8, f"values two-level {levels}")
    if p.kind in ("integer", "float") and p.n_unique <= 9:
        return _Evidence(0.3, f"values multi-valued ({p.n_unique} levels)")
    if p.kind in ("integer", "float"):
        return _Evidence(0.15, f"values continuous ({p.n_unique} distinct)")
    return None


def _outcome_evidence(p: _Profile) -> _Evidence | None:
    if p.is_constant or p.is_id_like or p.is_year_like:
        return None
    if p.kind == "float" and p.n_unique >= 10:
        return _Evidence(1.0, f"values continuous ({p.n_unique} distinct)")
    if p.kind == "integer" and p.n_unique >= 10:
        return _Evidence(0.8, f"values numeric ({p.n_unique} distinct)")
    if p.is_binary and p.is_numeric:
        return _Evidence(0.5, "values binary")
    if p.is_binary:
        return _Evidence(0.3, f"values two-level ({p.levels[0]!r}/{p.levels[1]!r})")
    if p.is_numeric:
        return _Evidence(0.3, f"values numeric ({p.n_unique} levels)")
    return None


def _time_evidence(p: _Profile) -> _Evidence | None:
    if p.is_constant:
        return None
    if p.kind == "datetime":
        return _Evidence(1.0, "values datetime")
    if p.is_date_text:
        return _Evidence(0.9, "values date-like text")
    if p.is_year_like:
        return _Evidence(0.8, "values year/period-like")
    if p.kind == "integer" and not p.is_id_like and not p.is_binary and p.n_unique <= 100:
        return _Evidence(0.2, f"values small integers ({p.n_unique} levels)")
    return None


def _unit_evidence(p: _Profile, column: str, df: pd.DataFrame, time_column: str | None) -> _Evidence | None:
    if p.is_constant or p.is_binary or p.kind not in ("integer", "text") or p.is_free_text:
        return None
    if time_column is None:
        # Without a time axis a unit identifies a row.
        return _Evidence(1.0, "values unique per row (id-like)") if p.is_id_like else None
    if p.is_repeated_key:
        pairs = df[[column, time_column]].dropna()
        repeated_pairs = pairs.duplicated().mean() if len(pairs) else 1.0
        if repeated_pairs <= 0.1:
            return _Evidence(1.0, f"values repeat over {time_column!r} ({p.n_unique} units)")
        return _Evidence(0.5, f"values repeat ({p.n_unique} levels)")
    if p.is_id_like:
        return _Evidence(0.3, "values unique per row (id-like)")
    return None


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class _Candidate:
    column: str
    score: float
    reason: str


def _score(
    column: str, role: str, names: Mapping[str, _NameMatch], evidence: _Evidence | None
) -> _Candidate | None:
    """Name evidence plus value evidence, minus a name that points at another role."""
    if evidence is None:
        return None
    own = names.get(role, _NameMatch(0.0))
    elsewhere = max((m for r, m in names.items() if r != role), key=lambda m: m.score)
    score = _NAME_WEIGHT * own.score + _VALUE_WEIGHT * evidence.value
    score -= _OTHER_ROLE_PENALTY * elsewhere.score
    score = round(min(max(score, 0.0), 1.0), 6)
    parts = []
    if own.score > 0:
        parts.append(f"name matches {own.quoted} ~ {role}")
    parts.append(evidence.text)
    if elsewhere.score >= 0.5:
        role_elsewhere = next(r for r, m in names.items() if m is elsewhere)
        parts.append(f"name also suggests {role_elsewhere} ({elsewhere.quoted})")
    return _Candidate(column=column, score=score, reason="; ".join(parts))


def _ranked(candidates: Iterable[_Candidate]) -> list[_Candidate]:
    """Best first; ties keep the dataset's column order (the input order), so results are stable."""
    return sorted((c for c in candidates if c.score > 0), key=lambda c: -c.score)


def _confidence(best: float, runner_up: float) -> float:
    """High when the score is high and clearly ahead of the next column."""
    lead = min(1.0, 0.5 + 0.5 * (best - runner_up) / _CLEAR_MARGIN)
    return round(min(max(best * lead, 0.0), 1.0), 3)


@dataclass
class _Choice:
    column: str
    confidence: float
    reason: str
    alternatives: list[str]


def _choose(ranked: list[_Candidate], chosen: str, taken: set[str]) -> _Choice:
    pool = [c for c in ranked if c.column == chosen or c.column not in taken]
    best = next(c for c in pool if c.column == chosen)
    rivals = [c for c in pool if c.column != chosen]
    runner_up = rivals[0].score if rivals else 0.0
    alternatives = [c.column for c in rivals if c.score >= _MIN_ALTERNATIVE_SCORE]
    return _Choice(
        column=chosen,
        confidence=_confidence(best.score, runner_up),
        reason=best.reason,
        alternatives=alternatives[:_MAX_ALTERNATIVES],
    )


def _pick_pair(treatments: list[_Candidate], outcomes: list[_Candidate]) -> tuple[str | None, str | None]:
    """Choose distinct treatment and outcome columns with the best joint score."""
    t_options: list[_Candidate | None] = [c for c in treatments[:8] if c.score >= _MIN_SCORE["treatment"]]
    o_options: list[_Candidate | None] = [c for c in outcomes[:8] if c.score >= _MIN_SCORE["outcome"]]
    best: tuple[float, str | None, str | None] = (-1.0, None, None)
    for t in [*t_options, None]:
        for o in [*o_options, None]:
            if t is not None and o is not None and t.column == o.column:
                continue
            total = (t.score if t else 0.0) + (o.score if o else 0.0)
            if total > best[0]:
                best = (total, t.column if t else None, o.column if o else None)
    return best[1], best[2]


def _pick_single(ranked: list[_Candidate], role: str, taken: set[str]) -> str | None:
    for candidate in ranked:
        if candidate.column not in taken and candidate.score >= _MIN_SCORE[role]:
            return candidate.column
    return None


# --------------------------------------------------------------------------- overrides


def _parse_overrides(
    overrides: Mapping[str, str | list[str]] | None, columns: list[str]
) -> tuple[dict[str, str], list[str] | None, list[str]]:
    """Validate overrides into single roles, an explicit covariate list and exclusions."""
    singles: dict[str, str] = {}
    covariates: list[str] | None = None
    excluded: list[str] = []
    available = set(columns)

    def check(role: str, column: object) -> str:
        if not isinstance(column, str) or not column:
            raise MappingError(f"override for {role!r} must be a column name, got {column!r}")
        if column not in available:
            raise MappingError(
                f"override {role}={column!r}: no such column; available columns: "
                + ", ".join(repr(c) for c in columns)
            )
        return column

    for key, value in (overrides or {}).items():
        if value is None:
            continue
        role = _OVERRIDE_ALIASES.get(key, key)
        if role in ("covariates", "excluded"):
            names = [value] if isinstance(value, str) else list(value)
            checked = [check(role, c) for c in names]
            if role == "covariates":
                covariates = list(dict.fromkeys(checked))
            else:
                excluded = list(dict.fromkeys(checked))
        elif role in SINGLE_ROLES:
            if isinstance(value, list | tuple):
                if len(value) != 1:
                    raise MappingError(f"override for {role!r} takes one column, got {value!r}")
                value = value[0]
            singles[role] = check(role, value)
        else:
            raise MappingError(f"unknown role {key!r} in overrides; use one of: " + ", ".join(OVERRIDE_KEYS))

    seen: dict[str, str] = {}
    for role, column in singles.items():
        if column in seen:
            raise MappingError(
                f"column {column!r} is overridden as both {seen[column]} and {role}; "
                "give each role its own column"
            )
        seen[column] = role
    for column in covariates or []:
        if column in seen:
            raise MappingError(f"column {column!r} is the {seen[column]} and cannot also be a covariate")
    for column in excluded:
        if column in seen or column in (covariates or []):
            role = seen.get(column, "covariate")
            raise MappingError(f"column {column!r} is both excluded and set as {role}")
    return singles, covariates, excluded


# --------------------------------------------------------------------------- inference


@dataclass(frozen=True)
class _Dataset:
    """One dataset as the mapper sees it: names, their dictionary matches and value profiles."""

    frame: pd.DataFrame
    columns: list[str]
    names: dict[str, dict[str, _NameMatch]]
    profiles: dict[str, _Profile]
    identifier_named: frozenset[str]
    dictionary: SynonymDictionary

    def ranked(self, role: str, open_columns: list[str], time_column: str | None = None) -> list[_Candidate]:
        """Candidates for ``role`` among ``open_columns``, best first."""
        scored = []
        for column in open_columns:
            p = self.profiles[column]
            if role == "treatment":
                evidence = _treatment_evidence(p, self.dictionary.treatment_levels)
            elif role == "outcome":
                evidence = _outcome_evidence(p)
            elif role == "time":
                evidence = _time_evidence(p)
            else:
                evidence = _unit_evidence(p, column, self.frame, time_column)
            candidate = _score(column, role, self.names[column], evidence)
            if candidate is not None:
                scored.append(candidate)
        return _ranked(scored)


def _read_dataset(df: pd.DataFrame) -> _Dataset:
    if df.shape[1] == 0:
        raise MappingError("the dataset has no columns; upload a file with a header row")
    if df.shape[0] == 0:
        raise MappingError("the dataset has no rows; roles cannot be inferred from an empty file")
    columns = [str(c) for c in df.columns]
    if len(set(columns)) != len(columns):
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        raise MappingError(f"duplicate column names {duplicated}; rename them so each is unique")
    frame = df.set_axis(columns, axis=1)
    dictionary = load_synonyms("en")
    tokens = {c: normalise_name(c) for c in columns}
    names = {c: _match_name(tokens[c], dictionary) for c in columns}
    identifier_named = frozenset(c for c in columns if _IDENTIFIER_TOKENS.intersection(tokens[c]))
    profiles = {
        c: _profile(frame[c], c in identifier_named or names[c]["unit"].score >= 0.8) for c in columns
    }
    return _Dataset(frame, columns, names, profiles, identifier_named, dictionary)


def _pick_roles(data: _Dataset, singles: Mapping[str, str], reserved: set[str]) -> dict[str, _Choice]:
    """Overridden roles as given; treatment and outcome jointly, then time, then unit."""
    chosen = {role: _Choice(column, 1.0, "set by override", []) for role, column in singles.items()}
    open_columns = [c for c in data.columns if c not in reserved]
    taken = set(reserved)

    rank_t = data.ranked("treatment", open_columns) if "treatment" not in singles else []
    rank_o = data.ranked("outcome", open_columns) if "outcome" not in singles else []
    pick_t, pick_o = _pick_pair(rank_t, rank_o)
    taken.update(pick for pick in (pick_t, pick_o) if pick is not None)
    for role, pick, ranked in (("treatment", pick_t, rank_t), ("outcome", pick_o, rank_o)):
        if pick is not None:
            chosen[role] = _choose(ranked, pick, taken - {pick})

    # Time before unit: whether a unit must be unique per row depends on there being a time axis.
    for role in ("time", "unit"):
        if role in singles:
            continue
        time_column = chosen["time"].column if "time" in chosen else None
        ranked = data.ranked(role, open_columns, time_column)
        pick = _pick_single(ranked, role, taken)
        if pick is not None:
            taken.add(pick)
            chosen[role] = _choose(ranked, pick, taken - {pick})
    return chosen


def _sort_remaining(
    data: _Dataset,
    assigned: set[str],
    covariate_override: list[str] | None,
    excluded_override: list[str],
) -> dict[str, tuple[Role, float, str]]:
    """Covariate or exclude, with confidence and reason, for every column without a role."""
    decisions: dict[str, tuple[Role, float, str]] = {}
    for c in data.columns:
        if c in assigned:
            continue
        if c in excluded_override:
            decisions[c] = ("exclude", 1.0, "excluded by override")
        elif covariate_override is not None:
            listed = c in covariate_override
            decisions[c] = (
                ("covariate", 1.0, "listed in covariates override")
                if listed
                else ("exclude", 1.0, "not listed in covariates override")
            )
        else:
            decisions[c] = _covariate_decision(data.profiles[c], data.names[c], c in data.identifier_named)
    return decisions


def infer_roles(
    df: pd.DataFrame,
    overrides: dict[str, str | list[str]] | None = None,
    *,
    confidence_threshold: float = 0.6,
) -> MappingResult:
    """Work out which columns play which causal role, honouring user overrides."""
    if not 0 <= confidence_threshold <= 1:
        raise MappingError("confidence_threshold must lie between 0 and 1")
    data = _read_dataset(df)
    singles, covariate_override, excluded_override = _parse_overrides(overrides, data.columns)
    reserved = set(singles.values()) | set(excluded_override) | set(covariate_override or [])

    chosen = _pick_roles(data, singles, reserved)
    assigned = {choice.column for choice in chosen.values()}
    decisions = _sort_remaining(data, assigned, covariate_override, excluded_override)
    covariates = [c for c, decision in decisions.items() if decision[0] == "covariate"]
    excluded = [c for c, decision in decisions.items() if decision[0] == "exclude"]

    design = "observational"
    notes = [f"synonym dictionary {data.dictionary.language} v{data.dictionary.version}"]
    if "unit" in chosen and "time" in chosen:
        if data.frame[chosen["unit"].column].dropna().duplicated().any():
            design = "panel"
        else:
            notes.append("unit and time found but each unit appears once; treated as cross-section")
    notes += _notes_for_people(data, chosen, decisions, confidence_threshold)

    needs_confirmation = any(
        role not in chosen or chosen[role].confidence < confidence_threshold
        for role in ("treatment", "outcome")
    )
    overridden = set(excluded_override) | set(covariate_override or [])
    assignments = [
        RoleAssignment(
            role=cast(Role, role),
            column=chosen[role].column,
            confidence=chosen[role].confidence,
            source="override" if role in singles else "inferred",
            reason=chosen[role].reason,
            alternatives=chosen[role].alternatives,
        )
        for role in SINGLE_ROLES
        if role in chosen
    ]
    assignments += [
        RoleAssignment(
            role=decisions[c][0],
            column=c,
            confidence=decisions[c][1],
            source="override" if c in overridden else "inferred",
            reason=decisions[c][2],
        )
        for c in [*covariates, *excluded]
    ]
    roles = RoleMapping(
        **{role: choice.column for role, choice in chosen.items()},
        covariates=covariates,
        excluded=excluded,
    )
    return MappingResult(
        roles=roles,
        assignments=assignments,
        design=design,
        needs_confirmation=needs_confirmation,
        notes=notes,
    )


def _notes_for_people(
    data: _Dataset,
    chosen: Mapping[str, _Choice],
    decisions: Mapping[str, tuple[Role, float, str]],
    confidence_threshold: float,
) -> list[str]:
    """What a person should check or could set: missing or uncertain roles, later roles."""
    notes = []
    for role in ("treatment", "outcome"):
        if role not in chosen:
            notes.append(f"no column looks like the {role}; name it with an override")
        elif chosen[role].confidence < confidence_threshold:
            alternatives = chosen[role].alternatives
            tail = f" (alternatives: {', '.join(alternatives)})" if alternatives else ""
            notes.append(
                f"{role} {chosen[role].column!r} is uncertain "
                f"(confidence {chosen[role].confidence:.2f}){tail}; please confirm"
            )
    for c in decisions:
        later = next((r for r in _LATER_ROLES if r not in chosen and data.names[c][r].score >= 0.9), None)
        if later is not None:
            notes.append(
                f"column {c!r} may be the {later.replace('_', ' ')}; "
                f"set it with the {later!r} override if it is one"
            )
    for c, (_, _, reason) in decisions.items():
        if reason.startswith("named like an outcome"):
            notes.append(f"{c!r} excluded from covariates: {reason}")
    return notes


def _covariate_decision(
    p: _Profile, names: Mapping[str, _NameMatch], identifier_named: bool
) -> tuple[Role, float, str]:
    """Decide whether a column left over after role picking is a usable covariate."""
    if p.kind == "empty":
        return "exclude", 1.0, "all values missing"
    if p.is_constant:
        return "exclude", 1.0, "constant (a single value)"
    if names["exclude"].score >= 0.8:
        return "exclude", 0.9, f"name suggests a non-analytic column ({names['exclude'].quoted})"
    if p.is_id_like or (identifier_named and p.kind in ("integer", "text")):
        return "exclude", 0.9, "identifier (unique or id-named key)"
    if p.kind == "datetime" or p.is_date_text:
        return "exclude", 0.9, "datetime not used as the time column"
    if p.kind == "other":
        return "exclude", 0.9, "unsupported type"
    if p.is_free_text:
        return "exclude", 0.9, "free text"
    outcome_name, covariate_name = names["outcome"].score, names["covariate"].score
    if outcome_name >= 0.8 and outcome_name > covariate_name and p.is_numeric:
        return (
            "exclude",
            0.7,
            f"named like an outcome ({names['outcome'].quoted}); may be post-treatment",
        )
    if p.kind == "text":
        if p.n_unique > _MAX_CATEGORY_LEVELS:
            return "exclude", 0.9, f"high-cardinality text ({p.n_unique} levels)"
        return "covariate", 0.8, f"categorical ({p.n_unique} levels)"
    if p.is_binary:
        return "covariate", 0.9, "binary"
    return "covariate", 0.9, f"numeric ({p.n_unique} distinct values)"
