"""Column names → role evidence: normalisation and the multilingual synonym dictionaries.

The dictionaries are versioned data (``synonyms/<language>.json``), one per language. A name is
normalised (NFKC width folding, case folding, accents, snake/camel/kebab case, CJK/Latin script
boundaries), common abbreviations are expanded (``trt`` → treatment, ``rev`` → revenue), a Stata
log prefix is read through (``lwage`` → wage), and every dictionary is matched; the best match per
role wins and remembers its language. Each dictionary also lists words that date a measure before
or after the treatment (``time_qualifier``).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources

__all__ = [
    "LANGUAGES",
    "NameMatch",
    "Synonym",
    "SynonymDictionary",
    "SynonymError",
    "all_dictionaries",
    "dictionary_versions",
    "is_cjk",
    "load_synonyms",
    "match_name",
    "normalise_level",
    "normalise_name",
    "time_qualifier",
]

LANGUAGES: tuple[str, ...] = ("en", "ja", "zh", "ko", "es", "fr", "de", "pt")

_ACRONYM_BOUNDARY = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL_BOUNDARY = re.compile(r"([a-z0-9])([A-Z])")
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
_SCRIPT_BOUNDARY = re.compile(rf"([{_CJK}])([A-Za-z0-9])|([A-Za-z0-9])([{_CJK}])")
_CJK_CHAR = re.compile(rf"[{_CJK}]")
_SEPARATORS = re.compile(r"[\W_]+")
_TRAILING_DIGITS = re.compile(r"^([a-z]+)\d+$")
# d89, y81, y1985: a one-letter stem with a year is a period dummy, not 'd' (treatment) or 'y' (outcome).
_YEAR_DUMMY = re.compile(r"^[a-z]\d{2,4}$")


class SynonymError(ValueError):
    """A synonym dictionary is missing or malformed."""


@dataclass(frozen=True)
class Synonym:
    """One dictionary entry: a term, its tokens and how strongly it signals the role."""

    term: str
    tokens: tuple[str, ...]
    weight: float
    cjk: bool


@dataclass(frozen=True)
class SynonymDictionary:
    """Column-name synonyms per role for one language, as shipped in ``synonyms/``."""

    version: str
    language: str
    roles: Mapping[str, tuple[Synonym, ...]]
    treatment_levels: frozenset[str] = frozenset()
    control_levels: frozenset[str] = frozenset()
    arm_levels: frozenset[str] = frozenset()  # levels that name experiment arms (A/B, test/control)
    abbreviations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Words that date a measure before or after the treatment: 'prior', '前年' / 'next', '卒業後'.
    before_qualifiers: tuple[Synonym, ...] = ()
    after_qualifiers: tuple[Synonym, ...] = ()


@dataclass(frozen=True)
class NameMatch:
    """How well a name matches one role: score in [0, 1], the terms and the language that matched."""

    score: float
    terms: tuple[str, ...] = ()
    language: str | None = None

    @property
    def quoted(self) -> str:
        """The matching dictionary terms, for reasons: 'received'/'coupon'."""
        return "/".join(repr(term) for term in self.terms)


def is_cjk(text: str) -> bool:
    """True when the text holds Chinese, Japanese or Korean characters."""
    return bool(_CJK_CHAR.search(text))


def _strip_accents(char: str) -> str:
    """'é' -> 'e', 'ß' stays for casefold; kana keep their voicing marks ('ペ' is not 'ヘ')."""
    if _CJK_CHAR.match(char):
        return char
    return "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))


def normalise_name(name: object) -> tuple[str, ...]:
    """Split a column name into case-folded, accent-free tokens (camelCase, snake, kebab, spaces)."""
    text = "".join(_strip_accents(c) for c in unicodedata.normalize("NFKC", str(name)))
    text = _ACRONYM_BOUNDARY.sub(r"\1 \2", text)
    text = _CAMEL_BOUNDARY.sub(r"\1 \2", text)
    text = _SCRIPT_BOUNDARY.sub(lambda m: " ".join(g for g in m.groups() if g), text)
    return tuple(token for token in _SEPARATORS.split(text.casefold()) if token)


def normalise_level(value: object) -> str:
    """A category level as compared with the dictionaries' treatment/control levels."""
    return " ".join(normalise_name(value))


