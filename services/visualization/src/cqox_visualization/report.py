"""The analysis report as one self-contained HTML page (inline CSS, figures as data URIs).

Numbers are formatted here and handed to a Jinja2 template with autoescaping on, so every name
that came from a user's file (columns, dataset, methods) is escaped.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jinja2

from cqox_contracts.v1.models import (
    DatasetRef,
    EstimateResult,
    GateResult,
    Headline,
    MethodFailure,
    RoleMapping,
    SensitivityPanel,
    Verdict,
)
from cqox_visualization.catalogue import TableView, View
from cqox_visualization.domain import (
    MISSING,
    Consensus,
    consensus,
    covers,
    failed_gates,
    flagged_methods,
    format_count,
    format_interval,
    format_level,
    format_number,
    format_p_value,
    headline,
    is_finite,
)
from cqox_visualization.i18n import Language, language
from cqox_visualization.quality_prose import (
    gate_message,
    robustness_sentence,
    sensitivity_notes,
    sensitivity_summary,
    verdict_reason,
    verdict_summary,
)

FOREST_FIGURE = "forest_plot"
LOVE_FIGURE = "love_plot"
EVENT_FIGURE = "event_study"
RD_FIGURE = "rd_plot"
SENSITIVITY_FIGURE = "sensitivity_contour"
GAMMA_FIGURE = "rosenbaum_curve"
_VERDICT_TONES = {"GO": "good", "CAUTION": "warn", "HOLD": "bad"}
_VERDICT_READINGS = {
    "GO": "Every testable check that applies to the headline passed.",
    "CAUTION": "A warning-level check casts doubt on the headline.",
    "HOLD": "An error-level check undermines the headline, or there is no estimate.",
}

_CATEGORY_TITLES = {
    "data": "Data gates (before estimation)",
    "causal": "Causal gates (after estimation)",
}
_MAX_DETAILS_SHOWN = 60
_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


@dataclass(frozen=True)
class ContrastRow:
    """One arm-versus-reference contrast of a multi-valued treatment, shown under its method."""

    label: str  # e.g. "B vs A"
    headline: bool  # the contrast the method's own row reports
    estimate: str
    std_error: str
    interval: str
    p_value: str  # raw, then Holm-adjusted across the method's contrasts when known
    n: str


@dataclass(frozen=True)
class EstimateRow:
    """One estimates-table row, formatted."""

    method: str
    estimand: str
    estimate: str
    std_error: str
    interval: str
    p_value: str
    n: str
    n_note: str
    inference: str
    flags: list[str]
    agrees: str
    warning: str = ""  # the method's own caveat (e.g. staggered adoption under TWFE)
    contrasts: list[ContrastRow] = field(default_factory=list)  # multi-valued treatment only


@dataclass(frozen=True)
class GateRow:
    """One gates-table row, formatted."""

    name: str
    passed: bool
    severity: str
    badge: str
    badge_class: str
    value: str
    threshold: str
    applies_to: str
    message: str
    details: list[tuple[str, str]]
    details_hidden: int


@dataclass(frozen=True)
class GateGroup:
    """Gates of one category with their pass count."""

    title: str
    rows: list[GateRow]
    n_passed: int


@dataclass(frozen=True)
class FigureView:
    """One figure ready for an <img>: caption, alt text and data URI."""

    key: str
    title: str
    alt: str
    caption: str
    data_uri: str


SECTION_TITLES = {
    "estimates": "Estimates across methods",
    "balance": "Balance and overlap",
    "design": "The design's own diagnostics",
    "heterogeneity": "Heterogeneous effects and targeting",
    "sensitivity": "Sensitivity to hidden confounding",
    "checks": "Refutations and quality gates",
}


@dataclass(frozen=True)
class CatalogueFigure:
    """One catalogue view ready for the page: a Plotly figure, a static image or a table."""

    number: int
    key: str
    kind: str
    method: str
    title: str
    caption: str
    plotly_json: str | None
    image_uri: str | None
    table: TableView | None
    formats: str
    size: str


@dataclass(frozen=True)
class CatalogueSection:
    """The catalogue views of one section, in reading order."""

    key: str
    title: str
    figures: list[CatalogueFigure]


def figure_json(figure: Mapping[str, Any]) -> str:
    """A Plotly figure as JSON safe inside a <script> element (no '<', '>' or '&'; NaN as null)."""

    def finite(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [finite(v) for v in value]
        return value

    text = json.dumps(finite(figure), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _catalogue_sections(
    views: Sequence[View], images: Mapping[str, bytes], *, interactive: bool, t: Language
) -> list[CatalogueSection]:
    sections: dict[str, list[CatalogueFigure]] = {}
    rank = {key: index for index, key in enumerate(SECTION_TITLES)}
    ordered = sorted(views, key=lambda v: rank.get(v.section, len(rank)))  # stable within a section
    for number, view in enumerate(ordered, start=1):
        png = images.get(view.key)
        width, height = view.size
        if view.table is not None:
            formats, size = t("table"), t("{rows} rows", rows=len(view.table.rows))
        else:
            formats = "Plotly + PNG" if png is not None else "Plotly"
            size = f"{width} × {height} px" + (f", {len(png) / 1024:.0f} KB" if png is not None else "")
        sections.setdefault(view.section, []).append(
            CatalogueFigure(
                number=number,
                key=view.key,
                kind=view.kind,
                method=view.method,
                title=view.title,
                caption=view.caption,
                plotly_json=figure_json(view.figure) if interactive and view.figure is not None else None,
                image_uri=_data_uri(png) if not interactive and png is not None else None,
                table=view.table,
                formats=formats,
                size=size,
            )
        )
    order = list(dict.fromkeys([*SECTION_TITLES, *sections]))
    return [
        CatalogueSection(key, t(SECTION_TITLES.get(key, key)), sections[key])
        for key in order
        if key in sections
    ]


@dataclass(frozen=True)
class SummaryCard:
    """One number in the summary strip under the headline."""

    label: str
    value: str
    tone: str = "neutral"


@dataclass(frozen=True)
class VerdictView:
    """GO / CAUTION / HOLD with its reasons, for the report's first screen."""

    level: str
    tone: str
    summary: str
    passed: list[str]
    failed: list[str]
    untestable: list[str]
    robustness: str


