"""The PDF report: same content as the HTML, Japanese glyphs, figures embedded, never fatal."""

from __future__ import annotations

import asyncio
import io
import re
import zlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from cqox_contracts.v1 import AnalysisAssessed, ReportGenerated
from cqox_contracts.v1.models import (
    ColumnSchema,
    DatasetRef,
    EstimateResult,
    GateResult,
    MethodFailure,
    RoleMapping,
)
from cqox_shared.harness import HandlerHarness, HandlerRun, scratch_database
from cqox_shared.settings import Settings
from cqox_visualization import handlers
from cqox_visualization.app import build_runtime
from cqox_visualization.db.models import ReportRecord
from cqox_visualization.domain import flagged_methods, headline
from cqox_visualization.figures import forest_plot_png, love_plot_png
from cqox_visualization.pdf import _offline_fetcher, japanese_font_path, render_report_pdf
from cqox_visualization.report import render_report_html


def _estimate(method: str, value: float, *, estimand: str = "ATE") -> EstimateResult:
    return EstimateResult(
        method=method, estimand=estimand, estimate=value, std_error=0.1, ci_lower=value - 0.196,
        ci_upper=value + 0.196, p_value=0.0002, n=4000, n_treated=1800, n_control=2200, inference="analytic",
    )  # fmt: skip


ESTIMATES = [
    _estimate("ols", 2.0),
    _estimate("aipw", 2.05),
    _estimate("ipw", 2.7),
    _estimate("psm", 1.9, estimand="ATT"),
]
GATES = [
    GateResult(name="completeness", category="data", threshold=0.95, value=0.999, passed=True, severity="error"),
    GateResult(
        name="balance_smd", category="causal", threshold=0.1, value=0.14, passed=False, severity="warning",
        applies_to=["ipw"], details={"smd_before:所得": 0.3, "smd_after:所得": 0.14},
    ),
]  # fmt: skip
FAILURES = [MethodFailure(method="iv_2sls", reason="no instrument mapped", error_type="not_applicable")]
DATASET = DatasetRef(
    dataset_id="ds_ja", version=2, name="売上データ 2024", parquet_uri="file:///tmp/ds_ja/2/data.parquet",
    n_rows=4000, columns=[ColumnSchema(name=n, dtype="double") for n in ("店舗ID", "年月", "売上高", "所得")],
)  # fmt: skip
JAPANESE_ROLES = RoleMapping(
    treatment="キャンペーン配信", outcome="売上高", unit="店舗ID", time="年月", covariates=["age", "所得"]
)


def _html(roles: RoleMapping = JAPANESE_ROLES) -> str:
    return render_report_html(
        analysis_id="an_ja",
        dataset=DATASET,
        roles=roles,
        design="panel, binary treatment",
        estimates=ESTIMATES,
        failures=FAILURES,
        gates=GATES,
        figures={
            "forest_plot": forest_plot_png(ESTIMATES, flagged=flagged_methods(GATES)),
            "love_plot": love_plot_png(GATES) or b"",
        },
    )


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return render_report_pdf(_html(), analysis_id="an_ja")


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _inflated_streams(pdf: bytes) -> bytes:
    """Every Flate stream of the PDF, decompressed and joined (fonts, ToUnicode maps, pages)."""
    inflated = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            inflated.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"\n".join(inflated)


def test_the_pdf_embeds_the_japanese_font_with_the_glyphs_of_the_column_names(pdf: bytes) -> None:
    # Checked without a PDF library: the IPAex subset is named, and its ToUnicode map has 売, 上, 高.
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    streams = _inflated_streams(pdf)
    assert b"IPAexGothic" in streams
    for char in "売上高店舗配信":
        assert re.search(rb"<[0-9a-f]+> <%s>" % f"{ord(char):04x}".encode(), streams), char


