"""Static renderings (PNG, for the PDF) of the catalogue's Plotly figure dicts, drawn by matplotlib.

It understands the part of Plotly's figure schema the catalogue uses (scatter with markers,
lines, text, error bars and filled bands; bars; precomputed boxes; heat maps; contours; line
shapes; category and log axes) so the PDF shows the same figure as the interactive report.
Every string that reaches matplotlib goes through `plain`, so a column name cannot switch on
math text.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cqox_visualization.catalogue import View
from cqox_visualization.figures import DPI, figure_style, plain

_MARKERS = {"circle": "o", "circle-open": "o", "diamond": "D", "square": "s", "x": "x", "triangle-up": "^"}


def _colour(value: Any, default: str = "#0072B2") -> Any:
    if isinstance(value, str) and value.startswith("rgba("):
        r, g, b, a = (float(x) for x in value[5:-1].split(","))
        return (r / 255, g / 255, b / 255, a)
    return value if value else default


def _floats(values: Sequence[Any]) -> list[float]:
    return [float(v) if v is not None else math.nan for v in values]


class _Axis:
    """Maps a Plotly axis's values to matplotlib coordinates (categories become 0..n-1)."""

    def __init__(self, spec: dict[str, Any], traces: list[dict[str, Any]], letter: str) -> None:
        values = [v for tr in traces for v in (tr.get(letter) or []) if v is not None]
        explicit = spec.get("categoryarray")
        strings = any(isinstance(v, str) for v in values)
        self.categorical = spec.get("type") == "category" or strings
        self.categories: list[str] = list(explicit) if explicit else []
        if self.categorical and not explicit:
            self.categories = list(dict.fromkeys(str(v) for v in values))

    def map(self, values: Sequence[Any]) -> list[float]:
        """Numeric positions of `values` on this axis."""
        if not self.categorical:
            return _floats(values)
        index = {c: i for i, c in enumerate(self.categories)}
        return [float(index.get(str(v), math.nan)) if v is not None else math.nan for v in values]


def _scatter(axes: Axes, tr: dict[str, Any], xs: list[float], ys: list[float]) -> None:
    mode = tr.get("mode", "markers")
    marker = tr.get("marker", {})
    line = tr.get("line", {})
    colour = _colour(
        line.get("color") or (marker.get("color") if isinstance(marker.get("color"), str) else None)
    )
    label = plain(tr.get("name", "")) if tr.get("showlegend", True) and tr.get("name") else None
    if tr.get("fill") == "toself":
        axes.fill(xs, ys, color=_colour(tr.get("fillcolor"), "#DDDDDD"), linewidth=0, label=label, zorder=1)
        return
    if "lines" in mode:
        axes.plot(
            xs,
            ys,
            color=colour,
            linewidth=line.get("width", 1.5),
            label=label if "markers" not in mode else None,
            linestyle="--" if line.get("dash") == "dash" else "-",
            zorder=2,
        )
    error_x, error_y = tr.get("error_x"), tr.get("error_y")
    if error_x or error_y:

        def bars(spec: dict[str, Any] | None) -> Any:
            if not spec:
                return None
            upper = _floats(spec.get("array", []))
            lower = (
                _floats(spec.get("arrayminus", upper))
                if not spec.get("symmetric", True) or "arrayminus" in spec
                else upper
            )
            return np.array([lower, upper])

        axes.errorbar(
            xs,
            ys,
            xerr=bars(error_x),
            yerr=bars(error_y),
            fmt="none",
            ecolor=_colour((error_x or error_y or {}).get("color"), "#0072B2"),
            capsize=3,
            zorder=2,
        )
    if "markers" in mode:
        colours = marker.get("color")
        sizes = marker.get("size", 8)
        symbol = marker.get("symbol", "circle")
        hollow = symbol.endswith("-open")
        size = [(s * 0.9) ** 2 for s in sizes] if isinstance(sizes, list) else (sizes * 0.9) ** 2
        colour_list = [_colour(c) for c in colours] if isinstance(colours, list) else _colour(colours)
        axes.scatter(
            xs,
            ys,
            s=size,
            marker=_MARKERS.get(symbol, "o"),
            facecolors="none" if hollow else colour_list,
            edgecolors=colour_list if hollow else "white",
            linewidths=1.4 if hollow else 0.5,
            label=label,
            zorder=3,
        )
    if "text" in mode:
        below = tr.get("textposition", "").startswith("bottom")
        right = tr.get("textposition", "").endswith("right")
        for x, y, text in zip(xs, ys, tr.get("text", []), strict=False):
            axes.annotate(
                plain(str(text)),
                (x, y),
                xytext=(6 if right else 0, -12 if below else 8),
                textcoords="offset points",
                ha="left" if right else "center",
                fontsize=7,
            )