@dataclass(frozen=True)
class SensitivityRow:
    """One estimate's sensitivity panel, formatted."""

    method: str
    estimand: str
    estimate: str
    headline: bool
    measures: list[tuple[str, str]]  # (measure, value in words)
    summary: str
    notes: list[str]


@dataclass(frozen=True)
class ReportView:
    """Everything the template shows, already formatted."""

    analysis_id: str
    dataset: DatasetRef
    n_rows: str
    design: str
    headline: str
    roles: list[tuple[str, str]]
    cards: list[SummaryCard]
    estimates: list[EstimateRow]
    failures: list[MethodFailure]
    gate_groups: list[GateGroup]
    forest: FigureView | None
    love: FigureView | None
    other_figures: list[FigureView] = field(default_factory=list)
    verdict: VerdictView | None = None
    sensitivity: list[SensitivityRow] = field(default_factory=list)
    sensitivity_figures: list[FigureView] = field(default_factory=list)
    catalogue: list[CatalogueSection] = field(default_factory=list)
    interactive: bool = False
    lang: str = "en"
    json_href: str | None = None
    seed: int | None = None


def _role_rows(roles: RoleMapping, t: Language) -> list[tuple[str, str]]:
    single = [
        ("Treatment", roles.treatment),
        ("Outcome", roles.outcome),
        ("Unit", roles.unit),
        ("Time", roles.time),
        ("Instrument", roles.instrument),
        ("Running variable", roles.running_variable),
        ("Cluster", roles.cluster),
        ("Weight", roles.weight),
    ]
    rows = [(t(label), column) for label, column in single if column]
    if roles.covariates:
        rows.append((t("Covariates ({n})", n=len(roles.covariates)), ", ".join(roles.covariates)))
    if roles.excluded:
        rows.append((t("Excluded ({n})", n=len(roles.excluded)), ", ".join(roles.excluded)))
    return rows


