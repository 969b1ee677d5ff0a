"""Text encoding detection biased toward what users of this platform send.

A general detector alone mistakes short Japanese text for Big5 or GB18030, so the order is:
byte-order mark, strict UTF-8, then the legacy candidates that decode the sample without error,
ranked by how plausible the decoded characters are for each candidate's language (Japanese first
on a tie), with charset-normalizer's measure of mess deciding between the remaining candidates.
"""

from __future__ import annotations

import codecs
import unicodedata
from pathlib import Path

from charset_normalizer import from_bytes

from cqox_ingest.readers.base import IngestError

SAMPLE_BYTES = 1 << 16
SCAN_CHUNK = 1 << 22
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
LEGACY = ("cp932", "euc_jp", "gb18030", "big5", "euc_kr", "cp1252", "latin-1")
# Exports labelled with the standard name are usually written by the vendor superset.
SUPERSETS = {"shift_jis": "cp932", "gb2312": "gb18030", "gbk": "gb18030", "euc_kr": "cp949"}
LANGUAGE = {
    "cp932": "ja",
    "euc_jp": "ja",
    "gb18030": "zh",
    "big5": "zh",
    "euc_kr": "ko",
    "cp1252": "latin",
    "latin-1": "latin",
}


def bom_encoding(head: bytes) -> str | None:
    """The encoding announced by a byte-order mark, if any."""
    for bom, name in BOMS:
        if head.startswith(bom):
            return name
    return None


def sample_of(path: Path) -> bytes:
    """The file's head, or — when the head is plain ASCII — the region around its first non-ASCII byte.

    Large exports are often ASCII for millions of rows before the first accented or CJK value; the
    scan reads the file in chunks so memory stays bounded.
    """
    with path.open("rb") as handle:
        head = handle.read(SAMPLE_BYTES)
        if not head.isascii():
            return head
        offset = len(head)
        while chunk := handle.read(SCAN_CHUNK):
            if not chunk.isascii():
                first = next(i for i, b in enumerate(chunk) if b >= 0x80)
                start = max(0, first - 64)
                line = chunk.rfind(b"\n", 0, first)
                start = line + 1 if line >= 0 and first - line < 4096 else start
                handle.seek(offset + start)
                return handle.read(SAMPLE_BYTES)
            offset += len(chunk)
    return head


def _decodes(sample: bytes, encoding: str) -> str | None:
    try:
        return sample.decode(encoding)
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3 and len(sample) >= SAMPLE_BYTES // 2:  # a character cut by the sample
            return sample[: exc.start].decode(encoding)
        return None


def _plausibility(text: str, language: str) -> float:
    """Mean score of the non-ASCII characters for a language (1 is perfectly typical, <0 is garbage)."""
    total = 0.0
    count = 0
    for index, char in enumerate(text):
        code = ord(char)
        if code < 0x80:
            continue
        count += 1
        kana = 0x3040 <= code <= 0x30FF
        halfwidth_kana = 0xFF61 <= code <= 0xFF9F
        ideograph = 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF
        hangul = 0xAC00 <= code <= 0xD7A3
        cjk_symbol = 0x3000 <= code <= 0x303F or 0xFF01 <= code <= 0xFF5E or 0x2460 <= code <= 0x24FF
        category = unicodedata.category(char)
        if category in ("Cc", "Co", "Cn", "Cs"):
            total -= 3
        elif language == "ja":
            nec_symbol = 0x2100 <= code <= 0x22FF or 0x3200 <= code <= 0x33FF
            total += (
                2
                if kana
                else 1.2
                if nec_symbol
                else 1
                if ideograph or cjk_symbol or 0x2160 <= code <= 0x217F or 0x2500 <= code <= 0x257F
                else 0.3
                if halfwidth_kana
                else -2
            )
        elif language == "zh":
            total += 1 if ideograph or cjk_symbol else -1.5 if kana or hangul or halfwidth_kana else -1
        elif language == "ko":
            total += 1 if hangul else 0.5 if ideograph or cjk_symbol else -1.5
        elif category.startswith("L") and code < 0x250:
            total += 1.2 if _in_latin_word(text, index) else -1
        else:
            total += 0.3 if category[0] in "PSZN" and code < 0x2100 else -2
    return total / count if count else 0.0


def _in_latin_word(text: str, index: int) -> bool:
    """An accented letter in European text sits in a word of ASCII letters, not in a long non-ASCII run."""
    start = index
    while start > 0 and ord(text[start - 1]) >= 0x80:
        start -= 1
    end = index
    while end + 1 < len(text) and ord(text[end + 1]) >= 0x80:
        end += 1
    if end - start + 1 > 2:
        return False
    before = text[start - 1] if start > 0 else ""
    after = text[end + 1] if end + 1 < len(text) else ""
    return before.isalpha() or after.isalpha()


def detect_encoding(path: Path, declared: str | None = None) -> str:
    """The encoding of a text file: the declared one if given (checked to exist), else detected."""
    if declared:
        try:
            name = codecs.lookup(declared).name
            return SUPERSETS.get(name, name)
        except LookupError as exc:
            raise IngestError(422, f"unknown encoding {declared!r}; use e.g. utf-8, cp932, euc_jp") from exc
    sample = sample_of(path)
    return detect_sample(sample)


def detect_sample(sample: bytes) -> str:
    """The encoding of a sample of bytes (see the module docstring for the order of evidence)."""
    bom = bom_encoding(sample)
    if bom:
        return bom
    if _decodes(sample, "utf-8") is not None:
        return "utf-8"
    scored: list[tuple[float, int, str]] = []
    for rank, encoding in enumerate(LEGACY):
        text = _decodes(sample, encoding)
        if text is None:
            continue
        scored.append((_plausibility(text, LANGUAGE[encoding]), -rank, encoding))
    if not scored:
        return "latin-1"
    scored.sort(reverse=True)
    best_score = scored[0][0]
    close = [enc for score, _, enc in scored if score >= best_score - 0.05]
    if len(close) > 1 and LANGUAGE[close[0]] != LANGUAGE[close[1]]:
        # Same plausibility (e.g. only ideographs): let charset-normalizer's mess measure decide.
        match = from_bytes(sample, cp_isolation=[c.replace("-", "_") for c in close]).best()
        if match is not None:
            return _normal(match.encoding, close)
    return close[0]


def _normal(name: str, candidates: list[str]) -> str:
    for candidate in candidates:
        if codecs.lookup(candidate).name == codecs.lookup(name).name:
            return candidate
    return candidates[0]
