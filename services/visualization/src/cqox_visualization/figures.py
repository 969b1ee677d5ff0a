"""Static figures of an analysis as PNG bytes: forest, love (balance), event-study, RD and
sensitivity (Cinelli-Hazlett contour, Rosenbaum Γ curve) plots.

Matplotlib's object API on an Agg canvas (no pyplot, no global figure registry), fixed sizes
per row count and PNG metadata without the library version, so the same input gives the same
bytes.
"""

from __future__ import annotations

import importlib
import io
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from functools import cache

import matplotlib
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from cqox_contracts.v1.models import (
    EstimateResult,
    GateResult,
    OmittedVariableBias,
    RoleMapping,
    SensitivityPanel,
)
from cqox_visualization.domain import format_level, format_number, is_finite

BALANCE_GATE = "balance_smd"
SMD_BEFORE_PREFIX = "smd_before:"
SMD_AFTER_PREFIX = "smd_after:"

DPI = 120
MAX_LOVE_COVARIATES = 40

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
ESTIMATE_COLOUR = "#0072B2"
FLAG_COLOUR = "#D55E00"
REFERENCE_COLOUR = "#009E73"
NEUTRAL_COLOUR = "#595959"
BEFORE_COLOUR = "#8C8C8C"

# Figure heights are whole pixels at DPI: fixed margins plus a fixed height per row.
_FOREST_WIDTH_PX = 1080
_LOVE_WIDTH_PX = 960
_FRAME_PX = 228
_FOREST_ROW_PX = 51
_LOVE_ROW_PX = 36
_LEFT_IN = 2.5
_RIGHT_IN = 2.2
_TOP_IN = 0.55
_BOTTOM_IN = 1.15
_LEGEND_GAP_IN = 0.55
_LABEL_CHARS = 30

# Fonts with Japanese glyphs that matplotlib falls back to when one is installed (matplotlib
# picks per glyph from this list, so Latin text keeps DejaVu Sans).
_CJK_FAMILIES = (
    "IPAexGothic",
    "IPAGothic",
    "Noto Sans CJK JP",
    "Noto Sans JP",
    "Source Han Sans JP",
    "TakaoGothic",
    "Hiragino Sans",
    "Yu Gothic",
    "Meiryo",
)


@cache
def _font_families() -> tuple[str, ...]:
    # matplotlib-fontja, when installed, registers IPAexGothic on import.
    with suppress(ImportError):
        importlib.import_module("matplotlib_fontja")
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    return ("DejaVu Sans", *(family for family in _CJK_FAMILIES if family in installed))


def plain(text: str) -> str:
    """`text` shown literally by matplotlib: a `$` in a column name must not start math text."""
    return text.replace("$", r"\$")


@contextmanager
def figure_style() -> Iterator[None]:
    """Fonts (with a Japanese fallback) and sizes of every static figure."""
    with (
        matplotlib.rc_context(
            {
                "font.family": list(_font_families()),
                "font.size": 9,
                "axes.titlesize": 11,
                "axes.labelsize": 9,
                "xtick.labelsize": 8,
                "ytick.labelsize": 9,
                "axes.unicode_minus": True,
            }
        ),
        warnings.catch_warnings(),
    ):
        # Without a CJK font installed, such glyphs become boxes; the figure is still useful.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        yield


def forest_plot_size(n_methods: int) -> tuple[int, int]:
    """Width and height in pixels of the forest plot of `n_methods` rows."""
    return _FOREST_WIDTH_PX, _FRAME_PX + _FOREST_ROW_PX * max(n_methods, 1)


def love_plot_size(n_covariates: int) -> tuple[int, int]:
    """Width and height in pixels of the love plot of `n_covariates` rows (at most 40 drawn)."""
    rows = min(max(n_covariates, 1), MAX_LOVE_COVARIATES)
    return _LOVE_WIDTH_PX, _FRAME_PX + _LOVE_ROW_PX * rows