def _n_note(estimate: EstimateResult, t: Language) -> str:
    parts = []
    if estimate.n_treated is not None and estimate.n_control is not None:
        treated, control = format_count(estimate.n_treated), format_count(estimate.n_control)
        parts.append(t("{treated} treated / {control} control", treated=treated, control=control))
    if estimate.n_dropped:
        dropped = t("{n} dropped", n=format_count(estimate.n_dropped))
        if estimate.dropped_reason and t.code == "en":  # the estimator's own words: English only
            dropped += f": {estimate.dropped_reason}"
        parts.append(dropped)
    return "; ".join(parts)


def _estimate_rows(
    estimates: Sequence[EstimateResult],
    flags: Mapping[str, list[str]],
    summary: Consensus | None,
    t: Language,
) -> list[EstimateRow]:
    rows = []
    for estimate in estimates:
        verdict = covers(estimate, summary.median) if summary is not None else None
        rows.append(
            EstimateRow(
                method=estimate.method,
                estimand=estimate.estimand,
                estimate=format_number(estimate.estimate),
                std_error=format_number(estimate.std_error),
                interval=format_interval(estimate),
                p_value=format_p_value(estimate.p_value),
                n=format_count(estimate.n),
                n_note=_n_note(estimate, t),
                inference=estimate.inference or MISSING,
                flags=list(flags.get(estimate.method, [])),
                warning=str(estimate.diagnostics.get("warning") or ""),
                agrees={True: t("yes"), False: t("no"), None: MISSING}[verdict],
                contrasts=_contrast_rows(estimate, t),
            )
        )
    return rows


def _contrast_rows(estimate: EstimateResult, t: Language) -> list[ContrastRow]:
    rows = []
    for index, contrast in enumerate(estimate.contrasts):
        interval = MISSING
        if is_finite(contrast.ci_lower) and is_finite(contrast.ci_upper):
            lower, upper = format_number(contrast.ci_lower), format_number(contrast.ci_upper)
            interval = f"[{lower}, {upper}] ({format_level(estimate.ci_level)})"
        p_value = format_p_value(contrast.p_value)
        if is_finite(contrast.p_value_adjusted):
            p_value = f"{p_value} (Holm {format_p_value(contrast.p_value_adjusted)})"
        rows.append(
            ContrastRow(
                label=t("{arm} vs {reference}", arm=contrast.arm, reference=contrast.reference),
                headline=index == 0,
                estimate=format_number(contrast.estimate),
                std_error=format_number(contrast.std_error),
                interval=interval,
                p_value=p_value,
                n=format_count(contrast.n_arm) if contrast.n_arm is not None else MISSING,
            )
        )
    return rows


def _badge(gate: GateResult, t: Language) -> tuple[str, str]:
    if gate.passed:
        return t("pass"), "badge-pass"
    return f"{t('fail')} · {t(gate.severity)}", f"badge-{gate.severity}"


def _gate_row(gate: GateResult, t: Language) -> GateRow:
    details = [
        (key, format_number(value) if isinstance(value, int | float) else str(value or MISSING))
        for key, value in gate.details.items()
    ]
    label, css_class = _badge(gate, t)
    return GateRow(
        name=gate.name,
        passed=gate.passed,
        severity=gate.severity,
        badge=label,
        badge_class=css_class,
        value=format_number(gate.value),
        threshold=format_number(gate.threshold),
        applies_to=", ".join(gate.applies_to) or t("whole analysis"),
        message=gate_message(gate, t),
        details=details[:_MAX_DETAILS_SHOWN],
        details_hidden=max(0, len(details) - _MAX_DETAILS_SHOWN),
    )


