"""The report's language: message catalogues (gettext .po read through Babel) and numbers per locale.

English is the source language (msgids); `locale/<lang>/LC_MESSAGES/report.po` holds a
translation of the report's own words and `quality.po` one of the quality gate's prose (gate
messages, verdict, sensitivity panel; see `quality_prose`). Each .po is compiled in memory the
first time a language is asked for, so the checked-in catalogues are the only artefacts and
nothing is built at install time.
"""

from __future__ import annotations

import gettext
import io
import math
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent

LANGUAGES = ("en", "ja")
DEFAULT_LANGUAGE = "en"
_DOMAINS = ("report", "quality")
_BABEL_LOCALES = {"en": "en_US", "ja": "ja_JP"}


def _catalogue(language: str, domain: str) -> Catalog:
    source = resources.files("cqox_visualization").joinpath(f"locale/{language}/LC_MESSAGES/{domain}.po")
    with source.open("rb") as handle:
        return read_po(handle, locale=language, domain=domain)


@cache
def _translations(language: str) -> gettext.NullTranslations:
    if language == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()
    merged: gettext.NullTranslations | None = None
    for domain in _DOMAINS:  # the report's own catalogue first, the quality gate's prose behind it
        compiled = io.BytesIO()
        write_mo(compiled, _catalogue(language, domain))
        compiled.seek(0)
        translations = gettext.GNUTranslations(compiled)
        if merged is None:
            merged = translations
        else:
            merged.add_fallback(translations)
    assert merged is not None
    return merged


def catalogue_ids(language: str, domains: tuple[str, ...] = _DOMAINS) -> set[str]:
    """The msgids that have a translation in `language`'s catalogues (empty for English)."""
    if language == DEFAULT_LANGUAGE:
        return set()
    return {
        str(message.id)
        for domain in domains
        for message in _catalogue(language, domain)
        if message.id and message.string
    }


def normalise_language(language: str | None) -> str | None:
    """'ja', 'ja-JP', 'JA_jp' -> 'ja'; None for anything the report has no catalogue for."""
    if not language:
        return None
    code = language.strip().lower().replace("_", "-").split("-", 1)[0]
    return code if code in LANGUAGES else None


def _is_japanese(char: str) -> bool:
    name = unicodedata.name(char, "")
    return name.startswith(("CJK UNIFIED", "HIRAGANA", "KATAKANA", "HALFWIDTH KATAKANA"))


def dominant_language(texts: Iterable[str]) -> str:
    """'ja' when Japanese characters outnumber Latin letters in `texts` (column names), else 'en'."""
    japanese = latin = 0
    for text in texts:
        for char in text:
            if _is_japanese(char):
                japanese += 1
            elif char.isascii() and char.isalpha():
                latin += 1
    return "ja" if japanese > latin else DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Language:
    """One report language: translate a message and format numbers the way its readers expect."""

    code: str

    @property
    def gettext(self) -> Callable[[str], str]:
        """The translation function of this language (identity for English)."""
        return _translations(self.code).gettext

    def __call__(self, message: str, **values: object) -> str:
        """The message translated, with `{name}` placeholders filled from `values`."""
        text = _translations(self.code).gettext(message)
        return text.format(**values) if values else text

    @property
    def locale(self) -> Locale:
        """Babel locale of this language."""
        return Locale.parse(_BABEL_LOCALES[self.code])

    def number(self, value: float | None, digits: int = 3) -> str:
        """A number with the locale's separators, `digits` decimals (3 significant below 0.1)."""
        if value is None or not math.isfinite(value):
            return "—"
        magnitude = abs(value)
        if magnitude and magnitude < 0.1:
            digits = max(digits, 2 - math.floor(math.log10(magnitude)))
        pattern = "#,##0." + "0" * digits if digits else "#,##0"
        return format_decimal(value, format=pattern, locale=self.locale)

    def percent(self, value: float | None, digits: int = 1) -> str:
        """A share as a percentage in the locale's style."""
        if value is None or not math.isfinite(value):
            return "—"
        return format_percent(value, format="#,##0." + "0" * digits + "%", locale=self.locale)


def language(code: str | None) -> Language:
    """The Language for a code, English when the code is unknown or None."""
    return Language(normalise_language(code) or DEFAULT_LANGUAGE)