def _new_figure(
    size_px: tuple[int, int], *, right_in: float = _RIGHT_IN, left_in: float = _LEFT_IN
) -> tuple[Figure, Axes]:
    # Agg truncates the size in pixels; a quarter pixel keeps float error from losing one.
    width_in, height_in = ((px + 0.25) / DPI for px in size_px)
    figure = Figure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_axes(
        (
            left_in / width_in,
            _BOTTOM_IN / height_in,
            (width_in - left_in - right_in) / width_in,
            (height_in - _TOP_IN - _BOTTOM_IN) / height_in,
        )
    )
    return figure, axes


def _png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _truncate(text: str, limit: int = _LABEL_CHARS) -> str:
    """A label for matplotlib: shortened to `limit` characters, `$` escaped (see `plain`)."""
    return plain(text if len(text) <= limit else text[: limit - 1] + "…")


def _limits(values: Sequence[float], *, include_zero_if_near: bool) -> tuple[float, float]:
    """X limits around the values, padded; zero joins them when it is not far away."""
    if not values:
        return -1.0, 1.0
    low, high = min(values), max(values)
    span = high - low or max(abs(low), 1.0) * 0.5
    if include_zero_if_near and low - span <= 0 <= high + span:
        low, high = min(low, 0.0), max(high, 0.0)
        span = high - low or span
    if high == low:
        return low - span, high + span
    pad = 0.08 * span
    return low - pad, high + pad


def _style_axes(axes: Axes) -> None:
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    axes.tick_params(axis="y", length=0)
    axes.grid(axis="x", color="#DDDDDD", linewidth=0.8)
    axes.set_axisbelow(True)


def _legend(figure: Figure, axes: Axes, handles: list[Line2D]) -> None:
    # Anchored in inches just under the x label, centred on the axes, whatever the row count.
    box = axes.get_position()
    centre_in = (box.x0 + box.x1) / 2 * figure.get_figwidth()
    figure.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(centre_in, _BOTTOM_IN - _LEGEND_GAP_IN),
        bbox_transform=figure.dpi_scale_trans,
        ncol=min(len(handles), 2),
        frameon=False,
        fontsize=8,
    )


def _empty_figure(message: str) -> bytes:
    figure, axes = _new_figure(forest_plot_size(1))
    axes.set_axis_off()
    axes.text(0.5, 0.5, message, ha="center", va="center", color=NEUTRAL_COLOUR, fontsize=10)
    return _png_bytes(figure)


