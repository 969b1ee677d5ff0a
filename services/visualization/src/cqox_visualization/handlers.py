"""Translate assessed analyses into figures and the report (drawn and stored outside any
transaction, recorded in a short one that claims the event id: ADR 0022)."""

from __future__ import annotations

import asyncio
import base64
import errno
import io
import os
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from cqox_contracts.v1 import AnalysisAssessed, Artifact, DatasetQualified, FigureEntry, ReportGenerated
from cqox_shared.artifacts import ArtifactStore
from cqox_shared.bus import HandlerContext, RejectMessage, WorkContext
from cqox_shared.logging import get_logger
from cqox_visualization.catalogue import Evidence, View, build_views, top_drivers
from cqox_visualization.db.models import ReportLanguage, ReportRecord
from cqox_visualization.domain import flagged_methods, headline
from cqox_visualization.export import report_json
from cqox_visualization.figures import (
    forest_plot_png,
    love_plot_png,
    rd_plot_png,
    rosenbaum_curve_png,
    sensitivity_contour_png,
)
from cqox_visualization.i18n import Language, dominant_language, language
from cqox_visualization.pdf import render_report_pdf
from cqox_visualization.report import render_report_html
from cqox_visualization.static import render_png

log = get_logger("cqox.visualization")

JSON_NAME = "report.json"


@dataclass(frozen=True)
class Rendered:
    """Everything one analysis's report is made of, before it is stored."""

    views: list[View]
    images: dict[str, bytes]  # static PNG per view key
    html: str  # interactive (Plotly)
    print_html: str  # static images, for the PDF
    headline: str
    language: Language
    figures: list[FigureEntry]
    document: bytes  # report.json


def report_language(event: AnalysisAssessed, requested: str | None = None) -> Language:
    """The requested language, else the dominant script of the dataset's column names."""
    if requested:
        return language(requested)
    names = [column.name for column in event.dataset.columns] or [event.dataset.name]
    return language(dominant_language(names))


def _columns_drawn(event: AnalysisAssessed, cate_method: str | None = None) -> list[str]:
    roles = event.roles
    wanted = [roles.treatment, roles.outcome, roles.unit, roles.time, roles.running_variable,
              roles.latitude, roles.longitude]  # fmt: skip
    if roles.running_variable:
        wanted += roles.covariates
    if cate_method is not None:  # the covariates that move that method's predicted effect most
        estimate = next(e for e in event.estimates if e.method == cate_method)
        wanted += [column for column, _ in top_drivers(estimate.diagnostics)]
    present = {column.name for column in event.dataset.columns}
    return [c for c in dict.fromkeys(wanted) if c and c in present]


def load_evidence(event: AnalysisAssessed, store: Any) -> Evidence:
    """The assessed analysis with the dataset's drawn columns and one CATE table, when readable."""
    lead = event.headline.method if event.headline else None
    tables = [(e.method, a) for e in event.estimates for a in e.artifacts if a.name == f"cate_{e.method}"]
    tables.sort(key=lambda item: item[0] != lead)  # the headline's own table when it has one
    cate: dict[str, pd.DataFrame] = {}
    if store is not None and tables:
        method, artifact = tables[0]
        try:
            cate[method] = pd.read_parquet(io.BytesIO(store.get_bytes(artifact.uri)), columns=["row", "cate"])
        except Exception as exc:
            log.warning("CATE table not readable", analysis_id=event.analysis_id, error=repr(exc))
    data = None
    columns = _columns_drawn(event, next(iter(cate), None))
    if store is not None and columns:
        try:
            data = pd.read_parquet(io.BytesIO(store.get_bytes(event.dataset.parquet_uri)), columns=columns)
        except Exception as exc:  # the views of raw data are skipped, the rest still drawn
            log.warning("dataset not readable for the report", analysis_id=event.analysis_id, error=repr(exc))
    return Evidence(event=event, data=data, cate=cate)


