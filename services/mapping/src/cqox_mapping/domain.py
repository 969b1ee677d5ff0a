"""Role inference: which column is the treatment, the outcome, the unit, the time, a covariate…

Pure logic. Evidence comes from three places and is combined per (column, role):

* the name, normalised and matched against the synonym dictionaries of eight languages
  (``names.py``), minus a penalty when the name clearly points at another role; a name dated
  after the treatment ('next', '卒業後', the latest of re74/re75/re78) reads as an outcome, one
  dated before ('prior', '前年', earn96) as a covariate;
* the values (``profiles.py``): binary or two-level columns suit a treatment, continuous numbers
  an outcome, repeated keys a unit (a key unique in every period settles it), dates, years and
  period labels a time;
* how columns relate (``structure.py``): a numeric column whose threshold reproduces the
  treatment is a running variable (with its cutoff), never the outcome; a copy of the outcome or
  the treatment is leakage, and a function of the periods since adoption (a lead/lag) is
  post-treatment: both are excluded.

Each role gets a column, a confidence and the alternatives; below the confidence threshold the
mapping asks for confirmation instead of guessing. The design follows from the roles (or the user
states it): a running variable and a cutoff without a treatment column make a sharp RD whose
treatment, 1(running >= cutoff), is left to the estimator; a group and a post column without
repeated units make a 2x2 DiD on repeated cross-sections.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import cast

import numpy as np
import pandas as pd

from cqox_contracts.v1 import Design
from cqox_contracts.v1.models import DesignSupport, Role, RoleAssignment, RoleMapping
from cqox_mapping.names import (
    LANGUAGES,
    NameMatch,
    SynonymDictionary,
    SynonymError,
    all_dictionaries,
    dictionary_versions,
    match_name,
    normalise_name,
    time_qualifier,
)
from cqox_mapping.names import load_synonyms as _load_synonyms
from cqox_mapping.pre_outcome import earlier_outcome
from cqox_mapping.profiles import (
    Evidence,
    Profile,
    looks_like_arms,
    outcome_evidence,
    profile,
    time_evidence,
    treatment_coding,
    treatment_evidence,
    unit_evidence,
)
from cqox_mapping.structure import (
    Threshold,
    copies_outcome,
    cutoff_agreement,
    determines_treatment,
    event_time,
    follows_event_time,
    threshold_fit,
    zero_one,
)

__all__ = [
    "LANGUAGES",
    "MappingError",
    "MappingResult",
    "SynonymDictionary",
    "dictionary_version",
    "infer_roles",
    "load_synonyms",
    "normalise_name",
]

# Roles with one column each, in the order assignments are reported.
SINGLE_ROLES: tuple[str, ...] = (
    "treatment",
    "outcome",
    "unit",
    "time",
    "instrument",
    "running_variable",
    "post",
    "cohort",
    "cluster",
    "weight",
    "latitude",
    "longitude",
    "region",
)
CORE_ROLES: tuple[str, ...] = ("treatment", "outcome", "unit", "time")
# Found after the core roles, mostly from their names, checked against the values.
LATER_ROLES: tuple[str, ...] = SINGLE_ROLES[4:]
# Columns with these roles stay usable as covariates too.
_ALSO_COVARIATES = frozenset({"region", "latitude", "longitude"})
_OVERRIDE_ALIASES = {
    "covariate": "covariates",
    "covariates": "covariates",
    "exclude": "excluded",
    "excluded": "excluded",
    "running": "running_variable",
    "lat": "latitude",
    "lon": "longitude",
    "lng": "longitude",
}
# Level overrides: which label of the treatment is treated (two levels) or the reference (arms).
LEVEL_KEYS = ("treated_level", "reference_level")
# A pre-treatment outcome is only ever stated (the placebo-outcome refuter's outcome); it may stay
# a covariate too, so it reserves no column.
PRE_OUTCOME = "pre_outcome"
OVERRIDE_KEYS: tuple[str, ...] = (
    *SINGLE_ROLES,
    "covariates",
    "excluded",
    "cutoff",
    *LEVEL_KEYS,
    "design",
    PRE_OUTCOME,
)

# Weights of name and value evidence, and how much a name pointing elsewhere costs.
_NAME_WEIGHT = 0.6
_VALUE_WEIGHT = 0.4
_DECISIVE_VALUE_WEIGHT = 0.65  # values that settle the role without a telling name
_OTHER_ROLE_PENALTY = 0.5
# A name may point at a role that goes with this one without counting against it.
_COMPATIBLE: Mapping[str, frozenset[str]] = {
    "unit": frozenset({"region", "cluster", "covariate"}),
    "time": frozenset({"cohort"}),
    "treatment": frozenset({"instrument"}),
}
# Below these scores a role is left empty rather than filled with a guess.
_MIN_SCORE = {"treatment": 0.1, "outcome": 0.1, "unit": 0.35, "time": 0.3}
_MIN_ALTERNATIVE_SCORE = 0.1
_MIN_LATER_SCORE = 0.5
_LATER_NAME_SCORE = 0.7
# A lead of this size over the runner-up counts as unambiguous.
_CLEAR_MARGIN = 0.3
_MAX_CATEGORY_LEVELS = 50
_MAX_ALTERNATIVES = 3
_IDENTIFIER_TOKENS = frozenset({"id", "uid", "uuid", "guid", "pid", "cid", "key", "no", "nr", "code"})
_EXPERIMENT_TOKENS = frozenset(
    {"variant", "arm", "random", "randomized", "randomised", "assigned", "assignment", "experiment", "ab"}
)
# Named cutoffs: a vote share splits at 0.5 (or 50), a margin at 0, legal drinking age at 21.
_CUTOFF_HINTS = (
    (
        frozenset(
            {"margin", "diff", "difference", "distance", "gap", "minus", "centered", "centred", "relative"}
        ),
        (0.0,),
    ),
    (frozenset({"share", "vote", "votes", "ratio", "pct", "percent"}), (0.5, 50.0)),
    (frozenset({"age"}), (21.0, 18.0, 65.0)),
)

# Names of event-time columns derived from the adoption date: lead1, lag_3, F2, rel_time, _Texp,
# time_to_treat, post_2, years_since_adoption. Matched on the normalised tokens joined by '_'.
_EVENT_TIME_NAME = re.compile(
    r"^(lead|lag|leads|lags|pre|post|dlead|dlag|tau|ev|evt|event|rel|relative)_?(m|minus|p|plus)?_?\d+$"
    r"|^(rel|relative|event|evt)_(time|year|yr|period|month|quarter|week|t)$"
    r"|^(t|time|years?|periods?|months?|quarters?)_(to|since|from|relative_to)_(treat\w*|adopt\w*|policy|"
    r"reform|law|event|intervention|program\w*|first_treat\w*)$"
    r"|^_?texp$|^ttt$|^time_to_treat\w*$"
    r"|^post(_?(treat\w*|period|policy|reform|law|adopt\w*|intervention|program\w*|event))?$"
)
# A derived RD treatment: an inferred binary column is kept only if it switches at the cutoff.
_SHARP_AGREEMENT = 0.97
_FUZZY_JUMP = 0.4
# A stated running variable: the treatment's jump at a cutoff that counts (as a share of units).
_STATED_JUMP = 0.05


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
    designs: list[DesignSupport] = field(default_factory=list)


def load_synonyms(language: str = "en") -> SynonymDictionary:
    """Load the packaged synonym dictionary for ``language``."""
    try:
        return _load_synonyms(language)
    except SynonymError as exc:
        raise MappingError(str(exc)) from exc


def dictionary_version() -> str:
    """Versions of the packaged synonym dictionaries, recorded with every mapping."""
    return dictionary_versions()


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class _Candidate:
    column: str
    score: float
    reason: str
    language: str | None = None


def _ruled_out(p: Profile) -> frozenset[str]:
    """Roles the values make impossible, so a name pointing at them costs nothing."""
    if p.kind == "datetime" or p.is_date_text or p.is_year_like:
        return frozenset({"outcome", "treatment", "unit", "covariate"})
    if p.kind == "float" and not p.is_binary:
        return frozenset({"time", "unit"})
    if p.is_binary:  # two values are no calendar, key, area or set of clusters
        return frozenset({"time", "unit", "region", "cluster", "cohort"})
    return frozenset()


def _score(
    column: str,
    role: str,
    names: Mapping[str, NameMatch],
    evidence: Evidence | None,
    ruled_out: frozenset[str] = frozenset(),
) -> _Candidate | None:
    """Name evidence plus value evidence, minus a name that points at another (possible) role."""
    if evidence is None:
        return None
    own = names.get(role, NameMatch(0.0))
    compatible = _COMPATIBLE.get(role, frozenset()) | ruled_out
    others = [(r, m) for r, m in names.items() if r != role and r not in compatible]
    role_elsewhere, elsewhere = max(others, key=lambda item: item[1].score)
    score = (
        _NAME_WEIGHT * own.score
        + (_DECISIVE_VALUE_WEIGHT if evidence.decisive else _VALUE_WEIGHT) * evidence.value
    )
    score -= _OTHER_ROLE_PENALTY * elsewhere.score
    score = round(min(max(score, 0.0), 1.0), 6)
    parts = []
    if own.score > 0:
        parts.append(f"name matches {own.quoted} ~ {role} ({own.language})")
    parts.append(evidence.text)
    if elsewhere.score >= 0.5:
        parts.append(f"name also suggests {role_elsewhere} ({elsewhere.quoted})")
    return _Candidate(column=column, score=score, reason="; ".join(parts), language=own.language)


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
    scores: dict[str, float] = field(default_factory=dict)
    language: str | None = None
    source: str = "inferred"


def _choose(ranked: list[_Candidate], chosen: str, taken: set[str]) -> _Choice:
    pool = [c for c in ranked if c.column == chosen or c.column not in taken]
    best = next(c for c in pool if c.column == chosen)
    rivals = [c for c in pool if c.column != chosen]
    runner_up = rivals[0].score if rivals else 0.0
    alternatives = [c for c in rivals if c.score >= _MIN_ALTERNATIVE_SCORE][:_MAX_ALTERNATIVES]
    return _Choice(
        column=chosen,
        confidence=_confidence(best.score, runner_up),
        reason=best.reason,
        alternatives=[c.column for c in alternatives],
        scores={c.column: round(c.score, 3) for c in [best, *alternatives]},
        language=best.language,
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


@dataclass(frozen=True)
class _Overrides:
    singles: dict[str, str]
    covariates: list[str] | None
    excluded: list[str]
    cutoff: float | None
    levels: dict[str, str] = field(default_factory=dict)  # treated_level / reference_level
    design: Design | None = None  # the design the user states (e.g. that assignment was randomised)
    pre_outcome: str | None = None  # the outcome measured before treatment, as the user names it


def _parse_overrides(overrides: Mapping[str, str | list[str]] | None, columns: list[str]) -> _Overrides:
    """Validate overrides into single roles, an explicit covariate list, exclusions and a cutoff."""
    singles: dict[str, str] = {}
    covariates: list[str] | None = None
    excluded: list[str] = []
    cutoff: float | None = None
    levels: dict[str, str] = {}
    design: Design | None = None
    pre_outcome: str | None = None
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
        if role == "design":
            try:
                design = Design(str(value).strip().lower())
            except ValueError as exc:
                raise MappingError(
                    f"override 'design' must be one of: {', '.join(d.value for d in Design)}; got {value!r}"
                ) from exc
        elif role == "cutoff":
            try:
                cutoff = float(value if isinstance(value, str | int | float) else value[0])
            except (TypeError, ValueError, IndexError) as exc:
                raise MappingError(f"override 'cutoff' must be a number, got {value!r}") from exc
        elif role in LEVEL_KEYS:
            if not isinstance(value, str) or not value.strip():
                raise MappingError(f"override {role!r} must be a level of the treatment, got {value!r}")
            levels[role] = value.strip()
        elif role in ("covariates", "excluded"):
            names = [value] if isinstance(value, str) else list(value)
            checked = [check(role, c) for c in names]
            if role == "covariates":
                covariates = list(dict.fromkeys(checked))
            else:
                excluded = list(dict.fromkeys(checked))
        elif role == PRE_OUTCOME:
            pre_outcome = check(role, value[0] if isinstance(value, list | tuple) and value else value)
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
        if column in seen and seen[column] not in _ALSO_COVARIATES:
            raise MappingError(f"column {column!r} is the {seen[column]} and cannot also be a covariate")
    for column in excluded:
        if column in seen or column in (covariates or []):
            role = seen.get(column, "covariate")
            raise MappingError(f"column {column!r} is both excluded and set as {role}")
    if len(levels) > 1:
        raise MappingError("give either treated_level (two levels) or reference_level (arms), not both")
    return _Overrides(singles, covariates, excluded, cutoff, levels, design, pre_outcome)


def _stated_coding(profile: Profile, column: str, given: _Overrides) -> dict[str, int]:
    """The coding a treated_level / reference_level override states, checked against the levels."""
    levels = list(profile.levels)
    ((key, level),) = given.levels.items()
    if level not in levels:
        shown = ", ".join(map(repr, levels)) or "more than 10 levels"
        raise MappingError(f"{key} {level!r} is not a level of the treatment {column!r} ({shown})")
    if key == "treated_level":
        if len(levels) != 2:
            raise MappingError(
                f"treated_level needs a two-level treatment; {column!r} has {len(levels)}: "
                "use reference_level to choose the arm the others are compared with"
            )
        return {other: 0 for other in levels if other != level} | {level: 1}
    if len(levels) == 2:
        return {level: 0} | {other: 1 for other in levels if other != level}
    return {level: 0}


# --------------------------------------------------------------------------- inference


@dataclass(frozen=True)
class _Dataset:
    """One dataset as the mapper sees it: names, their dictionary matches and value profiles."""

    frame: pd.DataFrame
    columns: list[str]
    tokens: dict[str, tuple[str, ...]]
    names: dict[str, dict[str, NameMatch]]
    profiles: dict[str, Profile]
    identifier_named: frozenset[str]
    dictionaries: tuple[SynonymDictionary, ...]

    def ranked(self, role: str, open_columns: list[str], time_column: str | None = None) -> list[_Candidate]:
        """Candidates for ``role`` among ``open_columns``, best first."""
        scored = []
        for column in open_columns:
            p = self.profiles[column]
            if role == "treatment":
                evidence = treatment_evidence(p, self.dictionaries)
            elif role == "outcome":
                evidence = outcome_evidence(p)
            elif role == "time":
                # Periods since adoption (rel_time, event_time) are not the calendar.
                evidence = None if _EVENT_TIME_NAME.match("_".join(self.tokens[column])) else time_evidence(p)
            else:
                evidence = unit_evidence(p, column, self.frame, time_column)
            candidate = _score(column, role, self.names[column], evidence, _ruled_out(p))
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
    tokens = {c: normalise_name(c) for c in columns}
    names = {c: match_name(tokens[c]) for c in columns}
    dated = {c: q for c in columns if (q := time_qualifier(tokens[c])) is not None}
    dated |= _suffix_years(columns, tokens)
    names |= {c: _dated(names[c], side, word) for c, (side, word) in dated.items()}
    identifier_named = frozenset(
        c
        for c in columns
        if _IDENTIFIER_TOKENS.intersection(tokens[c][-1:]) or {"id", "uid", "uuid"} & set(tokens[c])
    )
    profiles = {c: profile(frame[c], c in identifier_named or names[c]["unit"].score >= 0.8) for c in columns}
    return _Dataset(frame, columns, tokens, names, profiles, identifier_named, all_dictionaries())


def _jumps_on(data: _Dataset, column: str, running: str) -> bool:
    """Whether a candidate treatment switches at some threshold of the running variable."""
    p = data.profiles[column]
    treated = zero_one(data.frame[column], treatment_coding(p, data.dictionaries))
    if treated is None or column == running:
        return False
    found = _running_evidence(data, running, treated, named=True)
    return found is not None or _stated_rd_cutoff(data, running, treated) is not None


def _switches_at_cutoff(data: _Dataset, column: str, running: str, cutoff: float) -> bool:
    """Whether a candidate treatment switches at the given cutoff: sharply, or (named so) fuzzily."""
    p = data.profiles[column]
    treated = zero_one(data.frame[column], treatment_coding(p, data.dictionaries))
    if treated is None:
        return False
    accuracy, jump = cutoff_agreement(data.frame[running], treated, cutoff)
    named = data.names[column]["treatment"].score >= _LATER_NAME_SCORE
    return accuracy >= _SHARP_AGREEMENT or (named and jump >= _FUZZY_JUMP)


_YEAR_SUFFIX = re.compile(r"^(?P<stem>[a-z][a-z_]*[a-z])_?(?P<year>\d{2}|\d{4})$")
_MAX_WAVES = 8


def _suffix_years(columns: list[str], tokens: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, str]]:
    """Codebook waves: in re74/re75/re78 or earn96/earn98 the latest is measured last, the rest before."""
    families: dict[str, list[tuple[int, str]]] = {}
    for c in columns:
        match = _YEAR_SUFFIX.match("_".join(tokens[c]))
        if match is None:
            continue
        raw = match["year"]
        year = int(raw) if len(raw) == 4 else (1900 + int(raw) if int(raw) >= 30 else 2000 + int(raw))
        if 1900 <= year <= 2100:
            families.setdefault(match["stem"], []).append((year, c))
    dated: dict[str, tuple[str, str]] = {}
    for members in families.values():
        years = {year for year, _ in members}
        if not 2 <= len(years) <= _MAX_WAVES:  # trend_1 … trend_51 are no survey waves
            continue
        latest = max(years)
        shown = "/".join(c for _, c in sorted(members))
        for year, c in members:
            dated[c] = (
                ("after", f"latest of {shown}") if year == latest else ("before", f"earlier of {shown}")
            )
    return dated


def _dated(names: Mapping[str, NameMatch], side: str, word: str) -> dict[str, NameMatch]:
    """Name evidence of a measure dated after the treatment (an outcome) or before it (a covariate)."""
    adjusted = dict(names)
    if side == "after":
        own = names["outcome"]
        adjusted["outcome"] = NameMatch(max(own.score, 0.8), (word, *own.terms)[:2], own.language or "en")
        for role, match in names.items():
            if role not in ("outcome", "exclude"):
                adjusted[role] = NameMatch(min(match.score, 0.3), match.terms, match.language)
        return adjusted
    for role in ("outcome", "treatment", "running_variable", "post"):
        adjusted[role] = NameMatch(0.0)
    covariate = names["covariate"]
    adjusted["covariate"] = NameMatch(
        max(covariate.score, 0.8), (word, *covariate.terms)[:2], covariate.language or "en"
    )
    return adjusted


def _pick_roles(
    data: _Dataset, singles: Mapping[str, str], reserved: set[str], cutoff: float | None = None
) -> dict[str, _Choice]:
    """Overridden roles as given; treatment and outcome jointly, then time, then unit.

    When the user states a running variable and a cutoff but no treatment, only a column that
    switches at that cutoff may be the treatment; otherwise the treatment stays empty (a sharp RD
    whose treatment is 1(running ≥ cutoff)).
    """
    chosen = {
        role: _Choice(column, 1.0, "set by override", [], source="override")
        for role, column in singles.items()
    }
    open_columns = [c for c in data.columns if c not in reserved]
    taken = set(reserved)

    rank_t = data.ranked("treatment", open_columns) if "treatment" not in singles else []
    running = singles.get("running_variable")
    if running is not None and cutoff is not None:
        rank_t = [c for c in rank_t if _switches_at_cutoff(data, c.column, running, cutoff)]
    elif running is not None:  # a stated running variable: the treatment must jump somewhere on it
        rank_t = [c for c in rank_t if _jumps_on(data, c.column, running)]
    rank_o = data.ranked("outcome", open_columns) if "outcome" not in singles else []
    pick_t, pick_o = _pick_pair(rank_t, rank_o)
    given_t = singles.get("treatment")
    treatment = pick_t or given_t
    if pick_o is not None and treatment is not None and _runs_treatment(data, pick_o, treatment):
        # A column whose threshold reproduces the treatment is its running variable, not the outcome.
        rank_o = [c for c in rank_o if c.column != pick_o]
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


def _runs_treatment(data: _Dataset, column: str, treatment: str) -> bool:
    """Whether a numeric column is a sharp running variable of the (two-level) treatment."""
    coded = zero_one(data.frame[treatment], treatment_coding(data.profiles[treatment], data.dictionaries))
    if coded is None:
        return False
    found = _running_evidence(data, column, coded, named=False)
    return found is not None and found[0].value >= 1.0


_DESIGN_CONFIRMED = 0.75


def _confirm_by_design(data: _Dataset, chosen: dict[str, _Choice], cutoff: float | None) -> None:
    """Raise an inferred treatment's confidence when it switches sharply at the RD's cutoff.

    (A staggered adoption pattern in a panel would single out a treatment as well, but there the
    outcome is often one of several named measures, wages beside employment, and the treatment's
    low confidence is what makes the mapping ask; so only the RD's structure confirms.)
    """
    choice = chosen.get("treatment")
    if choice is None or choice.source != "inferred" or choice.confidence >= _DESIGN_CONFIRMED:
        return
    if "running_variable" not in chosen or cutoff is None:
        return
    treated = _treated(data, chosen)
    if treated is None:
        return
    running = chosen["running_variable"].column
    accuracy, _ = cutoff_agreement(data.frame[running], treated, cutoff)
    if accuracy >= _SHARP_AGREEMENT:
        choice.confidence = _DESIGN_CONFIRMED
        choice.reason = f"{choice.reason}; switches sharply at {running!r} = {cutoff:g}"


def _staggered_post(data: _Dataset, chosen: dict[str, _Choice], taken: set[str]) -> None:
    """In a panel, a post-named 0/1 column that differs across units in the same period is the treatment.

    (Castle doctrine's `post`: each state's own post-adoption indicator.) It replaces an inferred
    treatment, which goes back to the covariates.
    """
    if "treatment" in chosen and chosen["treatment"].source == "override":
        return
    if not _is_panel(data, chosen):
        return
    unit, time = data.frame[chosen["unit"].column], data.frame[chosen["time"].column]
    for column in data.columns:
        p = data.profiles[column]
        if column in taken or not p.is_binary or data.names[column]["post"].score < _LATER_NAME_SCORE:
            continue
        coded = zero_one(data.frame[column], treatment_coding(p, data.dictionaries))
        if coded is None or (coded.groupby(time).nunique() <= 1).all():
            continue  # one value per period: a calendar post indicator, the post role
        since = event_time(time, unit, coded)
        if since is None or not bool(((since >= 0) == (coded >= 0.5))[since.notna()].all()):
            continue  # switches off again: not an adoption
        previous = chosen.get("treatment")
        chosen["treatment"] = _Choice(
            column,
            0.8,
            "post-period indicator that differs across units in the same period: each unit's adoption "
            "(a staggered treatment)",
            [previous.column] if previous else [],
            language=data.names[column]["post"].language,
        )
        taken.add(column)
        if previous is not None:
            taken.discard(previous.column)
        return


def _treated(data: _Dataset, chosen: Mapping[str, _Choice]) -> pd.Series | None:
    """The treatment as 0/1 floats, when it is two-level."""
    if "treatment" not in chosen:
        return None
    column = chosen["treatment"].column
    coding = treatment_coding(data.profiles[column], data.dictionaries)
    return zero_one(data.frame[column], coding)


def _counts_since_adoption(
    data: _Dataset, column: str, chosen: Mapping[str, _Choice], treated: pd.Series
) -> bool:
    """An event-time column: named so, or (in a panel) a function of the periods since first treatment."""
    if _EVENT_TIME_NAME.match("_".join(data.tokens[column])):
        return True
    since = _event_time(data, chosen, treated)
    if since is None:
        return False
    unit, time = data.frame[chosen["unit"].column], data.frame[chosen["time"].column]
    return follows_event_time(data.frame[column], since, time, unit)


def _stated_rd_cutoff(data: _Dataset, column: str, treated: pd.Series) -> float | None:
    """Where a treatment the user pairs with a running variable jumps, even weakly (a fuzzy RD).

    The cutoff the name implies (0 for a margin or a difference) when the treatment jumps there,
    else the best single threshold when its jump is visible.
    """
    x = pd.to_numeric(data.frame[column], errors="coerce")
    for hint in _hinted_cutoffs(data.tokens[column]):
        above = float((x.dropna() >= hint).mean()) if x.notna().any() else 0.0
        if 0.05 <= above <= 0.95 and abs(cutoff_agreement(x, treated, hint)[1]) >= _STATED_JUMP:
            return hint
    fit = threshold_fit(x, treated)
    return fit.cutoff if fit is not None and fit.jump >= 2 * _STATED_JUMP else None


def _named_cutoff(data: _Dataset, column: str) -> float | None:
    """The conventional cutoff a running variable's name implies, when its values straddle it."""
    x = pd.to_numeric(data.frame[column], errors="coerce").dropna()
    for hint in _hinted_cutoffs(data.tokens[column]):
        above = float((x >= hint).mean()) if len(x) else 0.0
        if 0.05 <= above <= 0.95:
            return hint
    return None


def _hinted_cutoffs(tokens: tuple[str, ...]) -> tuple[float, ...]:
    for words, cutoffs in _CUTOFF_HINTS:
        if words & set(tokens):
            return cutoffs
    return ()


def _running_evidence(
    data: _Dataset, column: str, treated: pd.Series, named: bool = True
) -> tuple[Evidence, Threshold] | None:
    """A continuous column with the treated massed on one side of a threshold (fuzzy only if named)."""
    p = data.profiles[column]
    if p.kind not in ("integer", "float") or p.is_id_like or p.is_year_like:
        return None
    fit = threshold_fit(data.frame[column], treated)
    if fit is None or fit.point_mass >= 0.3:  # all untreated at one value: leakage, not a running variable
        return None
    hinted = _hinted_cutoffs(data.tokens[column])
    x = pd.to_numeric(data.frame[column], errors="coerce")
    for hint in hinted:  # a conventional cutoff that fits as well as the best one wins
        share = float(((x >= hint) == (treated >= 0.5)).mean())
        share = max(share, 1 - share)
        if share >= fit.accuracy - 0.01:
            fit = Threshold(hint, share, fit.above_is_treated, fit.jump, fit.point_mass)
            break
    side = "at or above" if fit.above_is_treated else "below"
    text = f"treated {side} {fit.cutoff:g} in {fit.accuracy:.0%} of rows (jump {fit.jump:+.2f})"
    base = float(max(treated.mean(), 1 - treated.mean()))
    kappa = (fit.accuracy - base) / (1 - base) if base < 1 else 0.0
    if kappa >= 0.9 and fit.accuracy >= 0.97:
        return Evidence(1.0, "sharp threshold: " + text), fit
    if named and kappa >= 0.5 and fit.jump >= 0.4:
        return Evidence(0.7, "fuzzy threshold: " + text), fit
    return None


def _later_evidence(
    data: _Dataset, role: str, column: str, chosen: Mapping[str, _Choice], treated: pd.Series | None
) -> Evidence | None:
    """Whether the values fit a later role the name suggests (or, for RD, the values alone)."""
    p = data.profiles[column]
    x = data.frame[column]
    if p.is_constant or p.kind == "empty":
        return None
    if role == "instrument":
        if treated is None or not p.is_numeric:
            return None
        corr = pd.to_numeric(x, errors="coerce").corr(treated)
        if corr is None or np.isnan(corr) or abs(corr) < 0.05:
            return None
        return Evidence(1.0 if abs(corr) < 0.95 else 0.3, f"moves with the treatment (r={corr:+.2f})")
    if role == "post":
        if not p.is_binary:
            return None
        if "time" in chosen:
            frame = pd.DataFrame({"t": data.frame[chosen["time"].column], "p": x}).dropna()
            by_time = frame.groupby("t")["p"].nunique()
            if (by_time == 1).all():
                return Evidence(1.0, "binary and fixed within each period")
        return Evidence(0.6, "binary")
    if role == "cohort":
        if p.is_year_like or p.kind == "datetime" or p.is_date_text or (p.kind in ("integer", "float")):
            return Evidence(1.0, f"period-like values ({p.n_unique} cohorts)")
        return None
    if role in ("latitude", "longitude"):
        bound = 90.0 if role == "latitude" else 180.0
        values = pd.to_numeric(x, errors="coerce").dropna()
        if p.kind != "float" or values.empty or values.abs().max() > bound:
            return None
        return Evidence(1.0, f"values within ±{bound:g} degrees")
    if role == "region":
        if p.kind in ("text", "integer") and 2 <= p.n_unique <= max(_MAX_CATEGORY_LEVELS * 2, 1):
            return Evidence(1.0, f"categorical ({p.n_unique} areas)")
        return None
    if role == "cluster":
        return Evidence(1.0, f"repeated key ({p.n_unique} clusters)") if p.is_repeated_key else None
    if role == "weight":
        values = pd.to_numeric(x, errors="coerce").dropna()
        if not p.is_numeric or p.is_binary or values.empty or (values < 0).any():
            return None
        return Evidence(1.0, "non-negative numbers")
    return None


def _pick_later_roles(
    data: _Dataset, chosen: dict[str, _Choice], taken: set[str], overrides: _Overrides
) -> float | None:
    """Instrument, running variable (and cutoff), post, cohort, geography, cluster, weight."""
    treated = _treated(data, chosen)
    cutoff = overrides.cutoff
    if "running_variable" in chosen and treated is not None and cutoff is None:
        found = _running_evidence(data, chosen["running_variable"].column, treated)
        cutoff = found[1].cutoff if found else None
        if cutoff is None and chosen["running_variable"].source == "override":
            cutoff = _stated_rd_cutoff(data, chosen["running_variable"].column, treated)
    for role in LATER_ROLES:
        if role in chosen:
            continue
        candidates: list[_Candidate] = []
        fits: dict[str, Threshold] = {}
        for column in data.columns:
            if column in taken:
                continue
            name = data.names[column][role]
            if role == "running_variable":
                if treated is None:
                    break
                found = _running_evidence(data, column, treated, named=name.score >= _LATER_NAME_SCORE)
                if found is None or _counts_since_adoption(data, column, chosen, treated):
                    continue  # time since adoption reproduces the treatment too, but is no running variable
                evidence, fits[column] = found
                score = 0.75 * evidence.value + 0.25 * name.score
            else:
                if name.score < _LATER_NAME_SCORE:
                    continue
                later = _later_evidence(data, role, column, chosen, treated)
                if later is None:
                    continue
                evidence = later
                score = _NAME_WEIGHT * name.score + _VALUE_WEIGHT * evidence.value
            reason = (f"name matches {name.quoted} ~ {role} ({name.language}); " if name.score else "") + (
                evidence.text
            )
            candidates.append(_Candidate(column, round(score, 6), reason, name.language))
        ranked = _ranked(candidates)
        if ranked and ranked[0].score >= _MIN_LATER_SCORE:
            pick = ranked[0].column
            chosen[role] = _choose(ranked, pick, taken)
            taken.add(pick)
            if role == "running_variable" and cutoff is None:
                cutoff = fits[pick].cutoff
    return cutoff


def _leakage(
    data: _Dataset, column: str, chosen: Mapping[str, _Choice], treated: pd.Series | None
) -> str | None:
    """Why a leftover column is leakage (a copy of the outcome or treatment), or None."""
    p = data.profiles[column]
    if "outcome" in chosen and p.is_numeric and not p.is_binary:
        outcome = data.frame[chosen["outcome"].column]
        rho = copies_outcome(data.frame[column], outcome)
        if rho is not None:
            return f"leakage: near-deterministic function of the outcome (rank correlation {rho:+.3f})"
        if "post" in chosen:  # e.g. a nominal price beside the real one: a copy within each period
            periods = data.frame[chosen["post"].column]
            within = [
                copies_outcome(data.frame[column][periods == v], outcome[periods == v])
                for v in periods.dropna().unique()
            ]
            if within and all(r is not None for r in within):
                return "leakage: near-deterministic function of the outcome within each period"
    if treated is None:
        return None
    if p.kind in ("text", "bool", "integer") and determines_treatment(
        data.frame[column], treated, _MAX_CATEGORY_LEVELS
    ):
        return "leakage: its values determine the treatment (a copy or consequence of it)"
    if p.kind in ("integer", "float") and not p.is_binary:
        fit = threshold_fit(data.frame[column], treated)
        if fit is not None and fit.accuracy >= 0.99 and fit.point_mass >= 0.3:
            return "leakage: one value for every untreated row; likely measured after treatment"
    return None


def _event_time(data: _Dataset, chosen: Mapping[str, _Choice], treated: pd.Series | None) -> pd.Series | None:
    """Periods since each unit's first treated period, in a panel with a two-level treatment."""
    if treated is None or not _is_panel(data, chosen):
        return None
    return event_time(data.frame[chosen["time"].column], data.frame[chosen["unit"].column], treated)


def _post_treatment(
    data: _Dataset, column: str, chosen: Mapping[str, _Choice], since: pd.Series | None
) -> str | None:
    """Why a leftover column is an event-time (lead/lag) column derived from the adoption date, or None.

    Values decide where they can (a panel with a treatment): a function of the periods since first
    treatment is one, whatever its name. Without a panel, a name like `lead2`, `rel_time` or `post`
    on a binary or small-integer column is enough.
    """
    p = data.profiles[column]
    named = bool(_EVENT_TIME_NAME.match("_".join(data.tokens[column])))
    if "post" in chosen and not p.is_constant:
        post = chosen["post"].column
        after = zero_one(data.frame[post], treatment_coding(data.profiles[post], data.dictionaries))
        values = data.frame[column]
        if (
            after is not None
            and values[after == 0].nunique(dropna=False) == 1
            and values[after == 1].nunique() > 1
        ):
            return f"post-treatment: one value before {post!r} and varying after it (an interaction with the post period)"
    if since is not None and p.kind in ("bool", "integer", "float", "text"):
        unit, time = chosen["unit"].column, chosen["time"].column
        if follows_event_time(data.frame[column], since, data.frame[time], data.frame[unit]):
            return (
                "post-treatment: a function of the periods since first treatment "
                "(an event-time lead/lag derived from the adoption date)"
            )
        if not named:
            return None
    if named and (p.is_binary or (p.kind == "integer" and p.n_unique <= 60)):
        return "post-treatment: named like an event-time lead/lag or post-period indicator"
    return None


def _sort_remaining(
    data: _Dataset,
    chosen: Mapping[str, _Choice],
    overrides: _Overrides,
) -> dict[str, tuple[Role, float, str]]:
    """Covariate or exclude, with confidence and reason, for every column without a role."""
    assigned = {choice.column for choice in chosen.values()}
    treated = _treated(data, chosen)
    since = _event_time(data, chosen, treated)
    varying = _time_varying(data, chosen, [c for c in data.columns if c not in assigned])
    decisions: dict[str, tuple[Role, float, str]] = {}
    for c in data.columns:
        if c in assigned:
            continue
        if c in overrides.excluded:
            decisions[c] = ("exclude", 1.0, "excluded by override")
        elif overrides.covariates is not None:
            listed = c in overrides.covariates
            decisions[c] = (
                ("covariate", 1.0, "listed in covariates override")
                if listed
                else ("exclude", 1.0, "not listed in covariates override")
            )
        elif (leak := _leakage(data, c, chosen, treated)) is not None:
            decisions[c] = ("exclude", 0.9, leak)
        elif (derived := _post_treatment(data, c, chosen, since)) is not None:
            decisions[c] = ("exclude", 0.9, derived)
        elif c in varying:
            decisions[c] = ("exclude", 0.8, PANEL_TIME_VARYING)
        else:
            decisions[c] = _covariate_decision(data.profiles[c], data.names[c], c in data.identifier_named)
    return decisions


_EARLIER_TOKENS = frozenset({"lagged", "prev", "previous", "prior", "baseline", "pre"})
# Why a panel's time-varying column is not proposed as a covariate (a user may still list it).
PANEL_TIME_VARYING = (
    "time-varying in a panel: measured in the same periods as the outcome, so the treatment may "
    "have moved it (another outcome of the policy, a design dummy or trend); list it in covariates "
    "to adjust for it"
)


def _time_varying(data: _Dataset, chosen: Mapping[str, _Choice], columns: list[str]) -> set[str]:
    """The columns that change within a unit over time, in a panel with a treatment (else none).

    The unit and period effects of the panel methods absorb what is constant within a unit or a
    period; what changes within a unit over time is measured alongside the outcome, and in a panel
    with adoption it is as likely a consequence of the treatment as a cause: on Cheng & Hoekstra's
    castle-doctrine file the other crimes of the same law, region-by-year dummies and state trends
    (118 adopted columns) turned the TWFE estimate from +0.07 to -0.05. Callaway & Sant'Anna
    (2021) condition on pre-treatment covariates for this reason.
    """
    if "treatment" not in chosen or not _is_panel(data, chosen) or not columns:
        return set()
    groups = data.frame[columns].groupby(data.frame[chosen["unit"].column], sort=False)
    changes = groups.nunique(dropna=True).gt(1).any()
    # A column named as an earlier measurement (a lag, a previous or baseline value) was measured
    # before the period's treatment could move it.
    return {
        str(c)
        for c, varies in changes.items()
        if bool(varies) and not any(t in _EARLIER_TOKENS or t.startswith("lag") for t in data.tokens[str(c)])
    }


def _is_panel(data: _Dataset, chosen: Mapping[str, _Choice]) -> bool:
    if "unit" not in chosen or "time" not in chosen:
        return False
    return bool(data.frame[chosen["unit"].column].dropna().duplicated().any())


def _designs(
    data: _Dataset, chosen: Mapping[str, _Choice], cutoff: float | None
) -> tuple[str, list[DesignSupport]]:
    """Every design with whether the roles support it and why; the most specific supported wins."""
    has = set(chosen)
    treatment = chosen["treatment"].column if "treatment" in chosen else None
    effect = treatment is not None and "outcome" in chosen
    support: dict[Design, tuple[bool, str]] = {}

    support[Design.OBSERVATIONAL] = (
        (True, "treatment and outcome found; adjust for the covariates")
        if effect
        else (False, "needs a treatment and an outcome")
    )
    arms = treatment is not None and looks_like_arms(data.profiles[treatment], data.dictionaries)
    named_experiment = treatment is not None and bool(_EXPERIMENT_TOKENS & set(data.tokens[treatment]))
    if effect and (arms or named_experiment):
        why = "treatment levels read as arms" if arms else f"treatment named {treatment!r} (assigned/variant)"
        support[Design.EXPERIMENT] = (True, f"{why}; assumes randomised assignment")
    else:
        support[Design.EXPERIMENT] = (False, "nothing says the treatment was randomised")

    panel = _is_panel(data, chosen)
    if panel and effect:
        unit, time = chosen["unit"].column, chosen["time"].column
        n_units = data.frame[unit].nunique()
        n_periods = data.frame[time].nunique()
        did = " with a post-period indicator (DiD)" if "post" in has else ""
        did += " with cohorts (staggered DiD)" if "cohort" in has else ""
        support[Design.PANEL] = (
            True,
            f"{n_units} units {unit!r} observed over {n_periods} periods {time!r}{did}",
        )
    elif "unit" in has and "time" in has:
        support[Design.PANEL] = (False, "each unit appears once; no repeated observations")
    else:
        support[Design.PANEL] = (False, "needs a unit and a time column with repeated units")

    if effect and "instrument" in has:
        support[Design.IV] = (True, f"instrument {chosen['instrument'].column!r} moves the treatment")
    else:
        support[Design.IV] = (False, "no instrument column")

    if effect and "running_variable" in has and cutoff is not None:
        support[Design.RD] = (
            True,
            f"treatment switches at {chosen['running_variable'].column!r} = {cutoff:g}",
        )
    elif treatment is None and "outcome" in has and "running_variable" in has and cutoff is not None:
        running = chosen["running_variable"].column
        support[Design.RD] = (
            True,
            f"sharp RD: no treatment column; the treatment is 1({running} >= {cutoff:g}), derived from "
            "the running variable and the cutoff",
        )
    else:
        support[Design.RD] = (False, "no running variable with a cutoff")

    support[Design.REPEATED_CROSS_SECTION] = _repeated_cross_section(data, chosen, panel)

    treated = _treated(data, chosen)
    if panel and effect and treated is not None:
        unit = chosen["unit"].column
        ever = treated.groupby(data.frame[unit]).max()
        n_treated, n_control = int((ever > 0).sum()), int((ever == 0).sum())
        if 1 <= n_treated <= 3 and n_control >= 5:
            support[Design.SYNTHETIC_CONTROL] = (
                True,
                f"{n_treated} treated unit(s) against {n_control} never-treated donors",
            )
        else:
            support[Design.SYNTHETIC_CONTROL] = (
                False,
                f"{n_treated} treated units; synthetic control suits one to three",
            )
    else:
        support[Design.SYNTHETIC_CONTROL] = (False, "needs a panel with a few treated units")

    if effect and {"latitude", "longitude"} <= has:
        support[Design.GEOGRAPHIC] = (True, "point locations (latitude/longitude)")
    elif effect and "region" in has:
        support[Design.GEOGRAPHIC] = (
            True,
            f"areas in {chosen['region'].column!r}; spillovers can be checked by area",
        )
    else:
        support[Design.GEOGRAPHIC] = (False, "no location columns")

    # A post-period column beside a group (no repeated units) is a 2x2 DiD, even when some column's
    # threshold reproduces the group: the group is defined before the policy, not at a cutoff.
    rd_stated = "running_variable" in chosen and chosen["running_variable"].source == "override"
    order = (
        (Design.RD, Design.REPEATED_CROSS_SECTION)
        if rd_stated
        else (Design.REPEATED_CROSS_SECTION, Design.RD)
    ) + (
        Design.IV,
        Design.SYNTHETIC_CONTROL,
        Design.PANEL,
        Design.EXPERIMENT,
        Design.OBSERVATIONAL,
    )
    design = next((d for d in order if support[d][0]), Design.OBSERVATIONAL)
    if design == Design.OBSERVATIONAL and support[Design.GEOGRAPHIC][0] and {"latitude", "longitude"} <= has:
        design = Design.GEOGRAPHIC
    designs = [
        DesignSupport(design=name.value, supported=ok, reason=why) for name, (ok, why) in support.items()
    ]
    return design.value, designs


def _stated_design(stated: Design, designs: list[DesignSupport]) -> tuple[str, list[DesignSupport]]:
    """The design the user states, when the roles support it; an experiment needs only its arms.

    Randomisation cannot be seen in the data, so a stated experiment is taken at its word; any other
    stated design must be supported by the roles, else the message says what is missing.
    """
    by_name = {d.design: d for d in designs}
    observational = by_name[Design.OBSERVATIONAL.value]
    support = by_name.get(stated.value)
    if stated == Design.EXPERIMENT and observational.supported:
        reason = "stated by the user: assignment was randomised"
        support = DesignSupport(design=stated.value, supported=True, reason=reason)
        return stated.value, [support if d.design == stated.value else d for d in designs]
    if support is None or not support.supported:
        why = support.reason if support is not None else observational.reason
        raise MappingError(f"design {stated.value!r} was stated but the roles do not support it: {why}")
    return stated.value, designs


def _repeated_cross_section(data: _Dataset, chosen: Mapping[str, _Choice], panel: bool) -> tuple[bool, str]:
    """A 2x2 DiD on repeated cross-sections: a group and a post column, both groups seen in both periods."""
    if panel or not {"treatment", "outcome", "post"} <= set(chosen):
        return False, "needs a group (treatment), a post-period column and no repeated units"
    group, post = chosen["treatment"].column, chosen["post"].column
    treated = _treated(data, chosen)
    after = zero_one(data.frame[post], treatment_coding(data.profiles[post], data.dictionaries))
    if treated is None or after is None:
        return False, "the group and the post column must each have two levels"
    cells = pd.crosstab(treated, after)
    if cells.shape != (2, 2) or int(cells.to_numpy().min()) < 2:
        return False, f"{group!r} x {post!r} leaves an empty cell; a 2x2 DiD needs all four"
    return True, f"2x2 DiD: group {group!r} before and after {post!r}, different people in each period"


def _needs_confirmation(
    chosen: Mapping[str, _Choice], design: str, confidence_threshold: float, confirmed: bool
) -> bool:
    if confirmed:
        return False
    required = {"outcome"} if design == Design.RD and "treatment" not in chosen else {"treatment", "outcome"}
    required |= {
        Design.PANEL: {"unit", "time"},
        Design.SYNTHETIC_CONTROL: {"unit", "time"},
        Design.RD: {"running_variable"},
        Design.IV: {"instrument"},
        Design.REPEATED_CROSS_SECTION: {"post"},
    }.get(design, set())
    return any(role not in chosen or chosen[role].confidence < confidence_threshold for role in required)


def infer_roles(
    df: pd.DataFrame,
    overrides: Mapping[str, str | list[str]] | None = None,
    *,
    confidence_threshold: float = 0.6,
    confirmed: bool = False,
) -> MappingResult:
    """Work out which columns play which causal role, honouring user overrides.

    ``confirmed`` means a person has reviewed the mapping (the overrides plus the inferred rest):
    the result then never asks for confirmation again.
    """
    if not 0 <= confidence_threshold <= 1:
        raise MappingError("confidence_threshold must lie between 0 and 1")
    data = _read_dataset(df)
    given = _parse_overrides(overrides, data.columns)
    reserved = set(given.singles.values()) | set(given.excluded) | set(given.covariates or [])

    chosen = _pick_roles(data, given.singles, reserved, given.cutoff)
    cutoff_note = None
    running = given.singles.get("running_variable")
    if running is not None and given.cutoff is None and "treatment" not in given.singles:
        treated = _treated(data, chosen)
        hinted = _named_cutoff(data, running)
        if hinted is not None and (treated is None or _running_evidence(data, running, treated) is None):
            # No column switches at any threshold of the running variable: a sharp RD at the cutoff its
            # name implies (a margin splits at 0, a vote share at 0.5); say so, let the user change it.
            given = replace(given, cutoff=hinted)
            chosen = _pick_roles(data, given.singles, reserved, given.cutoff)
            cutoff_note = f"cutoff {hinted:g} taken from the name {running!r}; set 'cutoff' if it is another"
    taken = reserved | {choice.column for choice in chosen.values()}
    _staggered_post(data, chosen, taken)
    cutoff = _pick_later_roles(data, chosen, taken, given)
    rd_notes = _rd_notes(data, chosen, cutoff) + ([cutoff_note] if cutoff_note else [])
    if (
        _repeated_cross_section(data, chosen, _is_panel(data, chosen))[0]
        and "running_variable" in chosen
        and chosen["running_variable"].source == "inferred"
    ):  # the group of a 2x2 DiD is not assigned at a cutoff of some column
        del chosen["running_variable"]
        cutoff = None
        rd_notes = []
    _confirm_by_design(data, chosen, cutoff)
    decisions = _sort_remaining(data, chosen, given)
    covariates = [c for c, decision in decisions.items() if decision[0] == "covariate"]
    excluded = [c for c, decision in decisions.items() if decision[0] == "exclude"]
    for role in _ALSO_COVARIATES:  # areas and coordinates are fair pre-treatment covariates
        if role in chosen and chosen[role].source == "inferred" and given.covariates is None:
            p = data.profiles[chosen[role].column]
            if p.is_numeric or p.n_unique <= _MAX_CATEGORY_LEVELS:
                covariates.append(chosen[role].column)
    covariates = [c for c in data.columns if c in set(covariates)]

    design, designs = _designs(data, chosen, cutoff)
    if given.design is not None:
        design, designs = _stated_design(given.design, designs)
        notes_stated = [f"design {design!r} stated by the user"]
    else:
        notes_stated = []
    notes = [f"synonym dictionaries {dictionary_versions()}", *notes_stated]
    if "unit" in chosen and "time" in chosen and not _is_panel(data, chosen):
        notes.append("unit and time found but each unit appears once; treated as cross-section")
    notes += rd_notes if design == Design.RD or cutoff is None else []
    derived_rd = design == Design.RD and "treatment" not in chosen
    notes += [
        note
        for note in _notes_for_people(data, chosen, decisions, confidence_threshold)
        if not (derived_rd and note.startswith("no column looks like the treatment"))
    ]
    needs_confirmation = _needs_confirmation(chosen, design, confidence_threshold, confirmed)

    coding: dict[str, int] = {}
    if "treatment" in chosen:
        coding = treatment_coding(data.profiles[chosen["treatment"].column], data.dictionaries)
        if given.levels:
            coding = _stated_coding(
                data.profiles[chosen["treatment"].column], chosen["treatment"].column, given
            )
    post_coding: dict[str, int] = {}
    if "post" in chosen:
        post_coding = treatment_coding(data.profiles[chosen["post"].column], data.dictionaries)
    overridden = set(given.excluded) | set(given.covariates or [])
    assignments = [
        RoleAssignment(
            role=cast(Role, role),
            column=chosen[role].column,
            confidence=chosen[role].confidence,
            source="override" if chosen[role].source == "override" else "inferred",
            reason=chosen[role].reason,
            alternatives=chosen[role].alternatives,
            scores=chosen[role].scores,
            coding=coding if role == "treatment" else post_coding if role == "post" else {},
            cutoff=cutoff if role == "running_variable" else None,
            language=chosen[role].language,
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
        for c in [*(c for c in covariates if c in decisions), *excluded]
    ]
    roles = RoleMapping(
        **{role: choice.column for role, choice in chosen.items()},
        covariates=covariates,
        excluded=excluded,
        cutoff=cutoff if "running_variable" in chosen else None,
        treatment_coding=coding,
        pre_outcome=given.pre_outcome or _inferred_pre_outcome(chosen, covariates, design),
    )
    return MappingResult(
        roles=roles,
        assignments=assignments,
        design=design,
        needs_confirmation=needs_confirmation,
        notes=notes,
        designs=designs,
    )


def _inferred_pre_outcome(chosen: Mapping[str, _Choice], covariates: list[str], design: str) -> str | None:
    """A covariate named like the outcome measured earlier (re75 beside re78), in a cross-section;
    panels have the outcome's own lag."""
    if "outcome" not in chosen or design not in _CROSS_SECTION_DESIGNS:
        return None
    return earlier_outcome(chosen["outcome"].column, covariates)


_CROSS_SECTION_DESIGNS = frozenset({Design.OBSERVATIONAL, Design.EXPERIMENT, Design.GEOGRAPHIC})


def _rd_notes(data: _Dataset, chosen: Mapping[str, _Choice], cutoff: float | None) -> list[str]:
    """How the treatment of an RD relates to its cutoff: derived (sharp), or a given one that disagrees (fuzzy)."""
    if "running_variable" not in chosen:
        return []
    running = chosen["running_variable"].column
    if cutoff is None:
        if "treatment" in chosen:
            return []
        return [
            f"running variable {running!r} but no cutoff, and no column switches on it: set 'cutoff' "
            f"(the treatment is then 1({running} >= cutoff))"
        ]
    if "treatment" not in chosen:
        return [
            f"sharp RD: no treatment column; the treatment is 1({running} >= {cutoff:g}), "
            "derived from the running variable and the cutoff (treatment left empty)"
        ]
    treated = _treated(data, chosen)
    if treated is None:
        return []
    accuracy, _ = cutoff_agreement(data.frame[running], treated, cutoff)
    if accuracy < _SHARP_AGREEMENT:
        return [
            f"fuzzy RD: treatment {chosen['treatment'].column!r} agrees with 1({running} >= {cutoff:g}) "
            f"(or its reverse) in {accuracy:.0%} of rows; the cutoff moves the treatment's probability"
        ]
    return []


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
    for role, choice in chosen.items():
        if choice.confidence < confidence_threshold:
            alternatives = choice.alternatives
            tail = f" (alternatives: {', '.join(alternatives)})" if alternatives else ""
            notes.append(
                f"{role.replace('_', ' ')} {choice.column!r} is uncertain "
                f"(confidence {choice.confidence:.2f}){tail}; please confirm"
            )
    for c in decisions:
        later = next(
            (r for r in LATER_ROLES if r not in chosen and data.names[c][r].score >= 0.9 and r != "region"),
            None,
        )
        if later is not None:
            notes.append(
                f"column {c!r} may be the {later.replace('_', ' ')}; "
                f"set it with the {later!r} override if it is one"
            )
    for c, (_, _, reason) in decisions.items():
        if reason.startswith(("named like an outcome", "leakage", "named like a post", "post-treatment")):
            notes.append(f"{c!r} excluded from covariates: {reason}")
    return notes


def _covariate_decision(
    p: Profile, names: Mapping[str, NameMatch], identifier_named: bool
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
    if (
        names["post"].score >= 0.8
        and names["post"].score > covariate_name
        and p.is_numeric
        and not p.is_binary
    ):
        return "exclude", 0.7, f"named like a post-treatment measure ({names['post'].quoted})"
    if p.kind == "text":
        if p.n_unique > _MAX_CATEGORY_LEVELS:
            return "exclude", 0.9, f"high-cardinality text ({p.n_unique} levels)"
        return "covariate", 0.8, f"categorical ({p.n_unique} levels)"
    if p.is_binary:
        return "covariate", 0.9, "binary"
    return "covariate", 0.9, f"numeric ({p.n_unique} distinct values)"