def forest_plot_png(
    estimates: list[EstimateResult],
    *,
    reference: float | None = None,
    flagged: dict[str, list[str]] | None = None,
    reference_label: str = "reference",
) -> bytes:
    """Forest plot PNG: one row per method with its estimate and CI, zero and reference lines.

    `flagged` maps a method to the gates that flag it; those rows are drawn in a warning colour
    with a diamond marker and the gate names. Size: `forest_plot_size(len(estimates))` pixels
    (1080 wide, 228 + 51 per method high, at 120 dpi). An empty list gives a one-row figure
    saying there is nothing to plot.
    """
    flags = flagged or {}
    with figure_style():
        if not estimates:
            return _empty_figure("No estimates to plot")
        n_rows = len(estimates)
        figure, axes = _new_figure(forest_plot_size(n_rows))
        _style_axes(axes)
        text_transform = blended_transform_factory(axes.transAxes, axes.transData)

        span_values: list[float] = []
        labels: list[str] = []
        for row, estimate in enumerate(estimates):
            y = n_rows - 1 - row
            is_flagged = estimate.method in flags
            colour = FLAG_COLOUR if is_flagged else ESTIMATE_COLOUR
            suffix = f" ({_truncate(estimate.estimand, 8)})"
            labels.append(_truncate(estimate.method, _LABEL_CHARS - len(suffix)) + suffix)
            has_ci = is_finite(estimate.ci_lower) and is_finite(estimate.ci_upper)
            if has_ci:
                assert estimate.ci_lower is not None and estimate.ci_upper is not None
                bounds = [estimate.ci_lower, estimate.ci_upper]
                axes.plot(bounds, [y, y], color=colour, linewidth=1.8, zorder=2)
                axes.plot(bounds, [y, y], linestyle="none", marker="|", markersize=9, color=colour)
                span_values.extend(bounds)
            if is_finite(estimate.estimate):
                axes.plot(
                    [estimate.estimate],
                    [y],
                    marker="D" if is_flagged else "o",
                    markersize=7,
                    color=colour,
                    markeredgecolor="white",
                    markeredgewidth=0.6,
                    linestyle="none",
                    zorder=3,
                )
                span_values.append(estimate.estimate)
                interval = (
                    f"[{format_number(estimate.ci_lower)}, {format_number(estimate.ci_upper)}]"
                    if has_ci
                    else "(no CI)"
                )
                value_text = f"{format_number(estimate.estimate)} {interval}"
            else:
                value_text = "estimate not finite"
            if is_flagged:
                axes.text(1.02, y + 0.03, value_text, transform=text_transform, va="bottom")
                gate_text = _truncate("flagged: " + ", ".join(flags[estimate.method]), 34)
                axes.text(
                    1.02,
                    y - 0.03,
                    gate_text,
                    transform=text_transform,
                    va="top",
                    fontsize=7,
                    color=FLAG_COLOUR,
                )
            else:
                axes.text(1.02, y, value_text, transform=text_transform, va="center")

        has_reference = reference is not None and is_finite(reference)
        if has_reference:
            assert reference is not None
            span_values.append(reference)
        low, high = _limits(span_values, include_zero_if_near=True)
        axes.set_xlim(low, high)
        axes.set_ylim(-0.6, n_rows - 0.4)
        axes.set_yticks(range(n_rows - 1, -1, -1), labels)
        for tick_label, estimate in zip(axes.get_yticklabels(), estimates, strict=True):
            if estimate.method in flags:
                tick_label.set_color(FLAG_COLOUR)

        levels = {e.ci_level for e in estimates}
        ci_text = f"{format_level(levels.pop())} CI" if len(levels) == 1 else "CI"
        handles = [Line2D([], [], color=ESTIMATE_COLOUR, marker="o", label=f"estimate with {ci_text}")]
        if any(e.method in flags for e in estimates):
            handles.append(Line2D([], [], color=FLAG_COLOUR, marker="D", label="flagged by a quality gate"))
        if low <= 0 <= high:
            axes.axvline(0, color=NEUTRAL_COLOUR, linewidth=1.0, zorder=1)
            handles.append(Line2D([], [], color=NEUTRAL_COLOUR, label="no effect (0)"))
        if has_reference:
            assert reference is not None
            axes.axvline(reference, color=REFERENCE_COLOUR, linestyle="--", linewidth=1.5)
            handles.append(
                Line2D(
                    [],
                    [],
                    color=REFERENCE_COLOUR,
                    linestyle="--",
                    label=f"{reference_label} = {format_number(reference)}",
                )
            )
        estimands = list(dict.fromkeys(e.estimand for e in estimates))
        axes.set_xlabel(f"Estimated effect ({estimands[0]})" if len(estimands) == 1 else "Estimated effect")
        axes.set_title("Estimated effect by method", loc="left", pad=10)
        _legend(figure, axes, handles)
        return _png_bytes(figure)