def _static_png(view: View, event: AnalysisAssessed) -> bytes | None:
    """The PDF's rendering of a view: the hand-tuned matplotlib figure where one exists."""
    if view.kind == "forest":
        return forest_plot_png(event.estimates, flagged=flagged_methods(event.gates))
    if view.kind == "love":
        return love_plot_png(event.gates)
    if view.kind == "rd_plot":
        return rd_plot_png(event.estimates, roles=event.roles)
    if view.kind == "sensitivity_contour":
        return next(filter(None, map(sensitivity_contour_png, event.sensitivity)), None)
    if view.kind == "rosenbaum_curve":
        return next(filter(None, map(rosenbaum_curve_png, event.sensitivity)), None)
    return render_png(view)


def _render(event: AnalysisAssessed, store: Any = None, requested_language: str | None = None) -> Rendered:
    lang = report_language(event, requested_language)
    views = build_views(load_evidence(event, store), lang)
    images = {}
    for view in views:
        try:
            png = _static_png(view, event) if view.figure is not None else None
        except Exception as exc:  # one figure's static drawing never costs the reader the report
            log.warning(
                "static figure skipped", analysis_id=event.analysis_id, view=view.key, error=repr(exc)
            )
            png = None
        if png is not None:
            images[view.key] = png
    figures = [
        FigureEntry(
            name=view.key,
            kind=view.kind,
            method=view.method,
            section=view.section,
            title=view.title,
            formats=["table"]
            if view.table is not None
            else ["plotly", *(["png"] if view.key in images else [])],
            width_px=None if view.table is not None else view.size[0],
            height_px=None if view.table is not None else view.size[1],
            png_bytes=len(images[view.key]) if view.key in images else None,
            artifact=view.key if view.key in images else None,
        )
        for view in views
    ]
    document = report_json(event, figures, lang.code)
    common: dict[str, Any] = {
        "analysis_id": event.analysis_id,
        "dataset": event.dataset,
        "roles": event.roles,
        "design": event.design,
        "estimates": event.estimates,
        "failures": event.failures,
        "gates": event.gates,
        "lead": event.headline,
        "sensitivity": event.sensitivity,
        "verdict": event.verdict,
        "seed": event.seed,
        "views": views,
        "images": images,
        "lang": lang,
    }
    json_href = "data:application/json;base64," + base64.b64encode(document).decode("ascii")
    html = render_report_html(**common, interactive=True, json_href=json_href)
    print_html = render_report_html(**common, interactive=False)
    summary = headline(event.estimates, event.gates, event.headline)
    return Rendered(views, images, html, print_html, summary, lang, figures, document)


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


async def remember_language(event: DatasetQualified, ctx: HandlerContext) -> None:
    """Keep the report language the analysis spec asks for, until its assessed results arrive."""
    if event.spec.language is None:
        return
    values = {"analysis_id": event.analysis_id, "tenant_id": event.tenant_id, "language": event.spec.language}
    await ctx.session.execute(
        pg_insert(ReportLanguage)
        .values(**values)
        .on_conflict_do_update(index_elements=["analysis_id"], set_=values)
    )


@dataclass(frozen=True)
class Drawn:
    """A report drawn and stored by the compute step: what the handler records and says."""

    report_uri: str
    artifacts: list[Artifact]
    headline: str
    figures: list[FigureEntry]
    language: str


async def draw_report_work(event: AnalysisAssessed, context: WorkContext) -> Drawn:
    """Compute step of `draw_report`: a short read of the requested language, then the report
    drawn and stored with no transaction open (`draw_and_store`)."""
    async with context.sessions() as session:
        requested = await session.scalar(
            sa.select(ReportLanguage.language).where(
                ReportLanguage.analysis_id == event.analysis_id, ReportLanguage.tenant_id == event.tenant_id
            )
        )
    return await draw_and_store(event, context.store, requested)


async def draw_and_store(event: AnalysisAssessed, store: ArtifactStore, requested: str | None) -> Drawn:
    """The figure catalogue, the HTML report, its PDF and report.json drawn (in worker threads)
    and stored (`store_report`)."""
    rendered = await asyncio.to_thread(_render, event, store, requested)
    pdf = await asyncio.to_thread(_render_pdf, rendered.print_html, event.analysis_id)
    return await store_report(event, store, rendered, pdf)


