"""The analysis report as PDF: the same HTML page laid out for print by WeasyPrint.

Nothing is fetched from the network while rendering: the figures are data URIs in the HTML, and
the only other resource, the Japanese fallback font (IPAex Gothic, bundled by matplotlib-fontja),
is served from memory. Any other URL is refused.

Two native leaks of WeasyPrint 70 grew the visualization worker by about 2 MB a report in the
soaks of issue 15 (`bench/visualization/leak.py` shows them in-process):
- a new `FontConfiguration` per report: its Pango font map, with Fontconfig's whole font set, is
  never freed once it has laid text out (~0.3 MB a report). One configuration now serves every
  report of the process; its caches are keyed by font description and language, which the
  template bounds, and the @font-face font is registered once (WeasyPrint skips a face it holds).
  Pango objects are not thread-safe, so renders take turns on a lock (they run in worker threads);
- a Pango attribute list (and attribute) leaked on every text layout of a box with a non-default
  OpenType feature, and WeasyPrint lays a table cell's text out many times: the template's
  `tabular-nums` cost ~0.9 MB a report. The print styles set `font-variant`,
  `font-feature-settings` and `font-kerning` back to their defaults; the PDF's fonts (DejaVu Sans,
  IPAex Gothic) have tabular digits by default, so the page looks the same.
"""

from __future__ import annotations

import re
import threading
from functools import cache
from pathlib import Path
from typing import Any

import matplotlib_fontja

JAPANESE_FONT_FAMILY = "CQOx IPAexGothic"
_FONT_FILE = "ipaexg.ttf"

# Added to the page's own styles (with !important where the page sets the same property, since
# a user stylesheet loses to an author one otherwise). The template's `@media print` block
# already keeps table rows, figures and cards whole.
_PRINT_CSS = """
@font-face {{
  font-family: "{family}";
  src: url("{font_url}") format("truetype");
}}
@page {{
  size: A4;
  margin: 16mm 14mm 18mm;
  @bottom-left {{
    content: "CQOx causal analysis report · {analysis_id}";
    font: 8pt "DejaVu Sans", "{family}", sans-serif; color: #59636e;
  }}
  @bottom-right {{
    content: "Page " counter(page) " of " counter(pages);
    font: 8pt "DejaVu Sans", "{family}", sans-serif; color: #59636e;
  }}
}}
html {{ font-size: 10pt; }}
body {{
  font-size: 10pt !important; line-height: 1.4 !important;
  font-family: "DejaVu Sans", "{family}", sans-serif !important;
}}
main {{ max-width: none !important; padding: 0 !important; }}
h1 {{ font-size: 18pt !important; }}
.meta {{ display: block !important; }}
.meta div {{ display: inline-block !important; margin: 0 16pt 2pt 0; }}
.meta dt, .meta dd {{ display: inline; }}
.meta dd {{ margin-left: 3pt !important; }}
h2 {{ font-size: 13pt !important; margin-top: 18pt !important; break-after: avoid; }}
h3 {{ font-size: 11pt !important; break-after: avoid; }}
.headline {{ font-size: 11pt !important; }}
.cards .value {{ font-size: 13pt !important; }}
.table-wrap {{ overflow: visible !important; }}
table {{ font-size: 7.5pt !important; }}
caption, figcaption, .note, .flag, .badge, details dl, details summary {{ font-size: 7pt !important; }}
th, td {{ padding: 3pt 4pt !important; }}
thead {{ display: table-header-group; }}
thead th {{ white-space: normal !important; }}
tbody th {{ overflow-wrap: break-word !important; }}
details summary {{ display: block; }}
figure {{ break-inside: avoid; page-break-inside: avoid; }}
figure img {{ max-height: 200mm; width: auto; margin: 0 auto; }}
.visually-hidden {{ display: none !important; }}
* {{ font-variant: normal !important; font-feature-settings: normal !important; font-kerning: auto !important; }}
footer {{ margin-top: 16pt !important; }}
"""


def japanese_font_path() -> Path:
    """Path of the IPAex Gothic TTF that matplotlib-fontja installs."""
    return Path(matplotlib_fontja.__file__).resolve().parent / "fonts" / _FONT_FILE


@cache
def _font_bytes() -> bytes:
    return japanese_font_path().read_bytes()


_RENDER_LOCK = threading.Lock()


@cache
def font_configuration() -> Any:
    """The process's one WeasyPrint font configuration, shared by every report (see the module)."""
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


def _offline_fetcher(font_url: str) -> Any:
    """A WeasyPrint URL fetcher that serves data: URIs and the font, and refuses anything else."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class OfflineFetcher(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
            """The font from memory, a decoded data: URI, or ValueError for anything else."""
            if url == font_url:
                return URLFetcherResponse(url, body=_font_bytes(), headers={"Content-Type": "font/ttf"})
            if url.startswith("data:"):
                return super().fetch(url, headers)
            raise ValueError(f"the PDF report loads nothing from outside: {url[:80]}")

    return OfflineFetcher(allowed_protocols={"data"}, allow_redirects=False)


def render_report_pdf(html: str, *, analysis_id: str = "") -> bytes:
    """Lay the self-contained HTML report out on A4 pages and return the PDF bytes."""
    # Imported here: WeasyPrint needs Pango at import time, and a missing system library must
    # cost the PDF only (the caller logs it), never the service.
    from weasyprint import CSS, HTML

    font_url = japanese_font_path().as_uri()
    fetcher = _offline_fetcher(font_url)
    css = _PRINT_CSS.format(
        family=JAPANESE_FONT_FAMILY,
        font_url=font_url,
        analysis_id=re.sub(r"[^\w.:-]", "", analysis_id)[:80],
    )
    with _RENDER_LOCK:
        fonts = font_configuration()
        stylesheet = CSS(string=css, url_fetcher=fetcher, font_config=fonts)
        document = HTML(string=html, base_url=None, url_fetcher=fetcher, media_type="print")
        pdf = document.write_pdf(stylesheets=[stylesheet], font_config=fonts)
    if not pdf:
        raise RuntimeError("WeasyPrint returned no PDF bytes")
    return bytes(pdf)
