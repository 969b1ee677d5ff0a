"""The figure catalogue: every view an analyst asks of a design, as data (Plotly figure dicts).

Each view is a pure function of the assessed analysis (and, for the views of the raw data, the
dataset's columns and the CATE tables) that returns zero or more `View`s: a named figure with a
title and a caption that says how to read it. The same figure dict is drawn interactively by
Plotly in the HTML report and statically by matplotlib (`static.py`) for the PDF. Per-unit data
are binned or summarised on all rows and only sampled for drawing points.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cqox_contracts.v1.events import AnalysisAssessed
from cqox_contracts.v1.models import EstimateResult, GateResult, SensitivityPanel
from cqox_shared.logging import get_logger
from cqox_visualization.domain import flagged_methods, is_finite
from cqox_visualization.i18n import Language
from cqox_visualization.quality_prose import gate_message

log = get_logger("cqox.visualization.catalogue")

BLUE, ORANGE, GREEN, GREY, SKY, PURPLE, YELLOW = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#8C8C8C",
    "#56B4E9",
    "#CC79A7",
    "#E69F00",
)
ARM_COLOURS = {"treated": ORANGE, "control": BLUE}
MAX_POINTS = 4000  # points drawn per scatter; everything computed on all rows
WIDTH = 1000

Figure = dict[str, Any]


@dataclass(frozen=True)
class TableView:
    """A table view: header and formatted rows."""

    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class View:
    """One named figure of the catalogue, with how to read it."""

    key: str
    kind: str
    method: str
    section: str
    title: str
    caption: str
    figure: Figure | None = None
    table: TableView | None = None
    height: int = 420

    @property
    def size(self) -> tuple[int, int]:
        """Width and height in pixels of its static rendering."""
        return WIDTH, self.height


@dataclass(frozen=True)
class Evidence:
    """What the views draw from: the assessed analysis, the dataset's columns, the CATE tables."""

    event: AnalysisAssessed
    data: pd.DataFrame | None = None
    cate: Mapping[str, pd.DataFrame] = field(default_factory=dict)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _clean(values: Sequence[float | None]) -> list[float | None]:
    return [v if v is not None and math.isfinite(v) else None for v in values]


def _layout(x_title: str = "", y_title: str = "", *, height: int = 420, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "height": height,
        "margin": {"l": 70, "r": 30, "t": 20, "b": 60},
        "xaxis": {"title": {"text": x_title}, "zeroline": False, "automargin": True},
        "yaxis": {"title": {"text": y_title}, "zeroline": False, "automargin": True},
        "legend": {"orientation": "h", "y": -0.2},
        "hovermode": "closest",
        "plot_bgcolor": "#ffffff",
    }
    for key, value in extra.items():
        if key in ("xaxis", "yaxis"):
            layout[key].update(value)
        else:
            layout[key] = value
    return layout


def _vline(x: float, colour: str = GREY, dash: str = "dash") -> dict[str, Any]:
    return {
        "type": "line",
        "x0": x,
        "x1": x,
        "yref": "paper",
        "y0": 0,
        "y1": 1,
        "line": {"color": colour, "dash": dash, "width": 1.2},
    }


def _hline(y: float, colour: str = GREY, dash: str = "dash") -> dict[str, Any]:
    return {
        "type": "line",
        "y0": y,
        "y1": y,
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "line": {"color": colour, "dash": dash, "width": 1.2},
    }


def _rows_height(n_rows: int, *, per_row: int = 34, frame: int = 150) -> int:
    return frame + per_row * max(n_rows, 1)


# --- estimates --------------------------------------------------------------------------


def forest(ev: Evidence, t: Language) -> list[View]:
    """Estimate and CI per method, grouped by estimand, flagged methods in orange."""
    estimates = [e for e in ev.event.estimates if is_finite(e.estimate)]
    if not estimates:
        return []
    flags = flagged_methods(ev.event.gates)
    ordered = sorted(estimates, key=lambda e: (e.estimand, e.method))
    labels = [f"{e.method} ({e.estimand})" for e in ordered]
    traces = []
    for flagged in (False, True):
        rows = [
            (label, e) for label, e in zip(labels, ordered, strict=True) if (e.method in flags) == flagged
        ]
        if not rows:
            continue
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": t("flagged by a quality gate") if flagged else t("estimate with its CI"),
                "x": [e.estimate for _, e in rows],
                "y": [label for label, _ in rows],
                "marker": {
                    "color": ORANGE if flagged else BLUE,
                    "size": 9,
                    "symbol": "diamond" if flagged else "circle",
                },
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": [(e.ci_upper - e.estimate) if is_finite(e.ci_upper) else 0 for _, e in rows],  # type: ignore[operator]
                    "arrayminus": [
                        (e.estimate - e.ci_lower) if is_finite(e.ci_lower) else 0 for _, e in rows
                    ],  # type: ignore[operator]
                    "color": ORANGE if flagged else BLUE,
                },
                "text": [", ".join(flags.get(e.method, [])) for _, e in rows],
                "hovertemplate": "%{y}: %{x:.3f}<br>%{text}<extra></extra>",
            }
        )
    shapes = [_vline(0.0)]
    lead = ev.event.headline
    if lead is not None:
        shapes.append(_vline(lead.estimate, GREEN, "dot"))
    figure = {
        "data": traces,
        "layout": _layout(
            t("Estimated effect"),
            height=_rows_height(len(ordered)),
            yaxis={"type": "category", "categoryorder": "array", "categoryarray": labels[::-1]},
            shapes=shapes,
        ),
    }
    return [
        View(
            key="forest_plot",
            kind="forest",
            method="",
            section="estimates",
            title=t("Estimates by method and estimand"),
            caption=t(
                "Dots are point estimates, whiskers confidence intervals; rows are grouped by estimand, "
                "which should only be compared with each other. Orange diamonds: methods a quality gate "
                "flags. Grey dashed line: no effect; green dotted line: the headline."
            ),
            figure=figure,
            height=_rows_height(len(ordered)),
        )
    ]


def stability(ev: Evidence, t: Language) -> list[View]:
    """Each method's estimate under the analysis seed and a second seed."""
    rows = []
    for e in ev.event.estimates:
        second = _number(e.diagnostics.get("estimate_second_seed"))
        if second is not None and is_finite(e.estimate):
            rows.append((e, second, _number(e.diagnostics.get("seed_spread_se"))))
    if not rows:
        return []
    labels = [e.method for e, _, _ in rows]
    figure = {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "name": t("analysis seed"),
                "x": [e.estimate for e, _, _ in rows],
                "y": labels,
                "marker": {"color": BLUE, "size": 9},
            },
            {
                "type": "scatter",
                "mode": "markers",
                "name": t("second seed"),
                "x": [s for _, s, _ in rows],
                "y": labels,
                "marker": {"color": ORANGE, "size": 9, "symbol": "diamond"},
                "text": [
                    t("seed spread {value} SE", value=t.number(spread, 2)) if spread is not None else ""
                    for _, _, spread in rows
                ],
                "hovertemplate": "%{y}: %{x:.3f}<br>%{text}<extra></extra>",
            },
        ],
        "layout": _layout(t("Estimated effect"), height=_rows_height(len(rows)), yaxis={"type": "category"}),
    }
    return [
        View(
            key="stability",
            kind="stability",
            method=",".join(labels),
            section="estimates",
            title=t("Estimate stability across seeds"),
            caption=t(
                "Methods with a random step (cross-fitting folds, matching ties, forests) were run again "
                "with a second seed. The two marks should sit on each other; a gap of more than a fraction "
                "of a standard error means the estimate hinges on chance, not on the data."
            ),
            figure=figure,
            height=_rows_height(len(rows)),
        )
    ]


# --- balance and overlap -------------------------------------------------------------------

_SMD_BEFORE, _SMD_AFTER = "smd_before:", "smd_after:"


def _smd(gate: GateResult, prefix: str) -> dict[str, float]:
    values = {}
    for key, value in gate.details.items():
        number = _number(value)
        if key.startswith(prefix) and number is not None:
            values[key[len(prefix) :]] = number
    return values


def love(ev: Evidence, t: Language) -> list[View]:
    """Love plot: |SMD| per covariate before and after adjustment, threshold lines."""
    gate = next((g for g in ev.event.gates if g.name == "balance_smd"), None)
    if gate is None:
        return []
    before, after = _smd(gate, _SMD_BEFORE), _smd(gate, _SMD_AFTER)
    names = sorted(set(before) | set(after), key=lambda c: abs(before.get(c, 0.0)))[-40:]
    if not names:
        return []
    threshold = gate.threshold if is_finite(gate.threshold) else 0.1
    figure = {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "name": t("before adjustment"),
                "y": names,
                "x": [before.get(c) for c in names],
                "marker": {"color": GREY, "size": 9, "symbol": "circle-open"},
            },
            {
                "type": "scatter",
                "mode": "markers",
                "name": t("after adjustment"),
                "y": names,
                "x": [after.get(c) for c in names],
                "marker": {"color": BLUE, "size": 8},
            },
        ],
        "layout": _layout(
            t("Standardized mean difference (treated − control)"),
            height=_rows_height(len(names), per_row=28),
            yaxis={"type": "category"},
            shapes=[_vline(threshold, ORANGE), _vline(-threshold, ORANGE), _vline(0.0, GREY, "solid")],  # type: ignore[arg-type]
        ),
    }
    rows = [
        [
            c,
            t.number(before.get(c)),
            t.number(after.get(c)),
            t("yes") if c in after and abs(after[c]) <= threshold else t("no"),
        ]  # type: ignore[operator]
        for c in reversed(names)
    ]
    return [
        View(
            key="love_plot",
            kind="love",
            method="",
            section="balance",
            title=t("Covariate balance before and after adjustment (love plot)"),
            caption=t(
                "Hollow circles: how different treated and control units are on each covariate before "
                "adjustment, in standard deviations; filled: after the weighting the gate names. Points "
                "between the orange dashed lines (±{threshold}) are balanced.",
                threshold=t.number(threshold, 2),
            ),
            figure=figure,
            height=_rows_height(len(names), per_row=28),
        ),
        View(
            key="balance_table",
            kind="balance_table",
            method="",
            section="balance",
            title=t("Balance table"),
            caption=t("The numbers of the love plot, largest imbalance before adjustment first."),
            table=TableView(
                [
                    t("Covariate"),
                    t("SMD before"),
                    t("SMD after"),
                    t("Within ±{threshold}", threshold=t.number(threshold, 2)),
                ],
                rows,
            ),
        ),
    ]


def _propensity_rows(estimates: Sequence[EstimateResult]) -> list[tuple[str, str, float, float, float]]:
    rows = []
    for e in estimates:
        d = e.diagnostics
        for arm in ("treated", "control"):
            low, mean, high = (_number(d.get(f"propensity_{s}_{arm}")) for s in ("min", "mean", "max"))
            if low is not None and mean is not None and high is not None:
                rows.append((e.method, arm, low, mean, high))
    return rows


def propensity_overlap(ev: Evidence, t: Language) -> list[View]:
    """Range and mean of the estimated propensity by arm, per method that models it."""
    rows = _propensity_rows(ev.event.estimates)
    if not rows:
        return []
    methods = list(dict.fromkeys(m for m, *_ in rows))
    traces = []
    for arm in ("treated", "control"):
        mine = [r for r in rows if r[1] == arm]
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": t(arm),
                "y": [f"{m} · {t(arm)}" for m, *_ in mine],
                "x": [mean for *_, mean, _ in mine],
                "marker": {"color": ARM_COLOURS[arm], "size": 9},
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "color": ARM_COLOURS[arm],
                    "array": [high - mean for *_, mean, high in mine],
                    "arrayminus": [mean - low for *_, low, mean, _ in mine],
                },
                "hovertemplate": "%{y}: " + t("mean") + " %{x:.3f}<extra></extra>",
            }
        )
    height = _rows_height(len(rows), per_row=26)
    return [
        View(
            key="propensity_overlap",
            kind="propensity_overlap",
            method=",".join(methods),
            section="balance",
            title=t("Propensity score by arm (overlap)"),
            caption=t(
                "For each method that models the probability of treatment: the smallest, mean and largest "
                "estimated propensity among treated (orange) and control (blue) units. Overlap needs the two "
                "ranges to cover each other; scores near 0 or 1 mean some units have no comparable units "
                "in the other arm."
            ),
            figure={
                "data": traces,
                "layout": _layout(
                    t("Estimated propensity score"),
                    height=height,
                    xaxis={"range": [0, 1]},
                    yaxis={"type": "category"},
                ),
            },
            height=height,
        )
    ]