def _gate_groups(gates: Sequence[GateResult], t: Language) -> list[GateGroup]:
    groups = []
    categories = list(dict.fromkeys([*_CATEGORY_TITLES, *(g.category for g in gates)]))
    for category in categories:
        members = [g for g in gates if g.category == category]
        if not members:
            continue
        failed = failed_gates(members)
        ordered = failed + [g for g in members if g.passed]
        groups.append(
            GateGroup(
                title=t(_CATEGORY_TITLES.get(category, f"{category.title()} gates")),
                rows=[_gate_row(g, t) for g in ordered],
                n_passed=len(members) - len(failed),
            )
        )
    return groups


def _verdict_view(
    verdict: Verdict | None,
    t: Language,
    *,
    gates: Sequence[GateResult] = (),
    lead: Headline | None = None,
    sensitivity: Sequence[SensitivityPanel] = (),
    estimates: Sequence[EstimateResult] = (),
) -> VerdictView | None:
    if verdict is None:
        return None
    summary = verdict_summary(verdict, gates, lead, t)
    if t.code != "en":  # the catalogue's reading of the level comes first
        summary = t(
            "{reading} ({summary})", reading=t(_VERDICT_READINGS.get(verdict.level, "")), summary=summary
        )
    return VerdictView(
        level=verdict.level,
        tone=_VERDICT_TONES.get(verdict.level, "neutral"),
        summary=summary,
        passed=[verdict_reason(reason, gates, lead, t) for reason in verdict.passed],
        failed=[verdict_reason(reason, gates, lead, t) for reason in verdict.failed],
        untestable=[t(reason) for reason in verdict.untestable],
        robustness=robustness_sentence(verdict, sensitivity, estimates, t),
    )


def _sensitivity_row(panel: SensitivityPanel, estimate: EstimateResult | None, t: Language) -> SensitivityRow:
    number = format_number if t.code == "en" else t.number

    def fixed(value: float) -> str:
        return f"{value:.2f}" if t.code == "en" else t.number(value, 2)

    def share(value: float) -> str:
        return f"{value:.1%}" if t.code == "en" else t.percent(value)

    measures: list[tuple[str, str]] = []
    if panel.e_value is not None:
        ev = panel.e_value
        ci = t("; CI limit nearest the null: {ci}", ci=fixed(ev.ci)) if ev.ci is not None else ""
        # How the estimate became a risk ratio is the quality gate's formula in English words.
        scale = ev.conversion if t.code == "en" else t("risk ratio {rr}", rr=fixed(ev.risk_ratio))
        measures.append((t("E-value (VanderWeele & Ding)"), f"{fixed(ev.point)}{ci} — {scale}"))
    if panel.omitted_variable_bias is not None:
        ovb = panel.omitted_variable_bias
        measures.append((t("Partial R² of treatment with outcome"), share(ovb.partial_r2)))
        measures.append(
            (
                t("Robustness value (Cinelli & Hazlett)"),
                t(
                    "RV {rv}; RV at α = {alpha}: {rv_alpha} (OLS, {dof} df)",
                    rv=share(ovb.robustness_value),
                    alpha=f"{ovb.alpha:g}",
                    rv_alpha=share(ovb.robustness_value_alpha),
                    dof=ovb.dof,
                ),
            )
        )
        if ovb.regression:
            measures.append(
                (
                    t("Regression behind these figures"),
                    ovb.regression
                    if t.code == "en"
                    else t(
                        "OLS of the outcome on the treatment and the covariates: coefficient {coef}, "
                        "{dof} residual df",
                        coef=number(ovb.estimate),
                        dof=ovb.dof,
                    ),
                )
            )
        for bound in ovb.bounds:
            measures.append(
                (
                    t(
                        "Confounder {k}× as strong as {covariate}",
                        k=f"{bound.k:g}",
                        covariate=bound.covariate,
                    ),
                    t(
                        "R²(D) {r2d}, R²(Y) {r2y}: estimate {estimate}, CI [{low}, {high}]",
                        r2d=share(bound.r2dz_x),
                        r2y=share(bound.r2yz_dx),
                        estimate=number(bound.adjusted_estimate),
                        low=number(bound.adjusted_ci_lower),
                        high=number(bound.adjusted_ci_upper),
                    ),
                )
            )
    if panel.rosenbaum is not None:
        gamma = panel.rosenbaum.critical_gamma
        measures.append(
            (
                t("Rosenbaum Γ (signed-rank, matched pairs)"),
                (fixed(gamma) if gamma is not None else t("not significant at Γ = 1"))
                + t(
                    " ({n} pairs, α = {alpha})", n=panel.rosenbaum.n_pairs, alpha=f"{panel.rosenbaum.alpha:g}"
                ),
            )
        )
    if panel.oster is not None:
        oster = panel.oster
        measures.append(
            (
                t("Oster δ and β*"),
                t(
                    "δ = {delta}, β* = {beta_star} (R_max {r_max}; without covariates {short}, R² {r2_short}; "
                    "with {long}, R² {r2_long})",
                    delta=fixed(oster.delta) if oster.delta is not None else MISSING,
                    beta_star=number(oster.beta_star),
                    r_max=fixed(oster.r_max),
                    short=number(oster.beta_short),
                    r2_short=fixed(oster.r2_short),
                    long=number(oster.beta_long),
                    r2_long=fixed(oster.r2_long),
                ),
            )
        )
        if oster.regression:
            measures.append(
                (
                    t("Regressions behind δ and β*"),
                    oster.regression
                    if t.code == "en"
                    else t(
                        "OLS of the outcome on the treatment alone, and with the covariates "
                        "(coefficient {long})",
                        long=number(oster.beta_long),
                    ),
                )
            )
    if panel.estimate_robustness is not None:
        own = panel.estimate_robustness
        measures.append(
            (
                t("Robustness value of this estimate"),
                t(
                    "RV {rv}; RV at α = {alpha}: {rv_alpha}; partial R² {r2} (t = {t_stat}, {dof} df)",
                    rv=share(own.robustness_value),
                    alpha=f"{own.alpha:g}",
                    rv_alpha=share(own.robustness_value_alpha),
                    r2=share(own.partial_r2),
                    t_stat=fixed(own.t_statistic),
                    dof=f"{own.dof:.0f}",
                ),
            )
        )
    return SensitivityRow(
        method=panel.method,
        estimand=panel.estimand,
        estimate=number(panel.estimate),
        headline=panel.headline,
        measures=measures,
        summary=sensitivity_summary(panel, estimate, t),
        notes=sensitivity_notes(panel, estimate, t),
    )


