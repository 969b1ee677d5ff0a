"""`make demo` prints each sample's report path and figure count, read from its report.json."""

from __future__ import annotations

import json
from pathlib import Path

from cqox_stack.demo import report_line, report_summary


def _report_json(path: Path, formats: list[list[str]]) -> Path:
    figures = [{"name": f"view_{i}", "kind": "k", "formats": f} for i, f in enumerate(formats)]
    path.write_text(json.dumps({"format": "cqox.report/v1", "figures": figures}), encoding="utf-8")
    return path


def test_the_summary_counts_figures_and_tables_of_the_figure_table(tmp_path: Path) -> None:
    document = _report_json(tmp_path / "s.json", [["plotly", "png"], ["plotly"], ["table"]])
    summary = report_summary({"html": tmp_path / "s.html", "json": document})
    assert summary == {
        "html": str(tmp_path / "s.html"),
        "json": str(document),
        "views": 3,
        "figures": 2,
        "tables": 1,
    }
    line = report_line("customers", summary)
    assert f"Report of customers: {tmp_path / 's.html'} — 2 figures and 1 table (3 views" in line


def test_without_report_json_the_line_says_the_count_is_unknown(tmp_path: Path) -> None:
    summary = report_summary({"pdf": tmp_path / "s.pdf"})
    assert "views" not in summary
    assert (
        report_line("grant_rd", summary).strip()
        == f"Report of grant_rd: {tmp_path / 's.pdf'} (no report.json, figure count unknown)"
    )