def weights(ev: Evidence, t: Language) -> list[View]:
    """Effective sample size of the weighting methods as a share of each arm."""
    rows = []
    for e in ev.event.estimates:
        d = e.diagnostics
        for arm, n in (("treated", e.n_treated), ("control", e.n_control)):
            ess = _number(d.get(f"ess_{arm}"))
            if ess is not None and n:
                rows.append((e.method, arm, ess, ess / n, _number(d.get("max_normalized_weight"))))
    if not rows:
        return []
    traces = []
    for arm in ("treated", "control"):
        mine = [r for r in rows if r[1] == arm]
        if mine:
            traces.append(
                {
                    "type": "bar",
                    "orientation": "h",
                    "name": t(arm),
                    "y": [m for m, *_ in mine],
                    "x": [share for *_, share, _ in mine],
                    "marker": {"color": ARM_COLOURS[arm]},
                    "text": [t.number(ess, 0) for _, _, ess, _, _ in mine],
                    "hovertemplate": "%{y}: %{x:.1%} (ESS %{text})<extra></extra>",
                }
            )
    methods = list(dict.fromkeys(m for m, *_ in rows))
    height = _rows_height(len(methods), per_row=44)
    return [
        View(
            key="weights_ess",
            kind="weights_ess",
            method=",".join(methods),
            section="balance",
            title=t("Weights: effective sample size"),
            caption=t(
                "The effective sample size of each weighting method as a share of the rows in each arm. "
                "Near 100 %: the weights spread evenly; a small share means a few heavily weighted units "
                "carry the estimate, which then varies more than its standard error suggests."
            ),
            figure={
                "data": traces,
                "layout": _layout(
                    t("Effective sample size / rows in the arm"),
                    height=height,
                    barmode="group",
                    xaxis={"range": [0, 1.05], "tickformat": ".0%"},
                    yaxis={"type": "category"},
                ),
            },
            height=height,
        )
    ]


def nuisance_fit(ev: Evidence, t: Language) -> list[View]:
    """Out-of-fold fit of the outcome models (R²) of the cross-fitted methods, per learner."""
    rows = []
    for e in ev.event.estimates:
        for key, value in e.diagnostics.items():
            match = re.fullmatch(r"outcome_r2_oof_(.+)", key)
            if match and (number := _number(value)) is not None:
                rows.append((e.method, match.group(1), number))
    if not rows:
        return []
    learners = list(dict.fromkeys(learner for _, learner, _ in rows))
    methods = list(dict.fromkeys(m for m, _, _ in rows))
    colours = [BLUE, ORANGE, GREEN, PURPLE, YELLOW]
    traces = [
        {
            "type": "bar",
            "orientation": "h",
            "name": learner,
            "y": [m for m, lr, _ in rows if lr == learner],
            "x": [v for _, lr, v in rows if lr == learner],
            "marker": {"color": colours[i % len(colours)]},
            "hovertemplate": "%{y}: R² %{x:.3f}<extra>" + learner + "</extra>",
        }
        for i, learner in enumerate(learners)
    ]
    height = _rows_height(len(methods), per_row=44)
    return [
        View(
            key="nuisance_fit",
            kind="nuisance_fit",
            method=",".join(methods),
            section="estimates",
            title=t("Outcome model fit out of fold"),
            caption=t(
                "R² of each candidate outcome model on rows it was not trained on, for the cross-fitted "
                "methods; the method keeps the better one. Values far below the others, or below zero, "
                "mean that learner misses the outcome's shape and its estimate leans on the propensity."
            ),
            figure={
                "data": traces,
                "layout": _layout(
                    t("Out-of-fold R²"), height=height, barmode="group", yaxis={"type": "category"}
                ),
            },
            height=height,
        )
    ]


# --- heterogeneity -------------------------------------------------------------------------

_QUANTILES = ("p05", "p25", "p50", "p75", "p95")


def cate_distribution(ev: Evidence, t: Language) -> list[View]:
    """The spread of unit-level effects per CATE method (5th-95th percentile boxes)."""
    rows = []
    for e in ev.event.estimates:
        q = [_number(e.diagnostics.get(f"cate_{name}")) for name in _QUANTILES]
        if all(v is not None for v in q):
            rows.append((e.method, q))
    if not rows:
        return []
    traces = [
        {
            "type": "box",
            "name": method,
            "orientation": "h",
            "y": [method],
            "lowerfence": [q[0]],
            "q1": [q[1]],
            "median": [q[2]],
            "q3": [q[3]],
            "upperfence": [q[4]],
            "marker": {"color": BLUE},
            "line": {"color": BLUE},
            "showlegend": False,
        }
        for method, q in rows
    ]
    height = _rows_height(len(rows), per_row=40)
    return [
        View(
            key="cate_distribution",
            kind="cate_distribution",
            method=",".join(m for m, _ in rows),
            section="heterogeneity",
            title=t("Distribution of unit-level effects (CATE)"),
            caption=t(
                "Each box spans the middle half of the effects a method predicts for individual units "
                "(line: median), whiskers the 5th to 95th percentiles. Narrow boxes that agree across "
                "methods mean one average describes everyone; wide ones, that the effect differs by unit."
            ),
            figure={
                "data": traces,
                "layout": _layout(
                    t("Predicted effect for a unit"),
                    height=height,
                    shapes=[_vline(0.0)],
                    yaxis={"type": "category"},
                ),
            },
            height=height,
        )
    ]


def _driver_bins(diagnostics: Mapping[str, float | str | None]) -> dict[str, dict[int, float]]:
    drivers: dict[str, dict[int, float]] = {}
    for key, value in diagnostics.items():
        match = re.fullmatch(r"cate_by_(.+)_q(\d+)", key)
        if match and (number := _number(value)) is not None:
            drivers.setdefault(match.group(1), {})[int(match.group(2))] = number
    return drivers


def cate_drivers(ev: Evidence, t: Language) -> list[View]:
    """Mean predicted effect by quartile of each top driver, one line per method."""
    per_method = {e.method: b for e in ev.event.estimates if (b := _driver_bins(e.diagnostics))}
    if not per_method:
        return []
    drivers = sorted({d for bins in per_method.values() for d, q in bins.items() if len(q) >= 2})
    if not drivers:
        return []
    categories = [f"{d} · Q{q}" for d in drivers for q in range(1, 5)]
    colours = [BLUE, ORANGE, GREEN, PURPLE, YELLOW, SKY, GREY]
    traces = []
    for i, (method, bins) in enumerate(per_method.items()):
        # One line per driver (a line never joins two covariates), one legend entry per method.
        for n, d in enumerate(d for d in drivers if d in bins):
            quartiles = sorted(bins[d])
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": method,
                    "legendgroup": method,
                    "showlegend": n == 0,
                    "x": [f"{d} · Q{q}" for q in quartiles],
                    "y": [bins[d][q] for q in quartiles],
                    "line": {"color": colours[i % len(colours)]},
                    "marker": {"color": colours[i % len(colours)], "size": 6},
                }
            )
    view_drivers = View(
        key="cate_drivers",
        kind="cate_drivers",
        method=",".join(per_method),
        section="heterogeneity",
        title=t("Effect by quartile of its top drivers"),
        caption=t(
            "For the covariates that move the predicted effect most, the mean predicted effect of the "
            "units in each quartile (Q1 lowest). A flat line: the effect does not depend on that "
            "covariate; a slope that all methods share is heterogeneity worth targeting. Click a method "
            "in the legend to hide it."
        ),
        figure={
            "data": traces,
            "layout": _layout(
                t("Covariate and quartile"),
                t("Mean predicted effect"),
                height=460,
                xaxis={
                    "type": "category",
                    "categoryorder": "array",
                    "categoryarray": categories,
                    "tickangle": -40,
                },
            ),
        },
        height=460,
    )
    # The heat map: the method with most drivers that have quartiles (binary ones have none).
    method, bins = max(per_method.items(), key=lambda item: sum(len(q) >= 2 for q in item[1].values()))
    rows = sorted(d for d in bins if len(bins[d]) >= 2)
    if not rows:  # every driver binary (one-hot dummies): no quartiles to map
        return [view_drivers]
    z = [[bins[d].get(q) for q in range(1, 5)] for d in rows]
    view_map = View(
        key="heterogeneity_map",
        kind="heterogeneity_map",
        method=method,
        section="heterogeneity",
        title=t("Heterogeneity map ({method})", method=method),
        caption=t(
            "Mean predicted effect of the units in each quartile (columns) of each driver (rows); the "
            "colour scale is centred on the average effect, so warm cells are units the treatment helps "
            "more than average. Empty cells: that quartile holds no distinct units (a binary covariate)."
        ),
        figure={
            "data": [
                {
                    "type": "heatmap",
                    "z": z,
                    "x": ["Q1", "Q2", "Q3", "Q4"],
                    "y": rows,
                    "colorscale": "RdBu",
                    "reversescale": True,
                    "zmid": float(np.nanmean([v for r in z for v in r if v is not None])),
                    "hovertemplate": "%{y} %{x}: %{z:.3f}<extra></extra>",
                }
            ],
            "layout": _layout(
                t("Quartile of the driver"),
                height=_rows_height(len(rows), per_row=40),
                yaxis={"type": "category"},
            ),
        },
        height=_rows_height(len(rows), per_row=40),
    )
    return [view_drivers, view_map]


def cate_histogram(ev: Evidence, t: Language) -> list[View]:
    """Histogram of every unit's predicted effect, from the headline-nearest CATE table."""
    if not ev.cate:
        return []
    method, table = next(iter(ev.cate.items()))
    values = pd.to_numeric(table.get("cate", pd.Series(dtype=float)), errors="coerce").dropna().to_numpy()
    if values.size < 2:
        return []
    counts, edges = np.histogram(values, bins=40)
    centres = ((edges[:-1] + edges[1:]) / 2).tolist()
    return [
        View(
            key="cate_histogram",
            kind="cate_histogram",
            method=method,
            section="heterogeneity",
            title=t("Predicted effect of every unit ({method})", method=method),
            caption=t(
                "Histogram of the effect {method} predicts for each of the {n} units. The share right of "
                "the dashed zero line would gain from treatment if the model is right; a second hump "
                "marks a subgroup that responds differently.",
                method=method,
                n=t.number(values.size, 0),
            ),
            figure={
                "data": [
                    {
                        "type": "bar",
                        "x": centres,
                        "y": counts.tolist(),
                        "marker": {"color": BLUE},
                        "width": float(edges[1] - edges[0]),
                        "name": t("units"),
                        "hovertemplate": "%{x:.3f}: %{y}<extra></extra>",
                    }
                ],
                "layout": _layout(
                    t("Predicted effect for a unit"), t("Units"), shapes=[_vline(0.0)], bargap=0.02
                ),
            },
        )
    ]


def top_drivers(diagnostics: Mapping[str, float | str | None]) -> list[tuple[str, str | None]]:
    """(column, level) of the covariates a CATE method names as moving its effect most, in order
    ('region=south (-0.07)' names the column region and its level south)."""
    text = diagnostics.get("cate_top_drivers")
    if not isinstance(text, str):
        return []
    drivers = []
    for item in re.findall(r"([^,()]+?) \([-+]?[\d.e-]+\)", text):
        name = item.strip()
        column, _, level = name.partition("=")
        drivers.append((column, level or None))
    return drivers