def test_the_pdf_holds_the_japanese_column_names_the_headline_and_the_figures(pdf: bytes) -> None:
    pypdf = pytest.importorskip("pypdf")

    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = _squeeze("\n".join(page.extract_text() for page in reader.pages))
    for expected in ("売上高", "キャンペーン配信", "店舗ID", "売上データ2024", headline(ESTIMATES, GATES)):
        assert _squeeze(expected) in text, expected
    for name in ("ols", "iv_2sls", "balance_smd", "Howtoreadthis"):
        assert name in text
    assert "Page1of" in text  # the page footer counts pages
    fonts = {
        str(font.get_object()["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"].get("/Font", {}).values()
    }
    assert any("IPAexGothic" in font for font in fonts), fonts
    # the forest and love plots are embedded at their full pixel size (pages share one resource dict)
    images = {
        ref.idnum: int(ref.get_object()["/Width"])
        for page in reader.pages
        for ref in page["/Resources"].get("/XObject", {}).values()
        if ref.get_object()["/Subtype"] == "/Image"
    }
    figures = (forest_plot_png(ESTIMATES, flagged=flagged_methods(GATES)), love_plot_png(GATES) or b"")
    assert sorted(images.values()) == sorted(int.from_bytes(png[16:20], "big") for png in figures)
    width, height = (float(v) for v in reader.pages[0].mediabox[2:])
    assert (round(width), round(height)) == (595, 842)  # A4 in points


def test_the_renderer_fetches_nothing_but_data_uris_and_the_font() -> None:
    font_url = japanese_font_path().as_uri()
    fetcher = _offline_fetcher(font_url)
    assert fetcher.fetch(font_url).read()[:4] == b"\x00\x01\x00\x00"  # a TrueType font, from memory
    assert fetcher.fetch("data:text/plain;base64,aGk=").read() == b"hi"
    for url in ("http://169.254.169.254/latest", "s3://bucket/key.png", "file:///etc/passwd"):
        with pytest.raises(ValueError, match="loads nothing"):
            fetcher.fetch(url)
    # an <img> pointing outside is dropped, the PDF still renders
    html = _html().replace("</main>", '<img src="http://example.invalid/x.png" alt="x"></main>')
    assert render_report_pdf(html).startswith(b"%PDF-")


@pytest.fixture(scope="module")
def database_url(infra) -> str:  # type: ignore[no-untyped-def]
    return scratch_database(infra.database_url, "visualization")


def _run_handler(database_url: str, tmp_path: Path) -> ReportGenerated:
    """draw_report on one event, against the visualization schema; its one emitted event."""
    event = AnalysisAssessed(
        correlation_id="an_ja", producer="test", analysis_id="an_ja", dataset=DATASET,
        roles=JAPANESE_ROLES, design="panel, binary treatment", estimates=ESTIMATES,
        failures=FAILURES, gates=GATES,
    )  # fmt: skip
    settings = Settings(database_url=database_url, artifact_url=f"file://{tmp_path}")

    async def twice() -> tuple[HandlerRun, HandlerRun]:
        async with HandlerHarness(build_runtime(settings)) as harness:
            return await harness.run(event), await harness.run(event)

    run, again = asyncio.run(twice())
    assert run.outcome == "ok" and again.outcome == "duplicate" and again.emitted == []
    (emitted,) = run.emitted
    assert isinstance(emitted, ReportGenerated) and emitted.causation_id == event.event_id
    assert emitted.producer == "visualization"
    return emitted


@pytest.mark.integration
def test_the_handler_stores_the_pdf_next_to_the_html(database_url: str, tmp_path: Path) -> None:
    event = _run_handler(database_url, tmp_path)
    artifacts = {a.name: a for a in event.artifacts}
    assert artifacts["report"].uri == event.report_uri and event.report_uri.endswith("/report.html")
    pdf = artifacts["report_pdf"]
    assert pdf.media_type == "application/pdf"
    assert pdf.uri.endswith("/analyses/an_ja/report.pdf")
    assert Path(pdf.uri.removeprefix("file://")).read_bytes().startswith(b"%PDF-")


@pytest.mark.integration
def test_a_failing_pdf_costs_only_the_pdf(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(html: str, *, analysis_id: str = "") -> bytes:
        raise OSError("cannot load library 'libpango-1.0-0'")

    monkeypatch.setattr(handlers, "render_report_pdf", broken)
    with capture_logs() as logs:
        event = _run_handler(database_url, tmp_path)
    assert "report_pdf" not in {a.name for a in event.artifacts}
    assert {"report", "report_json", "forest_plot"} <= {a.name for a in event.artifacts}
    assert Path(event.report_uri.removeprefix("file://")).read_text().startswith("<!DOCTYPE html>")
    assert not (tmp_path / "default" / "analyses" / "an_ja" / "report.pdf").exists()
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:  # the report row is there, without the PDF
            stored = conn.execute(sa.select(ReportRecord.artifacts)).scalar_one()
    finally:
        engine.dispose()
    assert {a["name"] for a in stored} == {a.name for a in event.artifacts}
    (warning,) = [e for e in logs if e["log_level"] == "warning" and e["event"].startswith("pdf report")]
    assert "libpango" in warning["error"] and warning["analysis_id"] == "an_ja"