@cache
def load_synonyms(language: str = "en") -> SynonymDictionary:
    """Load the packaged synonym dictionary for ``language``."""
    resource = resources.files("cqox_mapping").joinpath("synonyms", f"{language}.json")
    if not resource.is_file():
        raise SynonymError(
            f"no synonym dictionary for language {language!r}; available: {', '.join(LANGUAGES)}"
        )
    raw = json.loads(resource.read_text(encoding="utf-8"))
    roles: dict[str, tuple[Synonym, ...]] = {}
    for role, entries in raw["roles"].items():
        synonyms = []
        for entry in entries:
            term, weight = (entry, 1.0) if isinstance(entry, str) else (entry["term"], entry["weight"])
            tokens = normalise_name(term)
            if tokens:
                synonyms.append(Synonym(term=term, tokens=tokens, weight=float(weight), cjk=is_cjk(term)))
        roles[role] = tuple(synonyms)
    return SynonymDictionary(
        version=str(raw["version"]),
        language=raw["language"],
        roles=roles,
        treatment_levels=frozenset(normalise_level(v) for v in raw.get("treatment_levels", ())),
        control_levels=frozenset(normalise_level(v) for v in raw.get("control_levels", ())),
        arm_levels=frozenset(normalise_level(v) for v in raw.get("arm_levels", ())),
        abbreviations={
            normalise_level(short): normalise_name(long)
            for short, long in raw.get("abbreviations", {}).items()
        },
        before_qualifiers=_qualifiers(raw.get("before_qualifiers", ())),
        after_qualifiers=_qualifiers(raw.get("after_qualifiers", ())),
    )


def _qualifiers(words: object) -> tuple[Synonym, ...]:
    terms = [str(w) for w in words] if isinstance(words, list | tuple) else []
    return tuple(Synonym(t, normalise_name(t), 1.0, is_cjk(t)) for t in terms if normalise_name(t))


@cache
def all_dictionaries() -> tuple[SynonymDictionary, ...]:
    """Every packaged dictionary, English first."""
    return tuple(load_synonyms(language) for language in LANGUAGES)


def dictionary_versions() -> str:
    """The versions of every dictionary, recorded with each mapping: 'en:3,ja:2,...'."""
    return ",".join(f"{d.language}:{d.version}" for d in all_dictionaries())


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


def _cjk_score(joined: str, synonym: Synonym) -> float:
    """CJK names have no word breaks: a term inside the name counts, more the more it covers."""
    term = "".join(synonym.tokens)
    if term == joined:
        return 1.0
    if term not in joined:
        return 0.0
    if len(term) == 1:  # '年', '月', '県' only as the last character: '調査年', not '年齢'
        return 0.7 if joined.endswith(term) else 0.0
    return round(0.6 + 0.35 * len(term) / len(joined), 6)


@dataclass(frozen=True)
class _Prepared:
    """One spelling of a name, with the forms every Latin term is compared against."""

    tokens: tuple[str, ...]
    singular: tuple[str, ...]
    singular_es: tuple[str, ...]  # Romance plurals: 'anteriores' -> 'anterior'
    stem: tuple[str, ...]
    glued: str

    @classmethod
    def of(cls, tokens: tuple[str, ...]) -> _Prepared:
        return cls(
            tokens,
            tuple(_singular(t) for t in tokens),
            tuple(t[:-2] if len(t) > 6 and t.endswith("es") else t for t in tokens),
            _stem(tokens),
            "".join(tokens),
        )


def _latin_score(name: _Prepared, synonym: Synonym) -> float:
    phrase = synonym.tokens
    if phrase in (name.tokens, name.singular, name.singular_es):
        return 1.0
    if phrase == name.stem and not (
        len(phrase) == 1 and len(phrase[0]) == 1 and _YEAR_DUMMY.match(name.glued)
    ):
        return 0.9
    if len(phrase) > 1:
        if _contains_phrase(name.tokens, phrase) or _contains_phrase(name.singular, phrase):
            return 0.9
        # German-style compounds: 'gutscheinerhalten', 'kundennummer'
        glued = "".join(phrase)
        return 0.5 if len(glued) >= 8 and glued in name.glued else 0.0
    (term,) = phrase
    if len(term) == 1:  # 'd', 'y', 'x' are names, never fragments
        return 0.0
    if term in name.tokens or term in name.singular or term in name.singular_es:
        return 0.8 if len(term) >= 3 else 0.6
    if len(term) >= 4 and any(
        len(t) >= 4 and (t.startswith(term) or term.startswith(t)) for t in name.tokens
    ):
        return 0.5
    if len(term) >= 5 and term in name.glued:
        return 0.4
    if len(term) >= 4 and any(t.endswith(term) and len(t) - len(term) >= 3 for t in name.tokens):
        return 0.4  # glued compounds end in their head word: 'avgmath', 'bruttostundenlohn'
    return 0.0