def cate_partial_dependence(ev: Evidence, t: Language) -> list[View]:
    """Every unit's predicted effect against the covariate that moves it most, with binned means."""
    if not ev.cate or ev.data is None:
        return []
    method, table = next(iter(ev.cate.items()))
    estimate = next((e for e in ev.event.estimates if e.method == method), None)
    drivers = top_drivers(estimate.diagnostics) if estimate is not None else []
    driver = next(((c, level) for c, level in drivers if c in ev.data.columns), None)
    if driver is None or "row" not in table:
        return []
    column, level = driver
    rows = pd.to_numeric(table["row"], errors="coerce")
    usable = rows.between(0, len(ev.data) - 1)
    effects = pd.to_numeric(table["cate"], errors="coerce")[usable].to_numpy()
    values = ev.data[column].iloc[rows[usable].astype(int).to_numpy()].reset_index(drop=True)
    if level is None and pd.api.types.is_numeric_dtype(values):
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        keep = np.isfinite(x) & np.isfinite(effects)
        x, y = x[keep], effects[keep]
        if x.size < 10:
            return []
        bins = pd.qcut(x, 10, duplicates="drop")
        means = pd.Series(y).groupby(bins, observed=True).mean()
        centres = pd.Series(x).groupby(bins, observed=True).mean()
        drawn = np.random.default_rng(0).choice(x.size, size=min(x.size, MAX_POINTS), replace=False)
        traces = [
            {
                "type": "scatter",
                "mode": "markers",
                "name": t(
                    "units ({shown} of {n} drawn)", shown=t.number(drawn.size, 0), n=t.number(x.size, 0)
                ),
                "x": x[drawn].tolist(),
                "y": y[drawn].tolist(),
                "marker": {"color": GREY, "size": 4, "opacity": 0.35},
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": t("mean effect in each tenth of {column}", column=column),
                "x": centres.tolist(),
                "y": means.tolist(),
                "line": {"color": ORANGE, "width": 3},
            },
        ]
        x_title = column
    else:
        labels = values.astype(str).to_numpy()
        frame = pd.DataFrame({"level": labels, "effect": effects}).dropna()
        summary = frame.groupby("level")["effect"].agg(["mean", "count"]).sort_values("mean")
        traces = [
            {
                "type": "bar",
                "x": summary.index.tolist(),
                "y": summary["mean"].tolist(),
                "marker": {"color": BLUE},
                "name": t("mean predicted effect"),
                "text": [t.number(n, 0) for n in summary["count"]],
                "hovertemplate": "%{x}: %{y:.3f} (n %{text})<extra></extra>",
            }
        ]
        x_title = column
    return [
        View(
            key=f"cate_partial_dependence_{method}",
            kind="cate_partial_dependence",
            method=method,
            section="heterogeneity",
            title=t(
                "Predicted effect against its top driver, {column} ({method})", column=column, method=method
            ),
            caption=t(
                "Each grey dot is one unit's predicted effect from {method} against {column}, the covariate "
                "that moves it most; the orange line (or the bars, for a categorical covariate) is the mean "
                "effect in each group, computed on every unit. A flat line: the effect does not depend on "
                "{column}; a slope: targeting by {column} would pay off, if the model is right.",
                method=method,
                column=column,
            ),
            figure={
                "data": traces,
                "layout": _layout(
                    x_title, t("Predicted effect for a unit"), height=440, shapes=[_hline(0.0)]
                ),
            },
            height=440,
        )
    ]


_TREE_LINE = re.compile(r"^((?:\|   )*)\|--- (.*)$")


def _tree_nodes(text: str, names: Sequence[str]) -> list[tuple[int, str, bool]]:
    """(depth, label, is_leaf) per line of scikit-learn's export_text, x<i> named by `names`."""
    nodes = []
    for line in text.splitlines():
        match = _TREE_LINE.match(line)
        if not match:
            continue
        depth = len(match.group(1)) // 4
        label = match.group(2).strip()
        leaf = label.startswith("value:") or label.startswith("class:")
        label = re.sub(
            r"\bx(\d+)\b",
            lambda m: names[int(m.group(1))] if int(m.group(1)) < len(names) else m.group(0),
            label,
        )
        nodes.append((depth, label, leaf))
    return nodes


def policy_tree(ev: Evidence, t: Language) -> list[View]:
    """The policy tree's splits and leaves (gain of treating there) as a diagram."""
    views = []
    for e in ev.event.estimates:
        text = e.diagnostics.get("tree")
        if not isinstance(text, str):
            continue
        names = [n.strip() for n in str(e.diagnostics.get("covariate_columns") or "").split(",") if n.strip()]
        nodes = _tree_nodes(text, names)
        if not nodes:
            continue
        # Leaves get x positions left to right; an inner node sits over its children's middle.
        xs: list[float] = [0.0] * len(nodes)
        leaf_x = 0.0
        for i, (_, _, leaf) in enumerate(nodes):
            if leaf:
                xs[i] = leaf_x
                leaf_x += 1
        for i in range(len(nodes) - 1, -1, -1):
            depth, _, leaf = nodes[i]
            if not leaf:
                children = [
                    xs[j]
                    for j in range(i + 1, len(nodes))
                    if nodes[j][0] == depth + 1 and all(nodes[k][0] > depth for k in range(i + 1, j + 1))
                ]
                xs[i] = sum(children) / len(children) if children else xs[i]
        edge_x: list[float | None] = []
        edge_y: list[float | None] = []
        for i, (depth, _, _) in enumerate(nodes):
            parent = next((j for j in range(i - 1, -1, -1) if nodes[j][0] == depth - 1), None)
            if parent is not None:
                edge_x += [xs[parent], xs[i], None]
                edge_y += [-(depth - 1), -depth, None]
        leaves = [i for i, n in enumerate(nodes) if n[2]]
        inner = [i for i, n in enumerate(nodes) if not n[2]]
        gain_text = [
            nodes[i][1].replace("value: ", t("gain") + " ").replace("[", "").replace("]", "") for i in leaves
        ]
        height = 160 + 90 * (max(d for d, _, _ in nodes) + 1)
        figure = {
            "data": [
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": edge_x,
                    "y": edge_y,
                    "line": {"color": GREY},
                    "hoverinfo": "skip",
                    "showlegend": False,
                },
                {
                    "type": "scatter",
                    "mode": "markers+text",
                    "name": t("split"),
                    "x": [xs[i] for i in inner],
                    "y": [-nodes[i][0] for i in inner],
                    "text": [nodes[i][1] for i in inner],
                    "textposition": "top center",
                    "marker": {"color": BLUE, "size": 10, "symbol": "square"},
                },
                {
                    "type": "scatter",
                    "mode": "markers+text",
                    "name": t("leaf: expected gain of treating"),
                    "x": [xs[i] for i in leaves],
                    "y": [-nodes[i][0] for i in leaves],
                    "text": gain_text,
                    "textposition": "bottom center",
                    "marker": {"color": GREEN, "size": 12},
                },
            ],
            "layout": _layout(
                height=height,
                xaxis={"visible": False, "range": [-0.7, leaf_x - 0.3]},
                yaxis={"visible": False, "range": [-(max(d for d, _, _ in nodes)) - 0.7, 0.5]},
            ),
        }
        share = _number(e.diagnostics.get("share_recommended_treatment"))
        views.append(
            View(
                key=f"policy_tree_{e.method}",
                kind="policy_tree",
                method=e.method,
                section="heterogeneity",
                title=t("Policy tree ({method})", method=e.method),
                caption=t(
                    "The rule {method} learnt: follow the splits from the top; each leaf shows the expected "
                    "gain of treating the units that reach it. Leaves with a negative gain are best left "
                    "untreated. The rule recommends treatment for {share} of units.",
                    method=e.method,
                    share=t.percent(share),
                ),
                figure=figure,
                height=height,
            )
        )
        everyone = _number(e.diagnostics.get("gain_treat_everyone"))
        if everyone is not None and is_finite(e.estimate):
            views.append(
                View(
                    key=f"policy_value_{e.method}",
                    kind="policy_value",
                    method=e.method,
                    section="heterogeneity",
                    title=t("Value of the policy ({method})", method=e.method),
                    caption=t(
                        "Mean gain per unit of following the tree's rule against treating everyone and "
                        "treating no one (0), estimated on held-out folds, net of the treatment cost."
                    ),
                    figure={
                        "data": [
                            {
                                "type": "bar",
                                "x": [t("treat no one"), t("treat everyone"), t("follow the tree")],
                                "y": [0.0, everyone, e.estimate],
                                "marker": {"color": [GREY, BLUE, GREEN]},
                                "hovertemplate": "%{x}: %{y:.3f}<extra></extra>",
                            }
                        ],
                        "layout": _layout("", t("Mean gain per unit"), height=360),
                    },
                    height=360,
                )
            )
    return views


# --- sensitivity ---------------------------------------------------------------------------


def _adjusted(panel: SensitivityPanel, r2dz: float, r2yz: float) -> float:
    ovb = panel.omitted_variable_bias
    assert ovb is not None
    shift = ovb.std_error * math.sqrt(ovb.dof * r2yz * r2dz / (1 - r2dz))
    return math.copysign(abs(ovb.estimate) - shift, ovb.estimate) if ovb.estimate else -shift


def sensitivity_contour(ev: Evidence, t: Language) -> list[View]:
    """Cinelli-Hazlett contours of the adjusted estimate over a confounder's partial R²s."""
    panel = next((p for p in ev.event.sensitivity if p.omitted_variable_bias is not None), None)
    if panel is None or panel.omitted_variable_bias is None:
        return []
    ovb = panel.omitted_variable_bias
    reach = max([0.4, *(1.2 * b.r2dz_x for b in ovb.bounds), *(1.2 * b.r2yz_dx for b in ovb.bounds)])
    grid = [min(reach, 0.99) * i / 60 for i in range(61)]
    z = [[_adjusted(panel, x, y) for x in grid] for y in grid]
    figure = {
        "data": [
            {
                "type": "contour",
                "x": grid,
                "y": grid,
                "z": z,
                "colorscale": "Blues",
                "showscale": False,
                "contours": {"coloring": "lines", "showlabels": True},
                "line": {"width": 1},
                "hovertemplate": "R²(D) %{x:.2f}, R²(Y) %{y:.2f}: %{z:.3f}<extra></extra>",
                "name": t("adjusted estimate"),
            },
            {
                "type": "scatter",
                "mode": "markers+text",
                "name": t("k × the strongest covariate"),
                "x": [b.r2dz_x for b in ovb.bounds],
                "y": [b.r2yz_dx for b in ovb.bounds],
                "text": [f"{b.k:g}× {b.covariate}" for b in ovb.bounds],
                "textposition": "middle right",
                "marker": {"color": ORANGE, "symbol": "diamond", "size": 9},
            },
            {
                "type": "scatter",
                "mode": "markers",
                "name": t("no hidden confounder"),
                "x": [0],
                "y": [0],
                "marker": {"color": "black", "symbol": "triangle-up", "size": 11},
            },
        ],
        "layout": _layout(
            t("Partial R² of the confounder with the treatment"),
            t("Partial R² of the confounder with the outcome"),
            height=560,
        ),
    }
    return [
        View(
            key="sensitivity_contour",
            kind="sensitivity_contour",
            method=panel.method,
            section="sensitivity",
            title=t("Sensitivity contours (Cinelli & Hazlett), {method}", method=panel.method),
            caption=t(
                "Each line joins hidden confounders that would leave the same regression-adjusted estimate, "
                "by how much residual variance of the treatment (x) and the outcome (y) they explain. "
                "Diamonds: confounders 1, 2 and 3 times as strong as the strongest observed covariate; "
                "if they stay on the same side of zero, the sign of the effect survives them."
            ),
            figure=figure,
            height=560,
        )
    ]