def _bar(
    axes: Axes, tr: dict[str, Any], xs: list[float], ys: list[float], offset: float, width: float
) -> None:
    colours = tr.get("marker", {}).get("color", "#0072B2")
    colour = [_colour(c) for c in colours] if isinstance(colours, list) else _colour(colours)
    label = plain(tr.get("name", "")) if tr.get("name") else None
    alpha = tr.get("opacity", 1.0)
    if tr.get("orientation") == "h":
        axes.barh(
            [y + offset for y in ys],
            xs,
            height=width,
            color=colour,
            label=label,
            alpha=alpha,
            left=tr.get("_base"),
        )
    else:
        bar_width = tr.get("width", width)
        axes.bar([x + offset for x in xs], ys, width=bar_width, color=colour, label=label, alpha=alpha)


def _box(axes: Axes, tr: dict[str, Any], position: float) -> None:
    stats = [
        {
            "whislo": tr["lowerfence"][0],
            "q1": tr["q1"][0],
            "med": tr["median"][0],
            "q3": tr["q3"][0],
            "whishi": tr["upperfence"][0],
            "fliers": [],
        }
    ]
    axes.bxp(
        stats,
        positions=[position],
        vert=False,
        widths=0.5,
        showfliers=False,
        boxprops={"color": "#0072B2"},
        medianprops={"color": "#D55E00"},
    )