def _data_uri(payload: bytes) -> str | None:
    for signature, media_type in _IMAGE_SIGNATURES:
        if payload.startswith(signature):
            return f"data:{media_type};base64,{base64.b64encode(payload).decode('ascii')}"
    return None


def _figure_key(name: str) -> str:
    stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return stem.lower().replace("-", "_").replace(" ", "_")


def _figure_view(
    name: str,
    payload: bytes,
    *,
    estimates: Sequence[EstimateResult],
    summary: Consensus | None,
) -> FigureView | None:
    data_uri = _data_uri(payload)
    if data_uri is None:
        return None
    key = _figure_key(name)
    if key in (FOREST_FIGURE, "forest"):
        spread = (
            f" Median {format_number(summary.median)}, range {format_number(summary.low)} "
            f"to {format_number(summary.high)}."
            if summary is not None
            else ""
        )
        return FigureView(
            key=FOREST_FIGURE,
            title="Estimates by method",
            alt=(
                f"Forest plot of {len(estimates)} method estimates with confidence intervals, "
                f"a line at zero and methods flagged by quality gates in orange.{spread}"
            ),
            caption=(
                "Dots are point estimates, whiskers confidence intervals. Orange diamonds mark "
                "methods a quality gate flags; the dashed line, when present, is the reference."
            ),
            data_uri=data_uri,
        )
    if key in (LOVE_FIGURE, "love", "balance"):
        return FigureView(
            key=LOVE_FIGURE,
            title="Covariate balance",
            alt=(
                "Love plot: standardized mean difference of each covariate before (hollow "
                "circles) and after (filled) adjustment, with dashed lines at plus and minus "
                "the balance threshold."
            ),
            caption=(
                "Hollow circles: imbalance before adjustment; filled: after. Points inside the "
                "dashed lines meet the balance threshold."
            ),
            data_uri=data_uri,
        )
    if key == EVENT_FIGURE:
        return FigureView(
            key=EVENT_FIGURE,
            title="Effect by time since adoption",
            alt=(
                "Event-study plot: the estimated effect in each period before and after units "
                "were first treated, with 95 % confidence intervals and a line at zero."
            ),
            caption=(
                "Each point is the effect that many periods from adoption: for cs_did the cohorts "
                "observed then against units not (yet) treated, for synthetic_control the treated "
                "unit minus its synthetic control (whiskers from the donors' placebo gaps); "
                "whiskers are 95 % intervals for each point "
                "alone, shaded boxes (when shown) a 95 % band that covers every point at once. Points "
                "before 0 are placebos and should sit on zero; a rising pattern after 0 means the "
                "effect grows with exposure, which biases two-way fixed effects."
            ),
            data_uri=data_uri,
        )
    if key == SENSITIVITY_FIGURE:
        return FigureView(
            key=SENSITIVITY_FIGURE,
            title="Sensitivity contours (Cinelli & Hazlett)",
            alt=(
                "Contour plot of the estimate after adjusting for a hidden confounder, by how much of "
                "the residual variance of the treatment (x) and of the outcome (y) it explains; "
                "diamonds mark confounders one, two and three times as strong as the strongest "
                "observed covariate."
            ),
            caption=(
                "Each line joins confounders that would leave the same estimate; the dashed line, when "
                "shown, is where it reaches zero. Diamonds: confounders k times as strong as the "
                "strongest observed covariate (its bound on the estimate in brackets)."
            ),
            data_uri=data_uri,
        )
    if key == GAMMA_FIGURE:
        return FigureView(
            key=GAMMA_FIGURE,
            title="Rosenbaum sensitivity curve",
            alt=(
                "Upper bound of the p-value of the signed-rank test on matched pairs against Γ, the "
                "factor by which a hidden confounder could multiply the odds of treatment."
            ),
            caption=(
                "Where the curve crosses the dashed α line, hidden bias of that size could explain "
                "the matched difference; the larger that Γ, the more robust the result."
            ),
            data_uri=data_uri,
        )
    if key == RD_FIGURE:
        return FigureView(
            key=RD_FIGURE,
            title="Regression discontinuity plot",
            alt=(
                "Regression discontinuity plot: mean outcome in bins of the running variable on "
                "each side of the cutoff (dashed line), with the local polynomial fit on each "
                "side; the gap between the fits at the cutoff is the jump."
            ),
            caption=_rd_caption(estimates),
            data_uri=data_uri,
        )
    title = key.replace("_", " ").capitalize()
    return FigureView(key=key, title=title, alt=f"Figure: {title}", caption="", data_uri=data_uri)


