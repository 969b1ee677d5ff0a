"""Translate assessed analyses into figures and the report."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy.dialects.postgresql import insert as pg_insert

from cqox_contracts.v1 import AnalysisAssessed, Artifact, ReportGenerated
from cqox_shared.bus import HandlerContext
from cqox_shared.logging import get_logger
from cqox_visualization.db.models import ReportRecord
from cqox_visualization.domain import flagged_methods, headline
from cqox_visualization.figures import (
    event_study_png,
    forest_plot_png,
    love_plot_png,
    rd_plot_png,
    rosenbaum_curve_png,
    sensitivity_contour_png,
)
from cqox_visualization.pdf import render_report_pdf
from cqox_visualization.report import render_report_html

log = get_logger("cqox.visualization")


def _render(event: AnalysisAssessed) -> tuple[dict[str, bytes], str, str]:
    figures = {"forest_plot": forest_plot_png(event.estimates, flagged=flagged_methods(event.gates))}
    love = love_plot_png(event.gates)
    if love is not None:
        figures["love_plot"] = love
    dynamic = event_study_png(event.estimates)
    if dynamic is not None:
        figures["event_study"] = dynamic
    discontinuity = rd_plot_png(event.estimates, roles=event.roles)
    if discontinuity is not None:
        figures["rd_plot"] = discontinuity
    # Panels come headline first: each figure is of the first panel that has its measure.
    contour = next(filter(None, map(sensitivity_contour_png, event.sensitivity)), None)
    if contour is not None:
        figures["sensitivity_contour"] = contour
    curve = next(filter(None, map(rosenbaum_curve_png, event.sensitivity)), None)
    if curve is not None:
        figures["rosenbaum_curve"] = curve
    html = render_report_html(
        analysis_id=event.analysis_id,
        dataset=event.dataset,
        roles=event.roles,
        design=event.design,
        estimates=event.estimates,
        failures=event.failures,
        gates=event.gates,
        figures=figures,
        lead=event.headline,
        sensitivity=event.sensitivity,
        verdict=event.verdict,
    )
    return figures, html, headline(event.estimates, event.gates, event.headline)


def _render_pdf(html: str, analysis_id: str) -> bytes | None:
    """The report as PDF, or None (logged) when it cannot be rendered: the HTML still stands."""
    started = time.perf_counter()
    try:
        pdf = render_report_pdf(html, analysis_id=analysis_id)
    except Exception as exc:
        log.warning(
            "pdf report failed; storing the html report only", analysis_id=analysis_id, error=repr(exc)
        )
        return None
    log.info("pdf report rendered", analysis_id=analysis_id, seconds=round(time.perf_counter() - started, 3))
    return pdf


async def draw_report(event: AnalysisAssessed, ctx: HandlerContext) -> None:
    """Draw the figures, the HTML report and its PDF, store them, and emit report.generated."""
    figures, html, summary = await asyncio.to_thread(_render, event)
    pdf = await asyncio.to_thread(_render_pdf, html, event.analysis_id)
    prefix = f"{event.tenant_id}/analyses/{event.analysis_id}"
    artifacts = []
    for name, png in figures.items():
        uri = await asyncio.to_thread(ctx.store.put_bytes, f"{prefix}/{name}.png", png, "image/png")
        artifacts.append(Artifact(name=name, uri=uri, media_type="image/png"))
    report_uri = await asyncio.to_thread(
        ctx.store.put_bytes, f"{prefix}/report.html", html.encode("utf-8"), "text/html; charset=utf-8"
    )
    artifacts.append(Artifact(name="report", uri=report_uri, media_type="text/html"))
    if pdf is not None:
        pdf_uri = await asyncio.to_thread(ctx.store.put_bytes, f"{prefix}/report.pdf", pdf, "application/pdf")
        artifacts.append(Artifact(name="report_pdf", uri=pdf_uri, media_type="application/pdf"))
    values = {
        "analysis_id": event.analysis_id,
        "tenant_id": event.tenant_id,
        "report_uri": report_uri,
        "artifacts": [a.model_dump() for a in artifacts],
        "headline": summary,
    }
    await ctx.session.execute(
        pg_insert(ReportRecord)
        .values(**values)
        .on_conflict_do_update(index_elements=["analysis_id"], set_=values)
    )
    await ctx.emit(
        ReportGenerated(
            **event.caused(),
            producer=ctx.producer,
            analysis_id=event.analysis_id,
            report_uri=report_uri,
            artifacts=artifacts,
            headline=summary,
        )
    )