def render_png(view: View) -> bytes | None:
    """The view's figure as a PNG of `view.size` pixels, or None for a table view."""
    if view.figure is None:
        return None
    traces: list[dict[str, Any]] = view.figure["data"]
    layout: dict[str, Any] = view.figure["layout"]
    with figure_style():
        width, height = view.size
        figure = Figure(figsize=((width + 0.25) / DPI, (height + 0.25) / DPI), dpi=DPI)
        FigureCanvasAgg(figure)
        x_spec, y_spec = layout.get("xaxis", {}), layout.get("yaxis", {})
        x_axis = _Axis(x_spec, [t for t in traces if t["type"] not in ("heatmap", "contour")], "x")
        y_axis = _Axis(y_spec, [t for t in traces if t["type"] not in ("heatmap", "contour")], "y")
        # Fixed margins in inches (so the PNG is exactly view.size): room for row labels when the
        # y axis holds categories, for slanted labels when the x axis does.
        left_in = 2.6 if y_axis.categorical or any(t["type"] == "heatmap" for t in traces) else 0.9
        bottom_in = 1.6 if x_axis.categorical and len(x_axis.categories) > 6 else 0.75
        width_in, height_in = figure.get_figwidth(), figure.get_figheight()
        axes = figure.add_axes(
            (
                left_in / width_in,
                bottom_in / height_in,
                1 - (left_in + 0.3) / width_in,
                1 - (bottom_in + 0.25) / height_in,
            )
        )
        bars = [t for t in traces if t["type"] == "bar"]
        grouped = layout.get("barmode") == "group" and len(bars) > 1
        stacked = layout.get("barmode") == "stack"
        base: dict[float, float] = {}
        for tr in traces:
            kind = tr["type"]
            if kind == "heatmap":
                z = np.array([[math.nan if v is None else v for v in row] for row in tr["z"]], dtype=float)
                # Plotly's zmid is the colour scale's white: the same value stays white on paper.
                span = (
                    float(np.nanmax(np.abs(z - tr["zmid"]))) if "zmid" in tr and np.isfinite(z).any() else 0.0
                )
                limits = {"vmin": tr["zmid"] - span, "vmax": tr["zmid"] + span} if span > 0 else {}
                image = axes.imshow(z, aspect="auto", cmap="RdBu", origin="lower", **limits)
                axes.set_xticks(range(len(tr["x"])), [plain(str(v)) for v in tr["x"]])
                axes.set_yticks(range(len(tr["y"])), [plain(str(v)) for v in tr["y"]])
                figure.colorbar(image, ax=axes)
                continue
            if kind == "contour":
                lines = axes.contour(tr["x"], tr["y"], tr["z"], levels=8, colors="#595959", linewidths=0.8)
                axes.clabel(lines, fontsize=7, fmt="%.3g")
                continue
            if kind == "box":
                _box(axes, tr, y_axis.map(tr["y"])[0])
                continue
            xs, ys = x_axis.map(tr.get("x", [])), y_axis.map(tr.get("y", []))
            if kind == "bar":
                index = bars.index(tr)
                width = 0.8 / len(bars) if grouped else 0.8
                offset = (index - (len(bars) - 1) / 2) * width if grouped else 0.0
                if stacked and tr.get("orientation") == "h":
                    tr = {**tr, "_base": [base.get(y, 0.0) for y in ys]}
                    for y, x in zip(ys, xs, strict=True):
                        base[y] = base.get(y, 0.0) + x
                _bar(axes, tr, xs, ys, offset, width)
            else:
                _scatter(axes, tr, xs, ys)
        for shape in layout.get("shapes", []):
            style = {
                "color": _colour(shape["line"]["color"]),
                "linewidth": 1.1,
                "linestyle": {"dash": "--", "dot": ":"}.get(shape["line"].get("dash", ""), "-"),
            }
            if shape.get("yref") == "paper":
                axes.axvline(x_axis.map([shape["x0"]])[0], **style)
            elif shape.get("xref") == "paper":
                axes.axhline(y_axis.map([shape["y0"]])[0], **style)
        for spec, axis, setter in ((x_spec, x_axis, "x"), (y_spec, y_axis, "y")):
            if spec.get("visible") is False:
                getattr(axes, f"get_{setter}axis")().set_visible(False)
            if axis.categorical and axis.categories:
                ticks = range(len(axis.categories))
                labels = [plain(c if len(c) <= 34 else c[:33] + "…") for c in axis.categories]
                getattr(axes, f"set_{setter}ticks")(
                    ticks,
                    labels,
                    rotation=40 if setter == "x" and len(ticks) > 6 else 0,
                    ha="right"
                    if setter == "x" and len(ticks) > 6
                    else "center"
                    if setter == "x"
                    else "right",
                )
            if spec.get("type") == "log":
                getattr(axes, f"set_{setter}scale")("log")
            if "range" in spec and not axis.categorical:
                low, high = spec["range"]
                getattr(axes, f"set_{setter}lim")(low, high)
            title = spec.get("title", {}).get("text", "")
            if title:
                getattr(axes, f"set_{setter}label")(plain(title))
        if (
            layout.get("xaxis", {}).get("visible") is False
            and layout.get("yaxis", {}).get("visible") is False
        ):
            axes.set_frame_on(False)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        axes.grid(color="#E5E5E5", linewidth=0.7)
        axes.set_axisbelow(True)
        handles, labels = axes.get_legend_handles_labels()
        if handles:
            axes.legend(handles, labels, fontsize=8, frameon=False, loc="best")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
        return buffer.getvalue()