def e_value(ev: Evidence, t: Language) -> list[View]:
    """The E-value curve: confounder strengths (RR with treatment and with outcome) that explain it away."""
    panel = next((p for p in ev.event.sensitivity if p.e_value is not None), None)
    if panel is None or panel.e_value is None:
        return []
    ev_ = panel.e_value
    rr = max(ev_.risk_ratio, 1 / ev_.risk_ratio) if ev_.risk_ratio else None
    if rr is None or not math.isfinite(rr) or rr <= 1:
        return []
    top = max(ev_.point * 2.5, rr * 2)
    xs = [rr * (1 + 1e-6) + (top - rr) * (i / 80) ** 2 for i in range(1, 81)]
    ys = [rr * (1 - x) / (rr - x) for x in xs]  # RR_UD * RR_EU / (RR_UD + RR_EU - 1) = RR
    curve = [(x, y) for x, y in zip(xs, ys, strict=True) if 0 < y <= top]
    figure = {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "name": t("just explains the estimate away"),
                "x": [x for x, _ in curve],
                "y": [y for _, y in curve],
                "line": {"color": BLUE, "width": 2},
            },
            {
                "type": "scatter",
                "mode": "markers+text",
                "name": t("E-value"),
                "x": [ev_.point],
                "y": [ev_.point],
                "text": [f"E = {t.number(ev_.point, 2)}"],
                "textposition": "top right",
                "marker": {"color": ORANGE, "size": 11},
            },
        ],
        "layout": _layout(
            t("Risk ratio of the confounder with the treatment"),
            t("Risk ratio of the confounder with the outcome"),
            height=460,
            xaxis={"range": [1, top]},
            yaxis={"range": [1, top]},
        ),
    }
    return [
        View(
            key="e_value",
            kind="e_value",
            method=panel.method,
            section="sensitivity",
            title=t("E-value, {method}", method=panel.method),
            caption=t(
                "A hidden confounder above the curve, associated with both treatment and outcome by these "
                "risk ratios, could explain the whole estimate away; one below it could not. The E-value "
                "({point}) is where both are equal; for the confidence limit nearest the null it is {ci}.",
                point=t.number(ev_.point, 2),
                ci=t.number(ev_.ci, 2),
            ),
            figure=figure,
            height=460,
        )
    ]


def rosenbaum(ev: Evidence, t: Language) -> list[View]:
    """Upper p-value of the matched signed-rank test against Γ."""
    panel = next((p for p in ev.event.sensitivity if p.rosenbaum is not None and p.rosenbaum.curve), None)
    if panel is None or panel.rosenbaum is None:
        return []
    bounds = panel.rosenbaum
    shapes = [_hline(bounds.alpha, ORANGE)]
    if bounds.critical_gamma is not None:
        shapes.append(_vline(bounds.critical_gamma, GREY, "dot"))
    return [
        View(
            key="rosenbaum_curve",
            kind="rosenbaum_curve",
            method=panel.method,
            section="sensitivity",
            title=t("Rosenbaum bounds, {method}", method=panel.method),
            caption=t(
                "Upper bound of the p-value of the matched-pairs test if a hidden confounder multiplied the "
                "odds of treatment within a pair by Γ. Where the curve crosses the dashed α line, bias of "
                "that size could explain the difference; the larger that Γ, the more robust the result."
            ),
            figure={
                "data": [
                    {
                        "type": "scatter",
                        "mode": "lines+markers",
                        "x": [p.gamma for p in bounds.curve],
                        "y": [p.p_upper for p in bounds.curve],
                        "marker": {"color": BLUE},
                        "name": t("upper p-value"),
                    }
                ],
                "layout": _layout(
                    "Γ",
                    t("Upper bound of the p-value"),
                    xaxis={"type": "log"},
                    yaxis={"range": [0, 1]},
                    shapes=shapes,
                ),
            },
        )
    ]


def oster(ev: Evidence, t: Language) -> list[View]:
    """Oster's coefficient stability: without covariates, with them, and the bias-adjusted β*."""
    panel = next((p for p in ev.event.sensitivity if p.oster is not None), None)
    if panel is None or panel.oster is None:
        return []
    o = panel.oster
    labels = [
        t("without covariates"),
        t("with covariates"),
        t("bias-adjusted β* (R_max {r})", r=t.number(o.r_max, 2)),
    ]
    values = _clean([o.beta_short, o.beta_long, o.beta_star])
    return [
        View(
            key="oster",
            kind="oster",
            method=panel.method,
            section="sensitivity",
            title=t("Coefficient stability (Oster), {method}", method=panel.method),
            caption=t(
                "How the regression estimate moves when the observed covariates are added, and where it "
                "would land if unobserved ones mattered as much (δ = 1) and the R² could reach R_max. A "
                "β* with the same sign and a similar size means the estimate is stable; δ = {delta} is "
                "how much stronger the unobserved would have to be to bring it to zero.",
                delta=t.number(o.delta, 2),
            ),
            figure={
                "data": [
                    {
                        "type": "bar",
                        "x": labels,
                        "y": values,
                        "marker": {"color": [GREY, BLUE, ORANGE]},
                        "hovertemplate": "%{x}: %{y:.3f}<extra></extra>",
                    }
                ],
                "layout": _layout("", t("Estimated effect"), height=380, shapes=[_hline(0.0, GREY, "solid")]),
            },
            height=380,
        )
    ]


# --- checks --------------------------------------------------------------------------------


def refuters(ev: Evidence, t: Language) -> list[View]:
    """Every refutation: the refuted estimate with its interval against what it should equal."""
    items = [r for r in ev.event.refutations if r.error is None and is_finite(r.refuted_estimate)]
    if not items:
        return []
    gates = {g.name: g for g in ev.event.gates}
    passed = {name: g.passed for name, g in gates.items()}
    labels = [f"{r.method} · {r.refuter}" for r in items]
    # The change is the estimator's English words; other languages read the refuter's gate message.
    hover = [
        r.change
        if t.code == "en" or (gate := gates.get(f"{r.refuter}[{r.method}]")) is None
        else gate_message(gate, t)[:240]
        for r in items
    ]
    expected = [0.0 if r.expectation == "zero" else r.estimate for r in items]
    ok = [passed.get(f"{r.refuter}[{r.method}]", True) for r in items]
    half = [1.96 * r.refuted_std_error if is_finite(r.refuted_std_error) else 0.0 for r in items]  # type: ignore[operator]
    height = _rows_height(len(items), per_row=26)
    return [
        View(
            key="refuters",
            kind="refuters",
            method=",".join(dict.fromkeys(r.method for r in items)),
            section="checks",
            title=t("Refutation checks"),
            caption=t(
                "Each row reruns a method on deliberately changed data: a permuted treatment, a placebo "
                "outcome or adoption date (should give zero), an added random covariate or a subsample "
                "(should leave the estimate unchanged). Hollow grey: what the rerun should give; dot and "
                "whisker: what it gave, with its 95 % interval. Orange rows failed their gate."
            ),
            figure={
                "data": [
                    {
                        "type": "scatter",
                        "mode": "markers",
                        "name": t("expected"),
                        "x": expected,
                        "y": labels,
                        "marker": {"color": GREY, "symbol": "circle-open", "size": 11},
                    },
                    {
                        "type": "scatter",
                        "mode": "markers",
                        "name": t("refuted estimate"),
                        "x": [r.refuted_estimate for r in items],
                        "y": labels,
                        "marker": {"color": [BLUE if good else ORANGE for good in ok], "size": 8},
                        "error_x": {"type": "data", "array": half, "color": BLUE},
                        "text": hover,
                        "hovertemplate": "%{y}: %{x:.3f}<br>%{text}<extra></extra>",
                    },
                ],
                "layout": _layout(t("Estimate"), height=height, yaxis={"type": "category"}),
            },
            height=height,
        )
    ]


def refuters_not_run(ev: Evidence, t: Language) -> list[View]:
    """The refutation checks that do not apply to a method, one row per check and reason, with the
    methods it leaves out: a missing row of the refutation figure is explained, not left to guess."""
    methods: dict[tuple[str, str], list[str]] = {}
    for r in ev.event.refutations:
        if r.not_applicable:
            methods.setdefault((r.refuter, r.not_applicable), []).append(r.method)
    if not methods:
        return []
    rows = [
        [refuter.replace("_", " "), ", ".join(dict.fromkeys(names)), reason]
        for (refuter, reason), names in methods.items()
    ]
    return [
        View(
            key="refuters_not_run",
            kind="refuters_not_run",
            method="",
            section="checks",
            title=t("Refutation checks that do not apply"),
            caption=t(
                "Checks the estimator did not run for these methods, with its reason (in English, as "
                "the estimator words it). Some need a role the analysis lacks, such as a pre-treatment "
                "outcome; mapping it and running the analysis again adds the check."
            ),
            table=TableView([t("Check"), t("Methods"), t("Why it does not apply")], rows),
        )
    ]


def gates_board(ev: Evidence, t: Language) -> list[View]:
    """Every quality gate as a tile: passed, failed (by severity), grouped by category."""
    gates = ev.event.gates
    if not gates:
        return []
    colour = {"error": ORANGE, "warning": YELLOW, "info": SKY}
    columns = 5
    xs, ys, colours, texts, names = [], [], [], [], []
    for i, gate in enumerate(gates):
        xs.append(i % columns)
        ys.append(-(i // columns))
        colours.append(GREEN if gate.passed else colour.get(gate.severity, ORANGE))
        names.append(gate.name if len(gate.name) <= 20 else gate.name[:19] + "…")
        texts.append(
            f"{gate.name} ({gate.category}): {t('passed') if gate.passed else t('failed')}<br>{gate_message(gate, t)[:160]}"
        )
    n_rows = -min(ys) + 1
    height = 120 + 62 * n_rows
    return [
        View(
            key="gates_board",
            kind="gates_board",
            method="",
            section="checks",
            title=t("Quality gates board"),
            caption=t(
                "One tile per gate, data gates first: green passed, orange failed as an error, yellow as a "
                "warning, light blue as information. Hover a tile for the gate's message; the tables "
                "below give values and thresholds."
            ),
            figure={
                "data": [
                    {
                        "type": "scatter",
                        "mode": "markers+text",
                        "x": xs,
                        "y": ys,
                        "text": names,
                        "textposition": "bottom center",
                        "textfont": {"size": 10},
                        "hovertext": texts,
                        "hoverinfo": "text",
                        "marker": {"color": colours, "size": 22, "symbol": "square"},
                        "showlegend": False,
                    }
                ],
                "layout": _layout(
                    height=height,
                    xaxis={"visible": False, "range": [-0.6, columns - 0.4]},
                    yaxis={"visible": False, "range": [min(ys) - 0.7, 0.5]},
                ),
            },
            height=height,
        )
    ]


# --- designs -------------------------------------------------------------------------------


def _event_points(
    d: Mapping[str, float | str | None],
) -> list[tuple[int, float, float | None, float | None, float | None]]:
    points = []
    for key, value in d.items():
        match = re.fullmatch(r"att_event_(-?\d+)", key)
        if match and (effect := _number(value)) is not None:
            e = match.group(1)
            points.append(
                (
                    int(e),
                    effect,
                    _number(d.get(f"se_event_{e}")),
                    _number(d.get(f"att_event_{e}_band_lower")),
                    _number(d.get(f"att_event_{e}_band_upper")),
                )
            )
    return sorted(points)


def event_study(ev: Evidence, t: Language) -> list[View]:
    """Effect by period since adoption with pointwise intervals and the simultaneous band."""
    views = []
    for e in ev.event.estimates:
        points = _event_points(e.diagnostics)
        if len(points) < 2:
            continue
        times = [p[0] for p in points]
        data: list[dict[str, Any]] = []
        if all(p[3] is not None and p[4] is not None for p in points):
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": times + times[::-1],
                    "y": [p[4] for p in points] + [p[3] for p in points][::-1],
                    "fill": "toself",
                    "fillcolor": "rgba(0,114,178,0.15)",
                    "line": {"width": 0, "color": "rgba(0,114,178,0.15)"},
                    "name": t("95 % simultaneous band"),
                    "hoverinfo": "skip",
                }
            )
        data.append(
            {
                "type": "scatter",
                "mode": "markers+lines",
                "x": times,
                "y": [p[1] for p in points],
                "name": t("effect, 95 % pointwise interval"),
                "marker": {"color": BLUE, "size": 8},
                "line": {"color": BLUE, "width": 1},
                "error_y": {
                    "type": "data",
                    "array": [1.96 * p[2] if p[2] is not None else 0 for p in points],
                    "color": BLUE,
                },
            }
        )
        shapes = [_hline(0.0, GREY, "solid")]
        if times[0] < 0:
            shapes.append(_vline(-0.5))
        synthetic = e.method == "synthetic_control"
        views.append(
            View(
                key=f"event_study_{e.method}",
                kind="synthetic_gap" if synthetic else "event_study",
                method=e.method,
                section="design",
                title=t("Treated minus synthetic control by period ({method})", method=e.method)
                if synthetic
                else t("Effect by time since adoption ({method})", method=e.method),
                caption=t(
                    "Each point is the effect that many periods from adoption, whiskers its 95 % interval "
                    "alone; the shaded band, when shown, covers every point at once. Points before the "
                    "dashed line are placebos and should sit on zero; a rising pattern after it means the "
                    "effect grows with exposure, which biases two-way fixed effects."
                ),
                figure={
                    "data": data,
                    "layout": _layout(
                        t("Periods since adoption"),
                        t("Effect"),
                        height=440,
                        shapes=shapes,
                        xaxis={"dtick": 1},
                    ),
                },
                height=440,
            )
        )
    return views