def _smd_values(details: Mapping[str, float | str | None], prefix: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for key, value in details.items():
        if not key.startswith(prefix) or isinstance(value, bool):
            continue
        if isinstance(value, int | float) and math.isfinite(value):
            values[key[len(prefix) :]] = float(value)
    return values


def love_plot_png(gates: list[GateResult]) -> bytes | None:
    """Love plot PNG from the `balance_smd` gate: SMD per covariate before and after adjustment.

    Covariates are sorted by |SMD before| (largest on top, at most 40 shown), with dashed lines
    at ±gate.threshold. None when there is no such gate or it carries no covariate SMDs.
    """
    gate = next((g for g in gates if g.name == BALANCE_GATE), None)
    if gate is None:
        return None
    before = _smd_values(gate.details, SMD_BEFORE_PREFIX)
    after = _smd_values(gate.details, SMD_AFTER_PREFIX)
    covariates = sorted(
        set(before) | set(after),
        key=lambda c: (-abs(before.get(c, after.get(c, 0.0))), c),
    )
    if not covariates:
        return None
    shown = covariates[:MAX_LOVE_COVARIATES]
    threshold = abs(gate.threshold) if gate.threshold is not None and math.isfinite(gate.threshold) else None

    with figure_style():
        n_rows = len(shown)
        figure, axes = _new_figure(love_plot_size(n_rows), right_in=0.4)
        _style_axes(axes)
        span_values: list[float] = []
        any_beyond = False
        for row, covariate in enumerate(shown):
            y = n_rows - 1 - row
            smd_before, smd_after = before.get(covariate), after.get(covariate)
            if smd_before is not None and smd_after is not None:
                axes.plot([smd_before, smd_after], [y, y], color="#BBBBBB", linewidth=1, zorder=1)
            if smd_before is not None:
                axes.plot(
                    [smd_before],
                    [y],
                    marker="o",
                    markersize=7,
                    markerfacecolor="white",
                    markeredgecolor=BEFORE_COLOUR,
                    markeredgewidth=1.4,
                    linestyle="none",
                    zorder=2,
                )
                span_values.append(smd_before)
            if smd_after is not None:
                beyond = threshold is not None and abs(smd_after) > threshold
                any_beyond = any_beyond or beyond
                axes.plot(
                    [smd_after],
                    [y],
                    marker="s" if beyond else "o",
                    markersize=6,
                    color=FLAG_COLOUR if beyond else ESTIMATE_COLOUR,
                    linestyle="none",
                    zorder=3,
                )
                span_values.append(smd_after)

        handles = [
            Line2D(
                [],
                [],
                marker="o",
                linestyle="none",
                markerfacecolor="white",
                markeredgecolor=BEFORE_COLOUR,
                label="before adjustment",
            ),
            Line2D(
                [],
                [],
                marker="o",
                linestyle="none",
                color=ESTIMATE_COLOUR,
                label="after adjustment",
            ),
        ]
        if any_beyond:
            handles.append(
                Line2D(
                    [],
                    [],
                    marker="s",
                    linestyle="none",
                    color=FLAG_COLOUR,
                    label="after, beyond threshold",
                )
            )
        if threshold is not None:
            span_values.extend([-threshold, threshold])
            for x in (-threshold, threshold):
                axes.axvline(x, color=FLAG_COLOUR, linestyle="--", linewidth=1.0)
            handles.append(
                Line2D(
                    [],
                    [],
                    color=FLAG_COLOUR,
                    linestyle="--",
                    label=f"threshold ±{format_number(threshold)}",
                )
            )
        low, high = _limits(span_values, include_zero_if_near=True)
        axes.set_xlim(low, high)
        if low <= 0 <= high:
            axes.axvline(0, color=NEUTRAL_COLOUR, linewidth=1.0, zorder=0)
        axes.set_ylim(-0.6, n_rows - 0.4)
        axes.set_yticks(range(n_rows - 1, -1, -1), [_truncate(c) for c in shown])
        axes.set_xlabel("Standardized mean difference")
        title = "Covariate balance before and after adjustment"
        if len(covariates) > len(shown):
            title += f" (top {len(shown)} of {len(covariates)})"
        axes.set_title(title, loc="left", pad=10)
        _legend(figure, axes, handles)
        return _png_bytes(figure)


EVENT_ESTIMATE_PREFIX, EVENT_SE_PREFIX = "att_event_", "se_event_"
_EVENT_HEIGHT_PX = 420


def event_study_png(estimates: Sequence[EstimateResult]) -> bytes | None:
    """Effect by periods since adoption with 95 % intervals, from the first estimate reporting it.

    Panel methods such as cs_did put `att_event_<e>` and `se_event_<e>` in their diagnostics;
    None when no estimate does. When the method also reports a simultaneous band
    (`att_event_<e>_band_lower/upper`, covering every event-time effect at once), it is shaded
    behind the pointwise intervals.
    """
    for estimate in estimates:
        points = _event_points(estimate.diagnostics)
        if points:
            break
    else:
        return None
    with figure_style():
        width_in, height_in = ((px + 0.25) / DPI for px in (_FOREST_WIDTH_PX, _EVENT_HEIGHT_PX))
        figure = Figure(figsize=(width_in, height_in), dpi=DPI)
        FigureCanvasAgg(figure)
        axes = figure.add_axes((0.08, 0.16, 0.88, 0.72))  # no row labels or legend to make room for
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        axes.grid(axis="y", color="#DDDDDD", linewidth=0.8)
        axes.set_axisbelow(True)
        times = [e for e, _, _ in points]
        values = [v for _, v, _ in points]
        half = [1.96 * se for _, _, se in points]
        band = _event_band(estimate.diagnostics, times)
        if band is not None:
            lower, upper = band
            heights = [high - low for low, high in zip(lower, upper, strict=True)]
            # One box per event time (no interpolation across the adoption line).
            axes.bar(times, heights, bottom=lower, width=0.5, color=ESTIMATE_COLOUR, alpha=0.15, zorder=0)
            axes.use_sticky_edges = False  # keep the usual margin below the lowest box
        axes.errorbar(
            times, values, yerr=half, fmt="o", color=ESTIMATE_COLOUR, ecolor=ESTIMATE_COLOUR, capsize=4
        )
        axes.axhline(0, color=NEUTRAL_COLOUR, linewidth=1.0, zorder=0)
        if times[0] < 0:  # placebos before adoption: mark where treatment starts
            axes.axvline(-0.5, color=NEUTRAL_COLOUR, linestyle="--", linewidth=1.0, zorder=0)
        axes.set_xticks(times, [str(e) for e in times])
        axes.set_xlabel("Periods since adoption (before 0: placebos, or the pre-adoption fit)")
        axes.set_ylabel("Effect")
        title = f"Effect by time since adoption ({estimate.method})"
        if band is not None:
            title += ": whiskers 95 % pointwise, boxes 95 % simultaneous band"
        axes.set_title(title, loc="left", pad=10)
        return _png_bytes(figure)


def _event_band(
    diagnostics: Mapping[str, float | str | None], times: list[int]
) -> tuple[list[float], list[float]] | None:
    """The simultaneous band at every plotted event time, or None unless all of it is reported."""
    lower, upper = [], []
    for e in times:
        low = diagnostics.get(f"{EVENT_ESTIMATE_PREFIX}{e}_band_lower")
        high = diagnostics.get(f"{EVENT_ESTIMATE_PREFIX}{e}_band_upper")
        if not (isinstance(low, int | float) and isinstance(high, int | float)):
            return None
        if not (is_finite(low) and is_finite(high)):
            return None
        lower.append(float(low))
        upper.append(float(high))
    return lower, upper


def _event_points(diagnostics: Mapping[str, float | str | None]) -> list[tuple[int, float, float]]:
    points = []
    for key, value in diagnostics.items():
        if not key.startswith(EVENT_ESTIMATE_PREFIX):
            continue
        suffix = key[len(EVENT_ESTIMATE_PREFIX) :]
        se = diagnostics.get(EVENT_SE_PREFIX + suffix)
        numbers = isinstance(value, int | float) and isinstance(se, int | float)
        if suffix.lstrip("-").isdigit() and numbers and is_finite(value) and is_finite(se):  # type: ignore[arg-type]
            points.append((int(suffix), float(value), float(se)))  # type: ignore[arg-type]
    return sorted(points)


RD_PLOT_PREFIX = "rd_plot_"
RD_BINS = 30  # rd_plot_bin_0 .. rd_plot_bin_29: 15 per side
RD_MAX_FIT_POINTS = 50  # rd_plot_fit_<side>_<j>, j = 0 at the cutoff
RD_PLOT_SIZE_PX = (_FOREST_WIDTH_PX, 600)


def rd_plot_size() -> tuple[int, int]:
    """Width and height in pixels of the regression discontinuity plot."""
    return RD_PLOT_SIZE_PX


def _number(value: float | str | None) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _rd_bins(diagnostics: Mapping[str, float | str | None]) -> list[tuple[float, float, float]]:
    bins = []
    for k in range(RD_BINS):
        x, y = _number(diagnostics.get(f"rd_plot_bin_{k}_x")), _number(diagnostics.get(f"rd_plot_bin_{k}_y"))
        n = _number(diagnostics.get(f"rd_plot_bin_{k}_n"))
        if x is not None and y is not None:
            bins.append((x, y, n if n is not None and n > 0 else 1.0))
    return bins


def _rd_fit(diagnostics: Mapping[str, float | str | None], side: str) -> list[tuple[float, float]]:
    points = []
    for j in range(RD_MAX_FIT_POINTS):
        x = _number(diagnostics.get(f"rd_plot_fit_{side}_{j}_x"))
        y = _number(diagnostics.get(f"rd_plot_fit_{side}_{j}_y"))
        if x is None or y is None:
            break
        points.append((x, y))
    return sorted(points)


def _rd_title(estimate: EstimateResult) -> str:
    title = f"Jump at the cutoff ({estimate.method}): {estimate.estimand} {format_number(estimate.estimate)}"
    if is_finite(estimate.ci_lower) and is_finite(estimate.ci_upper):
        interval = f"[{format_number(estimate.ci_lower)}, {format_number(estimate.ci_upper)}]"
        title += f", {format_level(estimate.ci_level)} robust CI {interval}"
    return title


def rd_plot_png(estimates: Sequence[EstimateResult], *, roles: RoleMapping | None = None) -> bytes | None:
    """Regression discontinuity plot from the first estimate reporting RD plot data.

    rd_robust puts binned outcome means (`rd_plot_bin_<k>_x/y/n`) and its local polynomial
    fits on each side (`rd_plot_fit_<left|right>_<j>_x/y`, j = 0 at the cutoff) in its
    diagnostics; drawn as dots sized by the bin's rows, two fit lines and a dashed line at the
    `cutoff`. Axis labels are the mapped running variable and outcome when `roles` are given.
    None when no estimate carries both fit lines. Size: `rd_plot_size()` pixels.
    """
    for estimate in estimates:
        left, right = _rd_fit(estimate.diagnostics, "left"), _rd_fit(estimate.diagnostics, "right")
        if left and right:
            break
    else:
        return None
    diagnostics = estimate.diagnostics
    bins = _rd_bins(diagnostics)
    cutoff = _number(diagnostics.get("cutoff"))
    order = _number(diagnostics.get("polynomial_order"))
    fit_name = {1: "local linear fit", 2: "local quadratic fit"}.get(int(order or 0), "local polynomial fit")
    with figure_style():
        figure, axes = _new_figure(rd_plot_size(), right_in=0.4, left_in=1.0)
        _style_axes(axes)
        axes.spines["left"].set_visible(True)
        axes.tick_params(axis="y", length=3.5)
        axes.grid(axis="y", color="#DDDDDD", linewidth=0.8)
        handles = []
        if bins:
            largest = max(n for _, _, n in bins)
            axes.scatter(
                [x for x, _, _ in bins],
                [y for _, y, _ in bins],
                s=[14 + 46 * n / largest for _, _, n in bins],
                color=BEFORE_COLOUR,
                edgecolors="white",
                linewidths=0.5,
                zorder=2,
            )
            handles.append(
                Line2D(
                    [],
                    [],
                    marker="o",
                    linestyle="none",
                    color=BEFORE_COLOUR,
                    label="binned means (size: rows)",
                )
            )
        for points in (left, right):
            axes.plot(
                [x for x, _ in points], [y for _, y in points], color=ESTIMATE_COLOUR, linewidth=2.2, zorder=3
            )
        handles.append(
            Line2D([], [], color=ESTIMATE_COLOUR, linewidth=2.2, label=f"{fit_name} within the bandwidth")
        )
        if cutoff is not None:
            axes.axvline(cutoff, color=NEUTRAL_COLOUR, linestyle="--", linewidth=1.0, zorder=1)
            handles.append(
                Line2D(
                    [], [], color=NEUTRAL_COLOUR, linestyle="--", label=f"cutoff = {format_number(cutoff)}"
                )
            )
            # The jump: both fits at the cutoff, joined by a short bracket.
            at_left, at_right = left[-1][1], right[0][1]
            axes.plot([cutoff, cutoff], [at_left, at_right], color=FLAG_COLOUR, linewidth=2.0, zorder=4)
            handles.append(Line2D([], [], color=FLAG_COLOUR, linewidth=2.0, label="jump at the cutoff"))
        running = (
            roles.running_variable if roles is not None and roles.running_variable else "running variable"
        )
        outcome = roles.outcome if roles is not None and roles.outcome else "outcome"
        axes.set_xlabel(_truncate(running, 60))
        axes.set_ylabel(_truncate(outcome, 40))
        if diagnostics.get("rd_design") == "fuzzy":
            note = "Fuzzy design: the estimate is this outcome jump divided by the jump in treatment."
        elif diagnostics.get("treated_side") == "below the cutoff":
            note = "Treated below the cutoff: the estimate is the jump with its sign turned."
        else:
            note = ""
        if diagnostics.get("covariate_adjustment") == "yes":
            note += (" " if note else "") + "The estimate adjusts for covariates; the fits do not."
        if note:  # between the title and the axes
            axes.text(
                0.0, 1.015, note, transform=axes.transAxes, va="bottom", fontsize=8, color=NEUTRAL_COLOUR
            )
        axes.set_title(_rd_title(estimate), loc="left", pad=22 if note else 10)
        _legend(figure, axes, handles)
        return _png_bytes(figure)


SENSITIVITY_SIZE_PX = (840, 720)
GAMMA_SIZE_PX = (_FOREST_WIDTH_PX, 420)


def _adjusted_estimate(ovb: OmittedVariableBias, r2dz: float, r2yz: float) -> float:
    """The estimate after removing the bias of a confounder with these partial R²s (Cinelli &
    Hazlett 2020, eq. 10: |bias| = se sqrt(dof R²yz R²dz / (1 - R²dz)), towards zero)."""
    shift = ovb.std_error * math.sqrt(ovb.dof * r2yz * r2dz / (1 - r2dz))
    return math.copysign(abs(ovb.estimate) - shift, ovb.estimate) if ovb.estimate else -shift


def sensitivity_contour_png(panel: SensitivityPanel) -> bytes | None:
    """Cinelli-Hazlett contour plot of the adjusted estimate over the confounder's partial R²s,
    with the unadjusted estimate and the benchmark bounds marked (as sensemakr draws it)."""
    ovb = panel.omitted_variable_bias
    if ovb is None:
        return None
    reach = max([0.4, *(1.2 * b.r2dz_x for b in ovb.bounds), *(1.2 * b.r2yz_dx for b in ovb.bounds)])
    limit = min(reach, 0.99)
    steps = 80
    grid = [limit * i / steps for i in range(steps + 1)]
    surface = [[_adjusted_estimate(ovb, x, y) for x in grid] for y in grid]
    with figure_style():
        width_in, height_in = ((px + 0.25) / DPI for px in SENSITIVITY_SIZE_PX)
        figure = Figure(figsize=(width_in, height_in), dpi=DPI)
        FigureCanvasAgg(figure)
        axes = figure.add_axes((0.12, 0.11, 0.82, 0.8))
        values = [v for row in surface for v in row]
        low, high = min(values), max(values)
        levels = sorted({*_nice_levels(low, high)} - {0.0})
        if levels:
            lines = axes.contour(grid, grid, surface, levels=levels, colors=NEUTRAL_COLOUR, linewidths=0.8)
            axes.clabel(lines, fontsize=7, fmt=lambda v: format_number(v))
        if low < 0 < high:
            zero = axes.contour(
                grid, grid, surface, levels=[0.0], colors=FLAG_COLOUR, linewidths=1.6, linestyles="--"
            )
            axes.clabel(zero, fontsize=8, fmt=lambda v: "0")
        axes.plot([0], [0], marker="^", color="black", markersize=8, clip_on=False)
        axes.annotate(
            f"No hidden confounder ({format_number(ovb.estimate)})",
            (0, 0),
            xytext=(8, 8),
            textcoords="offset points",
            fontsize=8,
        )
        for bound in ovb.bounds:
            axes.plot([bound.r2dz_x], [bound.r2yz_dx], marker="D", color=FLAG_COLOUR, markersize=6)
            axes.annotate(
                f"{bound.k:g}× {_truncate(bound.covariate, 18)} ({format_number(bound.adjusted_estimate)})",
                (bound.r2dz_x, bound.r2yz_dx),
                xytext=(6, -10),
                textcoords="offset points",
                fontsize=8,
                color=FLAG_COLOUR,
            )
        axes.set_xlim(0, limit)
        axes.set_ylim(0, limit)
        axes.set_xlabel("Partial R² of the confounder with the treatment")
        axes.set_ylabel("Partial R² of the confounder with the outcome")
        axes.set_title(
            f"How a hidden confounder would move the regression-adjusted {panel.estimand} "
            f"({panel.method}'s panel)",
            loc="left",
            pad=10,
        )
        return _png_bytes(figure)


def _nice_levels(low: float, high: float, count: int = 8) -> list[float]:
    """About `count` round contour levels between low and high."""
    span = high - low
    if not span > 0:
        return []
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [round(first + i * step, 12) for i in range(int((high - first) / step) + 1)]


def rosenbaum_curve_png(panel: SensitivityPanel) -> bytes | None:
    """Upper-bound p-value of the matched signed-rank test against Γ, with alpha and the critical Γ."""
    bounds = panel.rosenbaum
    if bounds is None or not bounds.curve:
        return None
    with figure_style():
        width_in, height_in = ((px + 0.25) / DPI for px in GAMMA_SIZE_PX)
        figure = Figure(figsize=(width_in, height_in), dpi=DPI)
        FigureCanvasAgg(figure)
        axes = figure.add_axes((0.08, 0.16, 0.88, 0.72))
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        axes.grid(color="#DDDDDD", linewidth=0.8)
        axes.set_axisbelow(True)
        gammas = [p.gamma for p in bounds.curve]
        values = [p.p_upper for p in bounds.curve]
        axes.plot(gammas, values, marker="o", color=ESTIMATE_COLOUR)
        axes.axhline(bounds.alpha, color=FLAG_COLOUR, linestyle="--", linewidth=1.0)
        if bounds.critical_gamma is not None and bounds.critical_gamma <= max(gammas):
            axes.axvline(bounds.critical_gamma, color=NEUTRAL_COLOUR, linestyle=":", linewidth=1.0)
            axes.annotate(
                f"Γ = {bounds.critical_gamma:.2f}",
                (bounds.critical_gamma, bounds.alpha),
                xytext=(6, 8),
                textcoords="offset points",
                fontsize=8,
            )
        axes.set_xscale("log")
        axes.set_xticks(gammas, [f"{g:g}" for g in gammas])
        axes.set_ylim(0, 1)
        axes.set_xlabel("Γ: how much a hidden confounder multiplies the odds of treatment within a pair")
        axes.set_ylabel("Upper bound of the p-value")
        axes.set_title(
            f"Rosenbaum bounds, {bounds.n_pairs} matched pairs ({panel.method}); dashed: α = {bounds.alpha:g}",
            loc="left",
            pad=10,
        )
        return _png_bytes(figure)
