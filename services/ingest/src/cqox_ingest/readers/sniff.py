"""What an uploaded file is, from its first bytes (the file name's extension is only a hint)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from cqox_ingest.readers.encoding import bom_encoding

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def sniff_format(path: Path, hint: str = "") -> str:
    """The file's format from its first bytes: parquet, arrow, gzip, xlsx, zip, xls, json, html or text."""
    with path.open("rb") as handle:
        head = handle.read(8192)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"ARROW1") or head.startswith(b"\xff\xff\xff\xff"):
        return "arrow"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return "zip"
        if any(n.startswith("xl/") for n in names):
            return "xlsx"
        if "content.xml" in names and "mimetype" in names:
            return "ods"
        return "zip"
    if head.startswith(OLE2):
        return "xls"
    encoding = bom_encoding(head)
    text = head.decode(encoding or "latin-1", errors="replace").lstrip("\ufeff \t\r\n")
    if encoding is None and b"\x00" in head:
        return "binary"
    lowered = text[:200].lower()
    if lowered.startswith(("<!doctype html", "<html", "<?xml", "<head", "<body")):
        return "html"
    if text.startswith(("[", "{")):
        return "json"
    return "text"