def twfe_weights(ev: Evidence, t: Language) -> list[View]:
    """Share of TWFE's implicit weights that are negative (de Chaisemartin & D'Haultfœuille)."""
    e = next(
        (e for e in ev.event.estimates if _number(e.diagnostics.get("negative_weight_share")) is not None),
        None,
    )
    if e is None:
        return []
    share = _number(e.diagnostics.get("negative_weight_share"))
    assert share is not None
    return [
        View(
            key="twfe_negative_weights",
            kind="twfe_negative_weights",
            method=e.method,
            section="design",
            title=t("Two-way fixed effects: negative weights"),
            caption=t(
                "Two-way fixed effects average the treated cells' effects with implicit weights; with "
                "staggered adoption some are negative (already-treated units act as controls). Here "
                "{share} of the treated cells get a negative weight: above zero, a heterogeneous or growing "
                "effect can bias TWFE, even flip its sign, and the cohort-based estimate (cs_did) is safer.",
                share=t.percent(share),
            ),
            figure={
                "data": [
                    {
                        "type": "bar",
                        "orientation": "h",
                        "y": [t("treated cells")],
                        "x": [1 - share],
                        "name": t("positive weight"),
                        "marker": {"color": BLUE},
                    },
                    {
                        "type": "bar",
                        "orientation": "h",
                        "y": [t("treated cells")],
                        "x": [share],
                        "name": t("negative weight"),
                        "marker": {"color": ORANGE},
                    },
                ],
                "layout": _layout(
                    t("Share of treated cells"),
                    height=220,
                    barmode="stack",
                    xaxis={"range": [0, 1], "tickformat": ".0%"},
                ),
            },
            height=220,
        )
    ]


def _rd_fit(d: Mapping[str, float | str | None], side: str) -> list[tuple[float, float]]:
    points = []
    for j in range(50):
        x, y = _number(d.get(f"rd_plot_fit_{side}_{j}_x")), _number(d.get(f"rd_plot_fit_{side}_{j}_y"))
        if x is None or y is None:
            break
        points.append((x, y))
    return sorted(points)


def rd_plot(ev: Evidence, t: Language) -> list[View]:
    """Binned outcome means around the cutoff with the local fits on each side."""
    for e in ev.event.estimates:
        left, right = _rd_fit(e.diagnostics, "left"), _rd_fit(e.diagnostics, "right")
        if left and right:
            break
    else:
        return []
    d = e.diagnostics
    bins = [
        (x, y, n)
        for k in range(30)
        if (x := _number(d.get(f"rd_plot_bin_{k}_x"))) is not None
        and (y := _number(d.get(f"rd_plot_bin_{k}_y"))) is not None
        for n in [_number(d.get(f"rd_plot_bin_{k}_n")) or 1.0]
    ]
    cutoff = _number(d.get("cutoff"))
    roles = ev.event.roles
    largest = max((n for *_, n in bins), default=1.0)
    data = [
        {
            "type": "scatter",
            "mode": "markers",
            "name": t("binned means (size: rows)"),
            "x": [b[0] for b in bins],
            "y": [b[1] for b in bins],
            "marker": {"color": GREY, "size": [6 + 10 * n / largest for *_, n in bins]},
            "text": [t.number(n, 0) for *_, n in bins],
            "hovertemplate": "%{x:.3f}: %{y:.3f} (n %{text})<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": t("local fit, left"),
            "x": [p[0] for p in left],
            "y": [p[1] for p in left],
            "line": {"color": BLUE, "width": 3},
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": t("local fit, right"),
            "x": [p[0] for p in right],
            "y": [p[1] for p in right],
            "line": {"color": BLUE, "width": 3},
        },
    ]
    shapes = [_vline(cutoff)] if cutoff is not None else []
    if cutoff is not None:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": t("jump at the cutoff"),
                "x": [cutoff, cutoff],
                "y": [left[-1][1], right[0][1]],
                "line": {"color": ORANGE, "width": 4},
            }
        )
    return [
        View(
            key="rd_plot",
            kind="rd_plot",
            method=e.method,
            section="design",
            title=t("Regression discontinuity: jump at the cutoff ({method})", method=e.method),
            caption=t(
                "Dots are mean outcomes in equal-width bins of the running variable (larger: more rows); "
                "the lines are local polynomial fits within the bandwidth on each side, and the orange "
                "jump between them at the dashed cutoff is the estimated effect (divided by the jump in "
                "the share treated in a fuzzy design)."
            ),
            figure={
                "data": data,
                "layout": _layout(
                    roles.running_variable or t("running variable"),
                    roles.outcome or t("outcome"),
                    height=480,
                    shapes=shapes,
                ),
            },
            height=480,
        )
    ]


def rd_density(ev: Evidence, t: Language) -> list[View]:
    """Histogram of the running variable around the cutoff (manipulation shows as a heap)."""
    roles, data = ev.event.roles, ev.data
    if data is None or not roles.running_variable or roles.running_variable not in data:
        return []
    e = next((e for e in ev.event.estimates if _number(e.diagnostics.get("cutoff")) is not None), None)
    cutoff = _number(e.diagnostics.get("cutoff")) if e is not None else roles.cutoff
    if cutoff is None:
        return []
    values = pd.to_numeric(data[roles.running_variable], errors="coerce").dropna().to_numpy()
    if values.size < 10:
        return []
    span = max(cutoff - values.min(), values.max() - cutoff)
    edges = np.linspace(cutoff - span, cutoff + span, 41)  # a bin edge on the cutoff
    counts, _ = np.histogram(values, bins=edges)
    centres = ((edges[:-1] + edges[1:]) / 2).tolist()
    p = _number(e.diagnostics.get("density_test_p")) if e is not None else None
    return [
        View(
            key="rd_density",
            kind="rd_density",
            method=e.method if e is not None else "",
            section="design",
            title=t("Density of the running variable at the cutoff"),
            caption=t(
                "Rows per bin of {running}; bins end exactly at the cutoff. If units could push themselves "
                "over the threshold, a heap would sit just on the treated side and a dip just below it. "
                "The density test's p-value is {p} (small: manipulation).",
                running=roles.running_variable,
                p=t.number(p, 3),
            ),
            figure={
                "data": [
                    {
                        "type": "bar",
                        "x": centres,
                        "y": counts.tolist(),
                        "width": float(edges[1] - edges[0]),
                        "marker": {"color": [BLUE if c < cutoff else ORANGE for c in centres]},
                        "name": t("rows"),
                        "hovertemplate": "%{x:.3f}: %{y}<extra></extra>",
                    }
                ],
                "layout": _layout(roles.running_variable, t("Rows"), shapes=[_vline(cutoff)], bargap=0.02),
            },
        )
    ]


def rd_covariates(ev: Evidence, t: Language) -> list[View]:
    """Binned means of each covariate (standardised) around the cutoff: they should not jump."""
    roles, data = ev.event.roles, ev.data
    if data is None or not roles.running_variable or roles.running_variable not in data:
        return []
    cutoff = next(
        (c for e in ev.event.estimates if (c := _number(e.diagnostics.get("cutoff"))) is not None),
        roles.cutoff,
    )
    covariates = [c for c in roles.covariates if c in data and pd.api.types.is_numeric_dtype(data[c])]
    if cutoff is None or not covariates:
        return []
    running = pd.to_numeric(data[roles.running_variable], errors="coerce")
    span = float(max(cutoff - running.min(), running.max() - cutoff))
    edges = np.linspace(cutoff - span, cutoff + span, 31)
    bin_of = pd.cut(running, [float(edge) for edge in edges], include_lowest=True, right=False)
    colours = [BLUE, ORANGE, GREEN, PURPLE, YELLOW, SKY]
    traces = []
    for i, covariate in enumerate(covariates[:6]):
        values = pd.to_numeric(data[covariate], errors="coerce")
        sd = float(values.std()) or 1.0
        means = ((values - values.mean()) / sd).groupby(bin_of, observed=False).mean()
        centres = [float(interval.mid) for interval in means.index]
        traces.append(
            {
                "type": "scatter",
                "mode": "markers+lines",
                "name": covariate,
                "x": centres,
                "y": _clean([float(v) if pd.notna(v) else None for v in means.to_numpy()]),
                "line": {"color": colours[i % len(colours)], "width": 1},
                "marker": {"size": 6},
            }
        )
    e = next((e for e in ev.event.estimates if "covariate_jump_min_p" in e.diagnostics), None)
    p = _number(e.diagnostics.get("covariate_jump_min_p")) if e is not None else None
    return [
        View(
            key="rd_covariates",
            kind="rd_covariate_placebo",
            method=e.method if e is not None else "",
            section="design",
            title=t("Covariates at the cutoff (placebo jumps)"),
            caption=t(
                "Binned means of each covariate, in standard deviations, on both sides of the cutoff. A "
                "covariate fixed before treatment cannot be moved by it, so a jump at the dashed line "
                "means the units just above and below differ: the design's comparison is then suspect. "
                "Smallest p-value of the covariate jump tests: {p}.",
                p=t.number(p, 3),
            ),
            figure={
                "data": traces,
                "layout": _layout(
                    roles.running_variable,
                    t("Covariate mean (SD units)"),
                    height=440,
                    shapes=[_vline(cutoff)],
                ),
            },
            height=440,
        )
    ]


def _ever_treated(ev: Evidence) -> pd.Series | None:
    roles, data = ev.event.roles, ev.data
    if data is None or not roles.treatment or roles.treatment not in data:
        return None
    treatment = data[roles.treatment]
    if roles.treatment_coding:
        treatment = treatment.astype(str).map(roles.treatment_coding)
    numeric = pd.to_numeric(treatment, errors="coerce")
    if numeric.dropna().nunique() != 2:
        return None
    return (numeric == numeric.max()).astype(float).where(numeric.notna())