def _expand(tokens: tuple[str, ...], abbreviations: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    expanded: list[str] = []
    for token in tokens:
        expanded.extend(abbreviations.get(token, (token,)))
    return tuple(expanded)


@cache
def _abbreviations() -> Mapping[str, tuple[str, ...]]:
    merged: dict[str, tuple[str, ...]] = {}
    for dictionary in all_dictionaries():
        merged.update(dictionary.abbreviations)
    return merged


_LOG_PREFIX_FACTOR = 0.9


def _unlogged(tokens: tuple[str, ...]) -> tuple[str, ...] | None:
    """The name without a one-letter log prefix ('lwage' -> 'wage'), when it has one to drop."""
    if len(tokens) != 1 or is_cjk(tokens[0]):
        return None
    token = tokens[0]
    if len(token) < 4 or not token.startswith("l") or not token[1:].isalpha():
        return None
    return (token[1:],)


# Column names come from every upload ever seen: the per-name caches keep the most recent ones only.
NAME_CACHE_SIZE = 2048


@lru_cache(maxsize=NAME_CACHE_SIZE)
def match_name(tokens: tuple[str, ...]) -> dict[str, NameMatch]:
    """Best match per role across every language's dictionary (callers must not mutate it)."""
    abbreviations = _abbreviations()
    spellings = {tokens: 1.0, _expand(tokens, abbreviations): 1.0}
    logged = _unlogged(tokens)
    if logged is not None:  # Stata's log prefix: lwage, lemp, lscrap name the log of a measure
        spellings.setdefault(_expand(logged, abbreviations), _LOG_PREFIX_FACTOR)
    variants = [(_Prepared.of(v), factor) for v, factor in spellings.items()]
    joined = "".join(tokens)
    cjk_name = is_cjk(joined)
    matches: dict[str, NameMatch] = {}
    for dictionary in all_dictionaries():
        for role, synonyms in dictionary.roles.items():
            best = matches.get(role, NameMatch(0.0))
            score_best, terms = best.score, list(best.terms)
            language = best.language
            for synonym in synonyms:
                if synonym.cjk:
                    raw = _cjk_score(joined, synonym) if cjk_name else 0.0
                else:
                    raw = max(_latin_score(v, synonym) * factor for v, factor in variants)
                if raw == 0.0:
                    continue
                score = round(raw * synonym.weight, 6)
                if score > score_best:
                    score_best, terms, language = score, [synonym.term], dictionary.language
                elif score == score_best and score > 0 and synonym.term not in terms:
                    terms.append(synonym.term)
            matches[role] = NameMatch(score_best, tuple(terms[:2]), language if score_best > 0 else None)
    return matches


@lru_cache(maxsize=NAME_CACHE_SIZE)
def time_qualifier(tokens: tuple[str, ...]) -> tuple[str, str] | None:
    """('before' | 'after', the word) when a name dates its measure: 'prior_wage', '卒業後の所得', 'earn_next'.

    The qualifier must come with another word: 'next' alone says nothing about what is measured.
    """
    joined = "".join(tokens)
    cjk_name = is_cjk(joined)
    for side in ("before", "after"):
        for dictionary in all_dictionaries():
            words = dictionary.before_qualifiers if side == "before" else dictionary.after_qualifiers
            for word in words:
                term = "".join(word.tokens)
                if word.cjk:
                    if cjk_name and term in joined and len(joined) > len(term):
                        return side, word.term
                elif len(tokens) > len(word.tokens) and _contains_phrase(tokens, word.tokens):
                    return side, word.term
    return None