def _rd_caption(estimates: Sequence[EstimateResult]) -> str:
    """What the RD plot shows, worded for the design of the estimate it was drawn from."""
    plotted = (
        e.diagnostics
        for e in estimates
        if {"rd_plot_fit_left_0_y", "rd_plot_fit_right_0_y"} <= set(e.diagnostics)
    )
    diagnostics: Mapping[str, float | str | None] = next(plotted, {})
    fit = "local quadratic" if diagnostics.get("polynomial_order") == 2.0 else "local linear"
    caption = (
        "Dots are mean outcomes in equal-width bins of the running variable (larger dots: more "
        f"rows), the lines are {fit} fits within the bandwidth on each side, and the jump between "
        "them at the dashed cutoff is the estimated effect"
    )
    if diagnostics.get("rd_design") == "fuzzy":
        caption += " once divided by the jump in the share treated (fuzzy design)"
    elif diagnostics.get("treated_side") == "below the cutoff":
        caption += " with its sign turned (treated below the cutoff)"
    if diagnostics.get("covariate_adjustment") == "yes":
        caption += (
            "; the estimate adjusts for covariates, so it can differ slightly from this unadjusted jump"
        )
    return caption + "."


def _cards(
    summary: Consensus | None,
    estimates: Sequence[EstimateResult],
    failures: Sequence[MethodFailure],
    gates: Sequence[GateResult],
    lead: Headline | None = None,
    t: Language | None = None,
) -> list[SummaryCard]:
    t = t or language(None)
    number = format_number if t.code == "en" else t.number
    cards = []
    if lead is not None:
        cards.append(SummaryCard(f"{lead.estimand} ({lead.method})", number(lead.estimate), "accent"))
    if summary is not None:
        if lead is None:
            label = t("Median {estimand}", estimand=summary.estimand_label)
            cards.append(SummaryCard(label, number(summary.median), "accent"))
        if summary.n_methods > 1:
            spread = t("{low} to {high}", low=number(summary.low), high=number(summary.high))
            label = (
                t("Range across {estimand} methods", estimand=lead.estimand)
                if lead is not None
                else t("Range across methods")
            )
            cards.append(SummaryCard(label, spread))
        if summary.n_with_ci:
            agree = f"{summary.n_agree} / {summary.n_with_ci}"
            tone = "good" if summary.n_agree == summary.n_with_ci else "warn"
            cards.append(SummaryCard(t("Methods agreeing"), agree, tone))
    produced = f"{len(estimates)} / {len(estimates) + len(failures)}"
    tone = "bad" if not estimates else "warn" if failures else "good"
    cards.append(SummaryCard(t("Methods with an estimate"), produced, tone))
    if gates:
        failed = failed_gates(gates)
        tone = "good"
        if failed:
            tone = "bad" if any(g.severity == "error" for g in failed) else "warn"
        cards.append(SummaryCard(t("Gates passed"), f"{len(gates) - len(failed)} / {len(gates)}", tone))
    return cards


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("cqox_visualization", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@cache
def plotly_js() -> str:
    """The plotly.js bundle shipped inside the plotly package (inlined once per report)."""
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def _localised_headline(
    estimates: Sequence[EstimateResult], gates: Sequence[GateResult], lead: Headline | None, t: Language
) -> str:
    """The headline sentence; in a translated report, built from the catalogue's phrases."""
    if t.code == "en":
        return headline(estimates, gates, lead)
    failed = len(failed_gates(gates))
    gate_text = t("{passed} of {n} quality gates passed", passed=len(gates) - failed, n=len(gates))
    if lead is None:
        summary = consensus(estimates)
        if summary is None:
            return t("No method produced an estimate; {gates}.", gates=gate_text)
        return t(
            "Median {estimand} across {n} methods: {median} (range {low} to {high}); {gates}.",
            estimand=summary.estimand_label,
            n=summary.n_methods,
            median=t.number(summary.median),
            low=t.number(summary.low),
            high=t.number(summary.high),
            gates=gate_text,
        )
    interval = ""
    if is_finite(lead.ci_lower) and is_finite(lead.ci_upper):
        interval = t(
            ", {level} CI {low} to {high}",
            level=t.percent(lead.ci_level, 0),
            low=t.number(lead.ci_lower),
            high=t.number(lead.ci_upper),
        )
    return t(
        "{estimand} = {estimate} ({method}{interval}; {agree} of {group} methods of this estimand agree); {gates}.",
        estimand=lead.estimand,
        estimate=t.number(lead.estimate),
        method=lead.method,
        interval=interval,
        agree=lead.n_agreeing,
        group=max(len(lead.methods), 1),
        gates=gate_text,
    )


def build_report_view(
    *,
    analysis_id: str,
    dataset: DatasetRef,
    roles: RoleMapping,
    design: str,
    estimates: list[EstimateResult],
    failures: list[MethodFailure],
    gates: list[GateResult],
    figures: dict[str, bytes],
    lead: Headline | None = None,
    sensitivity: Sequence[SensitivityPanel] = (),
    verdict: Verdict | None = None,
    seed: int | None = None,
    views: Sequence[View] = (),
    images: Mapping[str, bytes] | None = None,
    interactive: bool = False,
    lang: Language | None = None,
    json_href: str | None = None,
) -> ReportView:
    """Format everything the report shows (no HTML yet); `lead` is the quality gate's headline.

    `views` are the catalogue's figures, drawn by Plotly when `interactive`, else from their
    static PNGs in `images` (by view key); `figures` are extra ready-made images by name.
    """
    t = lang or language(None)
    summary = consensus(estimates, lead.estimand if lead is not None else None)
    flags = flagged_methods(gates)
    legacy = [
        view
        for name, payload in figures.items()
        if (view := _figure_view(name, payload, estimates=estimates, summary=summary)) is not None
    ]
    forest = next((v for v in legacy if v.key == FOREST_FIGURE), None)
    love = next((v for v in legacy if v.key == LOVE_FIGURE), None)
    panel_figures = [v for v in legacy if v.key in (SENSITIVITY_FIGURE, GAMMA_FIGURE)]
    return ReportView(
        analysis_id=analysis_id,
        dataset=dataset,
        n_rows=t.number(dataset.n_rows, 0) if t.code != "en" else format_count(dataset.n_rows),
        design=design,
        headline=_localised_headline(estimates, gates, lead, t),
        roles=_role_rows(roles, t),
        cards=_cards(summary, estimates, failures, gates, lead, t),
        estimates=_estimate_rows(estimates, flags, summary, t),
        failures=list(failures),
        gate_groups=_gate_groups(gates, t),
        forest=forest,
        love=love,
        other_figures=[v for v in legacy if v is not forest and v is not love and v not in panel_figures],
        verdict=_verdict_view(
            verdict, t, gates=gates, lead=lead, sensitivity=sensitivity, estimates=estimates
        ),
        sensitivity=[
            _sensitivity_row(panel, next((e for e in estimates if e.method == panel.method), None), t)
            for panel in sensitivity
        ],
        sensitivity_figures=panel_figures,
        catalogue=_catalogue_sections(views, images or {}, interactive=interactive, t=t),
        interactive=interactive and bool(views),
        lang=t.code,
        json_href=json_href,
        seed=seed,
    )


def render_report_html(
    *,
    analysis_id: str,
    dataset: DatasetRef,
    roles: RoleMapping,
    design: str,
    estimates: list[EstimateResult],
    failures: list[MethodFailure],
    gates: list[GateResult],
    figures: dict[str, bytes] | None = None,
    lead: Headline | None = None,
    sensitivity: Sequence[SensitivityPanel] = (),
    verdict: Verdict | None = None,
    seed: int | None = None,
    views: Sequence[View] = (),
    images: Mapping[str, bytes] | None = None,
    interactive: bool = False,
    lang: Language | None = None,
    json_href: str | None = None,
) -> str:
    """Self-contained HTML report of one analysis: headline, roles, estimates, gates, figures.

    `views` (the figure catalogue) are drawn with Plotly, bundled once into the page, when
    `interactive`; otherwise as their static PNGs (`images`, by view key), as the PDF needs.
    `figures` maps a name to extra PNG (or JPEG) bytes; `forest_plot` and `love_plot` are placed
    next to the estimates and the gates, any other at the end. Non-image bytes are skipped.
    """
    t = lang or language(None)
    view = build_report_view(
        analysis_id=analysis_id,
        dataset=dataset,
        roles=roles,
        design=design,
        estimates=estimates,
        failures=failures,
        gates=gates,
        figures=figures or {},
        lead=lead,
        sensitivity=sensitivity,
        verdict=verdict,
        seed=seed,
        views=views,
        images=images,
        interactive=interactive,
        lang=t,
        json_href=json_href,
    )
    template = _environment().get_template("report.html.j2")
    return template.render(
        report=view,
        missing=MISSING,
        _=t.gettext,
        plotly_js=plotly_js() if view.interactive else "",
    )