def raw_trends(ev: Evidence, t: Language) -> list[View]:
    """Mean outcome by period for units ever treated and never treated."""
    roles, data = ev.event.roles, ev.data
    treated = _ever_treated(ev)
    if data is None or treated is None or not (roles.unit and roles.time and roles.outcome):
        return []
    if not {roles.unit, roles.time, roles.outcome} <= set(data.columns):
        return []
    frame = pd.DataFrame(
        {
            "unit": data[roles.unit],
            "time": data[roles.time],
            "y": pd.to_numeric(data[roles.outcome], errors="coerce"),
            "d": treated,
        }
    )
    ever = frame.groupby("unit")["d"].transform("max")
    first = frame[frame["d"] == 1].groupby("time").size()
    means = frame.assign(group=ever).groupby(["group", "time"])["y"].mean()
    traces = []
    for group, colour, name in ((1.0, ORANGE, t("ever treated")), (0.0, BLUE, t("never treated"))):
        if group in means.index.get_level_values(0):
            series = means.loc[group]
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": name,
                    "x": [str(x) for x in series.index],
                    "y": _clean(series.tolist()),
                    "line": {"color": colour},
                }
            )
    if len(traces) < 2:
        return []
    shapes = []
    if len(first):
        shapes.append({**_vline(0.0), "x0": str(first.index.min()), "x1": str(first.index.min())})
    rollout = frame.groupby("time")["d"].mean()
    return [
        View(
            key="raw_trends",
            kind="raw_trends",
            method="",
            section="design",
            title=t("Raw outcome over time by group"),
            caption=t(
                "Mean {outcome} in each period for units that are ever treated and units that never are, "
                "before any model. Difference-in-differences needs the two lines to run parallel before "
                "treatment starts (dashed line: the first period anyone is treated); the gap opening "
                "after it is what the estimators measure.",
                outcome=roles.outcome,
            ),
            figure={
                "data": traces,
                "layout": _layout(
                    roles.time, roles.outcome, height=420, shapes=shapes, xaxis={"type": "category"}
                ),
            },
        ),
        View(
            key="treatment_rollout",
            kind="treatment_rollout",
            method="",
            section="design",
            title=t("Treatment roll-out"),
            caption=t(
                "Share of units treated in each period. One step: every treated unit starts together "
                "(classic difference-in-differences); a staircase: staggered adoption, where two-way "
                "fixed effects need care and the cohort-based methods are built for it."
            ),
            figure={
                "data": [
                    {
                        "type": "bar",
                        "x": [str(x) for x in rollout.index],
                        "y": _clean(rollout.tolist()),
                        "marker": {"color": ORANGE},
                        "name": t("share treated"),
                    }
                ],
                "layout": _layout(
                    roles.time,
                    t("Share of units treated"),
                    height=340,
                    yaxis={"range": [0, 1], "tickformat": ".0%"},
                    xaxis={"type": "category"},
                ),
            },
            height=340,
        ),
    ]


def outcome_by_arm(ev: Evidence, t: Language) -> list[View]:
    """Histogram of the outcome for treated and control rows (cross-sections)."""
    roles, data = ev.event.roles, ev.data
    treated = _ever_treated(ev)
    if data is None or treated is None or not roles.outcome or roles.outcome not in data:
        return []
    if roles.time or roles.running_variable:  # panels and RD have their own raw-data views
        return []
    outcome = pd.to_numeric(data[roles.outcome], errors="coerce")
    usable = outcome.notna() & treated.notna()
    if usable.sum() < 10:
        return []
    edges = np.histogram_bin_edges(outcome[usable], bins=40)
    centres = ((edges[:-1] + edges[1:]) / 2).tolist()
    traces = []
    for arm, value in (("control", 0.0), ("treated", 1.0)):
        counts, _ = np.histogram(outcome[usable & (treated == value)], bins=edges)
        share = counts / max(counts.sum(), 1)
        traces.append(
            {
                "type": "bar",
                "x": centres,
                "y": share.tolist(),
                "name": t(arm),
                "opacity": 0.6,
                "width": float(edges[1] - edges[0]),
                "marker": {"color": ARM_COLOURS[arm]},
            }
        )
    return [
        View(
            key="outcome_by_arm",
            kind="outcome_by_arm",
            method="",
            section="design",
            title=t("Outcome by arm, unadjusted"),
            caption=t(
                "Share of treated and control rows in each range of {outcome}, before any adjustment. "
                "The shift between the two is the naive difference; the adjusted estimates above say how "
                "much of it the treatment causes. Click an arm in the legend to hide it.",
                outcome=roles.outcome,
            ),
            figure={
                "data": traces,
                "layout": _layout(
                    roles.outcome, t("Share of the arm's rows"), barmode="overlay", bargap=0.02
                ),
            },
        )
    ]


def unit_map(ev: Evidence, t: Language) -> list[View]:
    """Units on a map (longitude, latitude) coloured by arm, sampled for drawing."""
    roles, data = ev.event.roles, ev.data
    treated = _ever_treated(ev)
    if data is None or treated is None or not (roles.latitude and roles.longitude):
        return []
    if not {roles.latitude, roles.longitude} <= set(data.columns):
        return []
    frame = pd.DataFrame(
        {
            "lat": pd.to_numeric(data[roles.latitude], errors="coerce"),
            "lon": pd.to_numeric(data[roles.longitude], errors="coerce"),
            "d": treated,
        }
    ).dropna()
    if frame.empty:
        return []
    shown = frame.sample(MAX_POINTS, random_state=0) if len(frame) > MAX_POINTS else frame
    traces = [
        {
            "type": "scatter",
            "mode": "markers",
            "name": t(arm),
            "x": shown.loc[shown["d"] == v, "lon"].tolist(),
            "y": shown.loc[shown["d"] == v, "lat"].tolist(),
            "marker": {"color": ARM_COLOURS[arm], "size": 5, "opacity": 0.7},
        }
        for arm, v in (("control", 0.0), ("treated", 1.0))
    ]
    return [
        View(
            key="unit_map",
            kind="unit_map",
            method="",
            section="design",
            title=t("Units on the map"),
            caption=t(
                "Each unit at its coordinates, treated in orange ({shown} of {n} drawn). Clusters of "
                "treated units next to controls are where spillovers can bias a comparison that ignores "
                "distance.",
                shown=t.number(len(shown), 0),
                n=t.number(len(frame), 0),
            ),
            figure={
                "data": traces,
                "layout": _layout(t("Longitude"), t("Latitude"), height=520, yaxis={"scaleanchor": "x"}),
            },
            height=520,
        )
    ]


def spillover_radius(ev: Evidence, t: Language) -> list[View]:
    """Direct and spillover estimates at half, the chosen and twice the exposure radius."""
    for e in ev.event.estimates:
        d = e.diagnostics
        spill = _number(d.get("spillover_effect"))
        radius = _number(d.get("radius_km"))
        if spill is None or radius is None:
            continue
        radii = [0.5 * radius, radius, 2 * radius]
        direct = [
            _number(d.get("direct_at_half_radius")),
            e.estimate,
            _number(d.get("direct_at_double_radius")),
        ]
        spillover = [
            _number(d.get("spillover_at_half_radius")),
            spill,
            _number(d.get("spillover_at_double_radius")),
        ]
        return [
            View(
                key=f"spillover_radius_{e.method}",
                kind="spillover_radius",
                method=e.method,
                section="design",
                title=t("Direct and spillover effect by exposure radius"),
                caption=t(
                    "The direct effect of a unit's own treatment and the spillover from treated "
                    "neighbours, with the exposure radius halved, as chosen ({radius} km) and doubled. "
                    "Lines that stay flat mean the answer does not hinge on how far interference is "
                    "assumed to reach.",
                    radius=t.number(radius, 2),
                ),
                figure={
                    "data": [
                        {
                            "type": "scatter",
                            "mode": "lines+markers",
                            "name": t("direct effect"),
                            "x": radii,
                            "y": _clean(direct),
                            "line": {"color": BLUE},
                        },
                        {
                            "type": "scatter",
                            "mode": "lines+markers",
                            "name": t("spillover effect"),
                            "x": radii,
                            "y": _clean(spillover),
                            "line": {"color": ORANGE},
                        },
                    ],
                    "layout": _layout(
                        t("Exposure radius (km)"), t("Estimated effect"), shapes=[_hline(0.0, GREY, "solid")]
                    ),
                },
            )
        ]
    return []


def exposure_by_arm(ev: Evidence, t: Language) -> list[View]:
    """How exposure to treated neighbours spreads among treated and control units."""
    views = []
    for e in ev.event.estimates:
        d = e.diagnostics
        counts = {
            arm: [_number(d.get(f"exposure_bin_{k}_{arm}")) for k in range(10)]
            for arm in ("treated", "control")
        }
        if any(v is None for values in counts.values() for v in values):
            continue
        radius = _number(d.get("radius_km"))
        exposed = [
            _number(d.get(f"controls_exposed_at_{name}_radius")) for name in ("half", "chosen", "double")
        ]
        labels = [f"{k * 10}–{(k + 1) * 10} %" for k in range(10)]
        views.append(
            View(
                key=f"exposure_by_arm_{e.method}",
                kind="exposure_by_arm",
                method=e.method,
                section="design",
                title=t("Exposure to treated neighbours by arm ({method})", method=e.method),
                caption=t(
                    "Units counted by the share of their neighbours within {radius} km that are treated, "
                    "treated units in orange and controls in blue. The spillover is estimated from how "
                    "outcomes change along this axis, so both arms need units spread over it. Control "
                    "units with any treated neighbour: {half} at half the radius, {chosen} at it, {double} "
                    "at twice it; they are the comparisons a naive estimate gets wrong.",
                    radius=t.number(radius, 2),
                    half=t.percent(exposed[0]),
                    chosen=t.percent(exposed[1]),
                    double=t.percent(exposed[2]),
                ),
                figure={
                    "data": [
                        {
                            "type": "bar",
                            "x": labels,
                            "y": counts[arm],
                            "name": t(arm),
                            "marker": {"color": ARM_COLOURS[arm]},
                        }
                        for arm in ("control", "treated")
                    ],
                    "layout": _layout(
                        t("Treated share of neighbours"),
                        t("Units"),
                        barmode="group",
                        xaxis={"type": "category"},
                    ),
                },
            )
        )
    return views


def donor_weights(ev: Evidence, t: Language) -> list[View]:
    """The synthetic control's donor weights."""
    for e in ev.event.estimates:
        text = e.diagnostics.get("top_donor_weights")
        if not isinstance(text, str) or not text:
            continue
        pairs = [
            (name.strip(), float(w))
            for name, w in (item.rsplit(":", 1) for item in text.split(", ") if ":" in item)
        ]
        if not pairs:
            continue
        pairs = pairs[:25][::-1]
        height = _rows_height(len(pairs), per_row=24)
        return [
            View(
                key=f"donor_weights_{e.method}",
                kind="donor_weights",
                method=e.method,
                section="design",
                title=t("Donor weights of the synthetic control"),
                caption=t(
                    "The never-treated units the synthetic control is built from and their weights (they "
                    "sum to one). A few donors with most of the weight should be plausible look-alikes of "
                    "the treated unit; pre-period fit RMSPE {pre}, post {post}.",
                    pre=t.number(_number(e.diagnostics.get("pre_rmspe"))),
                    post=t.number(_number(e.diagnostics.get("post_rmspe"))),
                ),
                figure={
                    "data": [
                        {
                            "type": "bar",
                            "orientation": "h",
                            "y": [n for n, _ in pairs],
                            "x": [w for _, w in pairs],
                            "marker": {"color": BLUE},
                            "name": t("weight"),
                        }
                    ],
                    "layout": _layout(t("Weight"), height=height, yaxis={"type": "category"}),
                },
                height=height,
            )
        ]
    return []