async def store_report(
    event: AnalysisAssessed, store: ArtifactStore, rendered: Rendered, pdf: bytes | None
) -> Drawn:
    """Store the report's files under the analysis's prefix: what `draw_report` records.

    A full artifact store (no space left, or a quota spent: `store_full_cause`) fails the report
    at once with `RejectMessage`, which dead-letters the message and fails the analysis with the
    reason; nothing is retried. Freeing space takes an operator, not the seconds a redelivery
    waits (back-off 1, 2, 4, 8 s), and every retry would draw the whole report again (seconds of
    CPU) only to fail the same way, the analysis failing about a minute later with the same
    reason. What this report had already stored is deleted, so a failed report leaves nothing
    behind and gives back the space it took. Other storage errors are retried as before.
    """
    prefix = f"{event.tenant_id}/analyses/{event.analysis_id}"
    stored: list[str] = []

    async def put(key: str, data: bytes, media_type: str) -> str:
        uri = await asyncio.to_thread(store.put_bytes, f"{prefix}/{key}", data, media_type)
        stored.append(uri)
        return uri

    try:
        artifacts = []
        for key, png in rendered.images.items():
            uri = await put(f"figures/{key}.png", png, "image/png")
            artifacts.append(Artifact(name=key, uri=uri, media_type="image/png"))
        report_uri = await put("report.html", rendered.html.encode("utf-8"), "text/html; charset=utf-8")
        artifacts.append(Artifact(name="report", uri=report_uri, media_type="text/html"))
        json_uri = await put(JSON_NAME, rendered.document, "application/json")
        artifacts.append(Artifact(name="report_json", uri=json_uri, media_type="application/json"))
        if pdf is not None:
            pdf_uri = await put("report.pdf", pdf, "application/pdf")
            artifacts.append(Artifact(name="report_pdf", uri=pdf_uri, media_type="application/pdf"))
    except Exception as exc:
        cause = store_full_cause(exc)
        if cause is None:
            raise
        await asyncio.to_thread(_delete_quietly, store, stored)
        raise RejectMessage(
            f"storing the report: artifact store full ({cause}); none of the report was kept. "
            "Free space in the artifact store (or raise its quota), then run the analysis again."
        ) from exc
    return Drawn(report_uri, artifacts, rendered.headline, rendered.figures, rendered.language.code)


def _delete_quietly(store: ArtifactStore, uris: list[str]) -> None:
    """Delete what a failed report stored; a delete that fails too is logged, not raised."""
    for uri in uris:
        try:
            store.delete(uri)
        except Exception as exc:
            log.warning("could not delete a failed report's file", uri=uri, error=repr(exc))


# What a full artifact store says: the local disk (no space, or the user's quota spent), or an
# S3 server (MinIO below its free-drive threshold or over a bucket quota; Ceph's quota error).
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_FULL_S3_CODES = frozenset({"XMinioStorageFull", "XMinioAdminBucketQuotaExceeded", "QuotaExceeded"})


def store_full_cause(exc: BaseException) -> str | None:
    """What in `exc` (or the errors it came from) says the artifact store is full, else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            return current.strerror or os.strerror(current.errno)
        code = getattr(current, "code", None)
        if isinstance(code, str) and code in _FULL_S3_CODES:
            return f"{code}: {getattr(current, 'message', None) or current}"
        current = current.__cause__ or current.__context__
    return None


async def draw_report(event: AnalysisAssessed, ctx: HandlerContext) -> None:
    """Record the report `draw_report_work` drew and stored, and emit report.generated, in one
    short transaction."""
    drawn = ctx.computed
    if not isinstance(drawn, Drawn):
        raise TypeError(f"{ctx.flow}: the subscription has no report compute step")
    values = {
        "analysis_id": event.analysis_id,
        "tenant_id": event.tenant_id,
        "report_uri": drawn.report_uri,
        "artifacts": [a.model_dump() for a in drawn.artifacts],
        "headline": drawn.headline,
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
            report_uri=drawn.report_uri,
            artifacts=drawn.artifacts,
            headline=drawn.headline,
            figures=drawn.figures,
            language=drawn.language,
        )
    )
