"""The PDF renderer keeps no native memory from one report to the next (issue 15's leak).

WeasyPrint's leaks are in C (a Pango font map per `FontConfiguration`; a Pango attribute list per
text layout with an OpenType feature such as `tabular-nums`), so neither tracemalloc nor the
garbage collector sees them. glibc's `mallinfo2` does: the bytes malloc has handed out and not
had back. Rendering the same page again must not add to them. Before the fix each render kept
~255 kB (font map) plus ~118 kB (this page's 180 tabular cells); after it, ~2 kB.
"""

from __future__ import annotations

import gc

import pytest

from cqox_shared.allocator import malloc_in_use
from cqox_visualization.pdf import render_report_pdf

# Per render, after warming up: far below either leak, far above what malloc's bookkeeping moves.
MAX_KEPT_PER_RENDER = 32_000
RENDERS = 8

# A page like the report's tables: numbers in tabular figures, Japanese and Latin text.
ROWS = "".join(
    f"<tr><th>共変量 {row}</th>"
    + "".join(f'<td class="num">{row * 0.37 + column:.3f}</td>' for column in range(6))
    + "</tr>"
    for row in range(30)
)
PAGE = (
    "<html><head><style>td.num, dd { font-variant-numeric: tabular-nums; }</style></head>"
    f"<body><h1>売上データ report</h1><table>{ROWS}</table></body></html>"
)


def _malloc_in_use() -> int:
    """Bytes malloc has handed out and not had back, after a garbage collection."""
    gc.collect()
    in_use = malloc_in_use()
    if in_use is None:
        pytest.skip("needs glibc ≥ 2.33 (mallinfo2)")
    return in_use


def test_rendering_again_keeps_no_native_memory() -> None:
    for _ in range(2):  # warm: the shared font configuration, Pango's caches, fonts subset once
        render_report_pdf(PAGE, analysis_id="an_leak")
    before = _malloc_in_use()
    for _ in range(RENDERS):
        render_report_pdf(PAGE, analysis_id="an_leak")
    kept = (_malloc_in_use() - before) / RENDERS
    assert kept < MAX_KEPT_PER_RENDER, f"each PDF render kept {kept / 1e3:.0f} kB of native memory"