def iv_strength(ev: Evidence, t: Language) -> list[View]:
    """First-stage F against the weak-instrument threshold, and OLS / 2SLS / Anderson-Rubin intervals."""
    views: list[View] = []
    for e in ev.event.estimates:
        d = e.diagnostics
        f_stat = _number(d.get("first_stage_f"))
        if f_stat is None:
            continue
        threshold = _number(d.get("weak_f_threshold")) or 10.0
        views.append(
            View(
                key=f"first_stage_{e.method}",
                kind="iv_first_stage",
                method=e.method,
                section="design",
                title=t("Instrument strength (first stage), {method}", method=e.method),
                caption=t(
                    "The first-stage F statistic of the instrument on the treatment against the weak "
                    "instrument threshold ({threshold}, dashed). Below it the 2SLS interval is unreliable "
                    "and only the Anderson-Rubin set keeps its coverage. Partial R²: {r2}.",
                    threshold=t.number(threshold, 0),
                    r2=t.number(_number(d.get("first_stage_partial_r2"))),
                ),
                figure={
                    "data": [
                        {
                            "type": "bar",
                            "orientation": "h",
                            "y": ["F"],
                            "x": [f_stat],
                            "marker": {"color": GREEN if f_stat >= threshold else ORANGE},
                            "name": "F",
                        }
                    ],
                    "layout": _layout(
                        t("First-stage F"),
                        height=220,
                        shapes=[_vline(threshold, ORANGE)],
                        xaxis={"type": "log"},
                    ),
                },
                height=220,
            )
        )
        rows = [
            (t("OLS (ignores the instrument)"), _number(d.get("ols_estimate")), None, None),
            (t("2SLS with its CI"), e.estimate, e.ci_lower, e.ci_upper),
            (t("Anderson-Rubin set"), None, _number(d.get("ar_ci_lower")), _number(d.get("ar_ci_upper"))),
        ]
        traces = []
        for label, point, low, high in rows:
            if low is not None and high is not None:
                traces.append(
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "x": [low, high],
                        "y": [label, label],
                        "line": {"color": BLUE, "width": 4},
                        "showlegend": False,
                    }
                )
            if point is not None:
                traces.append(
                    {
                        "type": "scatter",
                        "mode": "markers",
                        "x": [point],
                        "y": [label],
                        "marker": {"color": ORANGE if "OLS" in label else BLUE, "size": 10},
                        "showlegend": False,
                    }
                )
        views.append(
            View(
                key=f"iv_intervals_{e.method}",
                kind="iv_intervals",
                method=e.method,
                section="design",
                title=t("OLS, 2SLS and the Anderson-Rubin set, {method}", method=e.method),
                caption=t(
                    "OLS compares treated and untreated directly; 2SLS uses only the variation the "
                    "instrument causes; the Anderson-Rubin set ({set}) is valid however weak the "
                    "instrument is. A 2SLS interval much narrower than the AR set is overconfident.",
                    set=str(d.get("ar_confidence_set") or "—"),
                ),
                figure={
                    "data": traces,
                    "layout": _layout(
                        t("Estimated effect"), height=280, shapes=[_vline(0.0)], yaxis={"type": "category"}
                    ),
                },
                height=280,
            )
        )
    return views


# --- design diagnostics drawn from per-cell estimator outputs ----------------------------------


def _period_labels(ev: Evidence) -> list[str] | None:
    """The panel's periods in time order (the estimators' period codes index them), if readable."""
    roles, data = ev.event.roles, ev.data
    if data is None or not roles.time or roles.time not in data:
        return None
    try:
        return [str(v) for v in sorted(data[roles.time].dropna().unique())]
    except TypeError:  # values that do not sort together: the period codes label the cells instead
        return None


def cohort_heatmap(ev: Evidence, t: Language) -> list[View]:
    """Cohort-by-period heat map of the group-time ATTs (Callaway-Sant'Anna)."""
    views = []
    for e in ev.event.estimates:
        cells: dict[tuple[int, int], tuple[float, float | None]] = {}
        for key, value in e.diagnostics.items():
            match = re.fullmatch(r"att_gt_(\d+)_(\d+)", key)
            if match and (att := _number(value)) is not None:
                g, period = int(match.group(1)), int(match.group(2))
                cells[g, period] = (att, _number(e.diagnostics.get(f"se_gt_{g}_{period}")))
        if len(cells) < 2:
            continue
        cohorts = sorted({g for g, _ in cells})
        periods = list(range(min(p for _, p in cells), max(p for _, p in cells) + 1))
        labels = _period_labels(ev)
        if labels is None or len(labels) <= max(max(periods), max(cohorts)):
            labels = [t("period {code}", code=str(k)) for k in range(max(max(periods), max(cohorts)) + 1)]
        rows = [
            t(
                "cohort {start} ({units} units)",
                start=labels[g],
                units=t.number(_number(e.diagnostics.get(f"cohort_units_{g}")), 0),
            )
            for g in cohorts
        ]
        z = [[cells[g, p][0] if (g, p) in cells else None for p in periods] for g in cohorts]
        se = [[t.number(cells[g, p][1]) if (g, p) in cells else "" for p in periods] for g in cohorts]
        height = _rows_height(len(cohorts), per_row=44)
        views.append(
            View(
                key=f"cohort_heatmap_{e.method}",
                kind="cohort_period_heatmap",
                method=e.method,
                section="design",
                title=t("Effect by adoption cohort and period ({method})", method=e.method),
                caption=t(
                    "Each cell is the effect on one cohort (the units first treated in the same period) in "
                    "one period, compared only with units not treated then; hover for its standard error. "
                    "Cells left of a cohort's start are placebos that should be near zero. Colours that "
                    "change along a row mean the effect grows or fades with exposure; rows that differ mean "
                    "early and late adopters gain differently, the case where two-way fixed effects mislead."
                ),
                figure={
                    "data": [
                        {
                            "type": "heatmap",
                            "z": z,
                            "x": [labels[p] for p in periods],
                            "y": rows,
                            "text": se,
                            "colorscale": "RdBu",
                            "reversescale": True,
                            "zmid": 0.0,
                            "hovertemplate": "%{y}, %{x}: %{z:.3f} (SE %{text})<extra></extra>",
                        }
                    ],
                    "layout": _layout(
                        ev.event.roles.time or t("Period"),
                        height=height,
                        xaxis={"type": "category"},
                        yaxis={"type": "category"},
                    ),
                },
                height=height,
            )
        )
    return views


def _placebo_paths(
    d: Mapping[str, float | str | None],
) -> tuple[dict[int, float], dict[int, dict[int, float]]]:
    """The treated gap path and each donor's placebo gap path, keyed by periods from adoption."""
    treated: dict[int, float] = {}
    donors: dict[int, dict[int, float]] = {}
    for key, value in d.items():
        number = _number(value)
        if number is None:
            continue
        if match := re.fullmatch(r"gap_path_(-?\d+)", key):
            treated[int(match.group(1))] = number
        elif match := re.fullmatch(r"placebo_gap_(\d+)_(-?\d+)", key):
            donors.setdefault(int(match.group(1)), {})[int(match.group(2))] = number
    return treated, donors


def placebo_spaghetti(ev: Evidence, t: Language) -> list[View]:
    """Every donor's placebo gap path in grey behind the treated unit's gap (synthetic control)."""
    views = []
    for e in ev.event.estimates:
        treated, donors = _placebo_paths(e.diagnostics)
        if len(treated) < 2 or not donors:
            continue
        traces: list[dict[str, Any]] = []
        for j, path in sorted(donors.items()):
            ks = sorted(path)
            name = str(e.diagnostics.get(f"placebo_gap_{j}_donor") or j)
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": ks,
                    "y": [path[k] for k in ks],
                    "name": name,
                    "legendgroup": "placebo",
                    "showlegend": False,
                    "line": {"color": "rgba(140,140,140,0.45)", "width": 1},
                    "hovertemplate": name + ": %{y:.3f}<extra></extra>",
                }
            )
        traces[0]["showlegend"] = True
        traces[0]["name"] = t("donor placebos")
        ks = sorted(treated)
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": ks,
                "y": [treated[k] for k in ks],
                "name": t("treated unit"),
                "line": {"color": ORANGE, "width": 3},
            }
        )
        views.append(
            View(
                key=f"placebo_spaghetti_{e.method}",
                kind="placebo_gap_spaghetti",
                method=e.method,
                section="design",
                title=t("Treated gap among the donors' placebo gaps ({method})", method=e.method),
                caption=t(
                    "Grey: each donor in turn treated as if it had adopted when the treated unit did, its "
                    "gap to its own synthetic control; orange: the treated unit's gap. Before adoption "
                    "(left of the dashed line) all should hug zero. After it, an orange line that leaves "
                    "the grey bundle is an effect chance rarely produces; one inside the bundle is not "
                    "distinguishable from noise ({n} placebos drawn).",
                    n=t.number(len(donors), 0),
                ),
                figure={
                    "data": traces,
                    "layout": _layout(
                        t("Periods since adoption"),
                        t("Gap: unit minus its synthetic control"),
                        height=460,
                        shapes=[_hline(0.0, GREY, "solid"), _vline(-0.5)],
                    ),
                },
                height=460,
            )
        )
    return views


def placebo_ratios(ev: Evidence, t: Language) -> list[View]:
    """Post/pre RMSPE ratio of the treated unit ranked among the donors' placebos."""
    views = []
    for e in ev.event.estimates:
        d = e.diagnostics
        treated = _number(d.get("rmspe_ratio"))
        ratios = []
        for key, value in d.items():
            match = re.fullmatch(r"placebo_rmspe_ratio_(\d+)", key)
            if match and (ratio := _number(value)) is not None:
                ratios.append((str(d.get(f"placebo_gap_{match.group(1)}_donor") or match.group(1)), ratio))
        if treated is None or not ratios:
            continue
        rows = sorted([*ratios, (t("treated unit"), treated)], key=lambda r: r[1])
        height = _rows_height(len(rows), per_row=18)
        views.append(
            View(
                key=f"placebo_ratios_{e.method}",
                kind="placebo_rmspe_ratio",
                method=e.method,
                section="design",
                title=t("How unusual the treated unit's gap is ({method})", method=e.method),
                caption=t(
                    "Each bar: a unit's root mean squared gap after adoption divided by the one before, the "
                    "treated unit in orange, each donor's placebo in grey. Dividing by the pre-period fit "
                    "keeps badly fitted donors from looking like effects. The treated bar's rank is the "
                    "permutation p-value: {p}.",
                    p=t.number(_number(d.get("placebo_p_value"))),
                ),
                figure={
                    "data": [
                        {
                            "type": "bar",
                            "orientation": "h",
                            "y": [name for name, _ in rows],
                            "x": [ratio for _, ratio in rows],
                            "marker": {
                                "color": [ORANGE if name == t("treated unit") else GREY for name, _ in rows]
                            },
                            "name": t("post/pre RMSPE ratio"),
                        }
                    ],
                    "layout": _layout(
                        t("Post- over pre-adoption RMSPE"), height=height, yaxis={"type": "category"}
                    ),
                },
                height=height,
            )
        )
    return views


def _indexed(
    d: Mapping[str, float | str | None], prefix: str, fields: Sequence[str]
) -> list[list[float | None]]:
    """Rows `{prefix}_{k}_{field}` for k = 0, 1, ... while the first field exists."""
    rows = []
    k = 0
    while (first := _number(d.get(f"{prefix}_{k}_{fields[0]}"))) is not None:
        rows.append([first, *(_number(d.get(f"{prefix}_{k}_{f}")) for f in fields[1:])])
        k += 1
    return rows


def rd_bandwidths(ev: Evidence, t: Language) -> list[View]:
    """RD estimate and robust CI over a grid of bandwidths around the chosen one."""
    views = []
    for e in ev.event.estimates:
        grid = _indexed(e.diagnostics, "bandwidth_grid", ("h", "estimate", "ci_lower", "ci_upper"))
        chosen = _number(e.diagnostics.get("bandwidth_h_left"))
        if len(grid) < 3 or chosen is None:
            continue
        hs = [row[0] for row in grid]
        views.append(
            View(
                key=f"rd_bandwidths_{e.method}",
                kind="rd_bandwidth_sensitivity",
                method=e.method,
                section="design",
                title=t("Estimate by bandwidth ({method})", method=e.method),
                caption=t(
                    "The jump at the cutoff re-estimated with the bandwidth (how far from the cutoff rows "
                    "are used) from half to twice the data-driven choice ({h}, dashed), with its robust 95 % "
                    "interval. Narrow bandwidths are less biased but noisier. An estimate that drifts "
                    "steadily with the bandwidth means curvature the local fit does not capture.",
                    h=t.number(chosen),
                ),
                figure={
                    "data": [
                        {
                            "type": "scatter",
                            "mode": "lines",
                            "x": hs + hs[::-1],
                            "y": _clean([r[3] for r in grid] + [r[2] for r in grid][::-1]),  # type: ignore[misc]
                            "fill": "toself",
                            "fillcolor": "rgba(0,114,178,0.15)",
                            "line": {"width": 0, "color": "rgba(0,114,178,0.15)"},
                            "name": t("robust 95 % interval"),
                            "hoverinfo": "skip",
                        },
                        {
                            "type": "scatter",
                            "mode": "lines+markers",
                            "x": hs,
                            "y": [r[1] for r in grid],
                            "name": t("estimate"),
                            "marker": {"color": BLUE, "size": 8},
                            "line": {"color": BLUE},
                        },
                    ],
                    "layout": _layout(
                        t("Bandwidth"),
                        t("Estimated jump at the cutoff"),
                        shapes=[_hline(0.0, GREY, "solid"), _vline(chosen, ORANGE)],
                    ),
                },
            )
        )
    return views


def rd_placebo_cutoffs(ev: Evidence, t: Language) -> list[View]:
    """RD estimates at fake cutoffs on either side of the real one, where no jump should be."""
    views = []
    for e in ev.event.estimates:
        grid = _indexed(e.diagnostics, "placebo_cutoff", ("at", "estimate", "ci_lower", "ci_upper"))
        cutoff = _number(e.diagnostics.get("cutoff"))
        if len(grid) < 2 or cutoff is None:
            continue
        rows = sorted([*grid, [cutoff, e.estimate, e.ci_lower, e.ci_upper]], key=lambda r: r[0])  # type: ignore[list-item]
        views.append(
            View(
                key=f"rd_placebo_cutoffs_{e.method}",
                kind="rd_placebo_cutoffs",
                method=e.method,
                section="design",
                title=t("Jumps at placebo cutoffs ({method})", method=e.method),
                caption=t(
                    "The same local fit at made-up cutoffs, each using only rows on one side of the real "
                    "cutoff ({cutoff}, orange dashed), with robust 95 % intervals. Nothing is assigned "
                    "there, so the placebo jumps should cover zero; jumps as large as the real one mean the "
                    "outcome is lumpy anyway and the real jump may not be the treatment.",
                    cutoff=t.number(cutoff),
                ),
                figure={
                    "data": [
                        {
                            "type": "scatter",
                            "mode": "markers",
                            "x": [r[0] for r in rows],
                            "y": [r[1] for r in rows],
                            "marker": {
                                "color": [ORANGE if r[0] == cutoff else BLUE for r in rows],
                                "size": 9,
                            },
                            "error_y": {
                                "type": "data",
                                "symmetric": False,
                                "array": [
                                    (r[3] - r[1]) if r[3] is not None and r[1] is not None else 0
                                    for r in rows
                                ],
                                "arrayminus": [
                                    (r[1] - r[2]) if r[2] is not None and r[1] is not None else 0
                                    for r in rows
                                ],
                                "color": BLUE,
                            },
                            "name": t("jump with its robust 95 % interval"),
                        }
                    ],
                    "layout": _layout(
                        ev.event.roles.running_variable or t("Running variable"),
                        t("Estimated jump"),
                        shapes=[_hline(0.0, GREY, "solid"), _vline(cutoff, ORANGE)],
                    ),
                },
            )
        )
    return views


def _targeting(d: Mapping[str, float | str | None]) -> list[list[float | None]]:
    return _indexed(d, "targeting", ("share", "qini", "toc", "toc_se"))


def qini_curve(ev: Evidence, t: Language) -> list[View]:
    """Qini curve: cumulative gain from treating the units with the largest held-out predicted effect."""
    views = []
    for e in ev.event.estimates:
        rows = _targeting(e.diagnostics)
        if len(rows) < 3:
            continue
        shares = [0.0, *(r[0] for r in rows)]
        gains = [0.0, *(r[1] for r in rows)]
        total = gains[-1] or 0.0
        views.append(
            View(
                key=f"qini_{e.method}",
                kind="qini_curve",
                method=e.method,
                section="heterogeneity",
                title=t("Qini curve: gain from targeting ({method})", method=e.method),
                caption=t(
                    "Units ranked by their predicted effect, each predicted by a fit that did not use that unit "
                    "(held-out folds, or out-of-bag trees for a forest); the curve adds up their doubly "
                    "robust effects, per unit of the whole sample, as more of the top-ranked are treated. "
                    "The dashed line treats a random share. A curve above it means the ranking finds who "
                    "gains most; Qini coefficient (area between them) {qini}.",
                    qini=t.number(_number(e.diagnostics.get("qini_coefficient"))),
                ),
                figure={
                    "data": [
                        {
                            "type": "scatter",
                            "mode": "lines",
                            "x": [0.0, 1.0],
                            "y": [0.0, total],
                            "name": t("random targeting"),
                            "line": {"color": GREY, "dash": "dash"},
                        },
                        {
                            "type": "scatter",
                            "mode": "lines+markers",
                            "x": shares,
                            "y": _clean(gains),
                            "name": t("targeting by predicted effect"),
                            "line": {"color": BLUE},
                            "marker": {"size": 5},
                        },
                    ],
                    "layout": _layout(
                        t("Share of units treated, highest predicted effect first"),
                        t("Cumulative gain per unit of the sample"),
                        xaxis={"tickformat": ".0%"},
                    ),
                },
            )
        )
    return views


def toc_curve(ev: Evidence, t: Language) -> list[View]:
    """Targeting operator characteristic: how much more the top-ranked units gain than average."""
    views = []
    for e in ev.event.estimates:
        rows = [r for r in _targeting(e.diagnostics) if r[2] is not None]
        if len(rows) < 3:
            continue
        shares = [r[0] for r in rows]
        low = [r[2] - 1.96 * r[3] if r[2] is not None and r[3] is not None else None for r in rows]
        high = [r[2] + 1.96 * r[3] if r[2] is not None and r[3] is not None else None for r in rows]
        views.append(
            View(
                key=f"toc_{e.method}",
                kind="toc_curve",
                method=e.method,
                section="heterogeneity",
                title=t("Targeting operator characteristic ({method})", method=e.method),
                caption=t(
                    "For each share of units with the highest held-out predicted effect: their mean doubly "
                    "robust effect minus everyone's, with a 95 % pointwise interval. Above zero at small "
                    "shares: the top of the ranking really gains more. Its area (AUTOC, the rank-weighted "
                    "average treatment effect) is {autoc} (SE {se}); an AUTOC within two SEs of zero means "
                    "the predicted heterogeneity is not borne out.",
                    autoc=t.number(_number(e.diagnostics.get("rate_autoc"))),
                    se=t.number(_number(e.diagnostics.get("rate_autoc_se"))),
                ),
                figure={
                    "data": [
                        {
                            "type": "scatter",
                            "mode": "lines",
                            "x": shares + shares[::-1],
                            "y": _clean(high + low[::-1]),
                            "fill": "toself",
                            "fillcolor": "rgba(0,114,178,0.15)",
                            "line": {"width": 0, "color": "rgba(0,114,178,0.15)"},
                            "name": t("95 % pointwise interval"),
                            "hoverinfo": "skip",
                        },
                        {
                            "type": "scatter",
                            "mode": "lines+markers",
                            "x": shares,
                            "y": [r[2] for r in rows],
                            "name": t("top share's effect minus the average"),
                            "line": {"color": BLUE},
                            "marker": {"size": 5},
                        },
                    ],
                    "layout": _layout(
                        t("Share of units, highest predicted effect first"),
                        t("Effect above the average"),
                        xaxis={"tickformat": ".0%"},
                        shapes=[_hline(0.0, GREY, "solid")],
                    ),
                },
            )
        )
    return views


def cate_calibration(ev: Evidence, t: Language) -> list[View]:
    """Predicted against held-out doubly robust effect by group of predicted effect (GATES)."""
    views = []
    for e in ev.event.estimates:
        rows = _indexed(e.diagnostics, "cate_group", ("predicted", "observed", "observed_se"))
        if len(rows) < 2:
            continue
        labels = [t("group {k} of {n}", k=str(k + 1), n=str(len(rows))) for k in range(len(rows))]
        views.append(
            View(
                key=f"cate_calibration_{e.method}",
                kind="cate_calibration",
                method=e.method,
                section="heterogeneity",
                title=t("Predicted against measured effect by group ({method})", method=e.method),
                caption=t(
                    "Units split into equal groups by held-out predicted effect, lowest first. Grey: the "
                    "group's mean prediction; blue: its effect measured by doubly robust scores, with a 95 % "
                    "interval. Blue rising with grey: the model ranks units well; flat blue: the predicted "
                    "differences are noise; blue flatter than grey: the predictions exaggerate them."
                ),
                figure={
                    "data": [
                        {
                            "type": "scatter",
                            "mode": "markers",
                            "x": labels,
                            "y": [r[0] for r in rows],
                            "name": t("mean predicted effect"),
                            "marker": {"color": GREY, "size": 10, "symbol": "diamond"},
                        },
                        {
                            "type": "scatter",
                            "mode": "markers",
                            "x": labels,
                            "y": [r[1] for r in rows],
                            "name": t("measured effect, 95 % interval"),
                            "marker": {"color": BLUE, "size": 9},
                            "error_y": {
                                "type": "data",
                                "array": [1.96 * r[2] if r[2] is not None else 0 for r in rows],
                                "color": BLUE,
                            },
                        },
                    ],
                    "layout": _layout(
                        t("Group of predicted effect"),
                        t("Effect"),
                        xaxis={"type": "category"},
                        shapes=[_hline(0.0, GREY, "solid")],
                    ),
                },
            )
        )
    return views


def anderson_rubin_curve(ev: Evidence, t: Language) -> list[View]:
    """The Anderson-Rubin test's p-value over candidate effects: the set is where it clears 5 %."""
    views = []
    for e in ev.event.estimates:
        grid = _indexed(e.diagnostics, "ar_grid", ("effect", "p_value"))
        if len(grid) < 3:
            continue
        views.append(
            View(
                key=f"ar_curve_{e.method}",
                kind="anderson_rubin_curve",
                method=e.method,
                section="design",
                title=t("Anderson-Rubin test over candidate effects ({method})", method=e.method),
                caption=t(
                    "For each candidate effect, the p-value of the Anderson-Rubin test that it is the true "
                    "one; the test stays valid however weak the instrument. The 95 % confidence set is every "
                    "candidate above the dashed 5 % line: {set}. The orange line marks the 2SLS estimate. A "
                    "flat curve that never drops below the line means the instrument cannot tell effects "
                    "apart.",
                    set=str(e.diagnostics.get("ar_confidence_set") or "—"),
                ),
                figure={
                    "data": [
                        {
                            "type": "scatter",
                            "mode": "lines",
                            "x": [r[0] for r in grid],
                            "y": _clean([r[1] for r in grid]),
                            "name": t("Anderson-Rubin p-value"),
                            "line": {"color": BLUE},
                        }
                    ],
                    "layout": _layout(
                        t("Candidate effect"),
                        t("p-value"),
                        yaxis={"range": [0, 1]},
                        shapes=[_hline(0.05, GREY), _vline(e.estimate, ORANGE, "dot")],
                    ),
                },
            )
        )
    return views


CATALOGUE: tuple[Callable[[Evidence, Language], list[View]], ...] = (
    forest,
    stability,
    nuisance_fit,
    outcome_by_arm,
    love,
    propensity_overlap,
    weights,
    raw_trends,
    event_study,
    cohort_heatmap,
    twfe_weights,
    placebo_spaghetti,
    placebo_ratios,
    donor_weights,
    rd_plot,
    rd_density,
    rd_covariates,
    rd_bandwidths,
    rd_placebo_cutoffs,
    iv_strength,
    anderson_rubin_curve,
    unit_map,
    spillover_radius,
    exposure_by_arm,
    cate_distribution,
    cate_drivers,
    cate_histogram,
    cate_partial_dependence,
    cate_calibration,
    qini_curve,
    toc_curve,
    policy_tree,
    sensitivity_contour,
    e_value,
    rosenbaum,
    oster,
    refuters,
    refuters_not_run,
    gates_board,
)


SECTIONS = ("estimates", "balance", "design", "heterogeneity", "sensitivity", "checks")


def build_views(evidence: Evidence, language: Language) -> list[View]:
    """Every view of the catalogue that the analysis has data for, in reading order (by section).

    A view whose data it cannot draw is left out and logged: one figure never costs the reader the
    whole report (a failed report is retried, then dead-lettered).
    """
    views: list[View] = []
    for build in CATALOGUE:
        try:
            views.extend(build(evidence, language))
        except Exception as exc:
            log.warning("report view skipped", view=build.__name__, error=repr(exc))
    return sorted(views, key=lambda view: SECTIONS.index(view.section))
