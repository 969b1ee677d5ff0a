"""The figure catalogue over the assessed analyses of the three demo samples (recorded from a real run).

Fixtures: tests/fixtures/<sample>.assessed.json are analysis.assessed events the stack emitted for
examples/customers.csv (observational), grant_rd.csv (RD) and store_panel_sjis.csv (panel); the
dataset columns are read from the same example files.
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest

from cqox_contracts.v1 import AnalysisAssessed, ColumnSchema, EstimateResult, Refutation, RoleMapping
from cqox_visualization import handlers
from cqox_visualization.catalogue import CATALOGUE, Evidence, View, build_views
from cqox_visualization.handlers import Rendered, _render, _static_png, report_language
from cqox_visualization.i18n import catalogue_ids, dominant_language, language
from cqox_visualization.report import figure_json, plotly_js

HERE = Path(__file__).parent
EXAMPLES = HERE.parents[2] / "examples"
SAMPLES = {
    "customers": {
        "forest", "stability", "nuisance_fit", "outcome_by_arm", "love", "balance_table",
        "propensity_overlap", "weights_ess", "cate_distribution", "cate_drivers", "heterogeneity_map",
        "policy_tree", "policy_value", "sensitivity_contour", "e_value", "oster", "refuters", "gates_board",
        "qini_curve", "toc_curve", "cate_calibration",
    },
    "grant_rd": {
        "forest", "rd_plot", "rd_density", "rd_covariate_placebo", "rd_bandwidth_sensitivity",
        "rd_placebo_cutoffs", "refuters", "gates_board",
    },
    "store_panel_sjis": {
        "forest", "raw_trends", "treatment_rollout", "event_study", "twfe_negative_weights",
        "cohort_period_heatmap", "refuters", "gates_board",
    },
}  # fmt: skip


def assessed(sample: str) -> AnalysisAssessed:
    """The recorded analysis.assessed event of one demo sample."""
    return AnalysisAssessed.model_validate_json((HERE / "fixtures" / f"{sample}.assessed.json").read_text())


def columns(sample: str) -> pd.DataFrame:
    """The sample's columns as the converted Parquet holds them (the panel's はい/いいえ as booleans)."""
    if sample == "store_panel_sjis":
        frame = pd.read_csv(EXAMPLES / f"{sample}.csv", encoding="cp932")
        frame["キャンペーン配信"] = frame["キャンペーン配信"] == "はい"
        return frame
    return pd.read_csv(EXAMPLES / f"{sample}.csv")


def evidence(sample: str) -> Evidence:
    """The event with its dataset's columns."""
    return Evidence(assessed(sample), columns(sample))


@pytest.fixture(scope="module")
def rendered() -> dict[str, Rendered]:
    """Each sample's report as the handler renders it (in its default language), drawn once."""
    out = {}
    for sample in SAMPLES:
        event = assessed(sample)
        frame = columns(sample)
        with pytest.MonkeyPatch.context() as patch:  # the handler reads Parquet from the store
            patch.setattr(handlers, "load_evidence", lambda event, store, frame=frame: Evidence(event, frame))
            out[sample] = _render(event)
    return out


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_each_demo_design_draws_its_own_diagnostics(sample: str) -> None:
    views = build_views(evidence(sample), language("en"))
    assert {v.kind for v in views} == SAMPLES[sample]
    keys = [v.key for v in views]
    assert len(keys) == len(set(keys)), "view keys name figures in the page and must be unique"
    for view in views:
        assert view.title and len(view.caption) > 60, f"{view.key} needs a caption saying how to read it"
        assert (view.figure is None) != (view.table is None)
        if view.figure is not None:
            assert view.figure["data"], view.key
            json.loads(figure_json(view.figure))  # strict JSON: no NaN, nothing that breaks a <script>


def test_views_of_raw_data_are_left_out_without_the_data() -> None:
    views = build_views(Evidence(assessed("store_panel_sjis")), language("en"))
    assert {v.kind for v in views} == SAMPLES["store_panel_sjis"] - {"raw_trends", "treatment_rollout"}


def test_the_raw_panel_means_are_the_means_of_the_data() -> None:
    (trends,) = [
        v for v in build_views(evidence("store_panel_sjis"), language("en")) if v.key == "raw_trends"
    ]
    frame = columns("store_panel_sjis")
    ever = frame.groupby("店舗ID")["キャンペーン配信"].transform("max")
    expected = frame[~ever].groupby("年月")["売上高"].mean()
    never = next(t for t in trends.figure["data"] if t["name"] == "never treated")  # type: ignore[index]
    assert never["x"] == list(expected.index)
    assert never["y"] == pytest.approx(expected.tolist())


def test_the_love_plot_and_balance_table_agree_with_the_gate() -> None:
    event = assessed("customers")
    views = {v.key: v for v in build_views(Evidence(event), language("en"))}
    gate = next(g for g in event.gates if g.name == "balance_smd")
    table = views["balance_table"].table
    assert table is not None and table.rows[0][0] == gate.details["worst_before"]
    after = next(t for t in views["love_plot"].figure["data"] if t["name"] == "after adjustment")  # type: ignore[index]
    assert max(abs(x) for x in after["x"]) == pytest.approx(gate.details["max_smd_after"])


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_every_figure_has_a_static_png_of_its_stated_size(sample: str, rendered: dict[str, Rendered]) -> None:
    report = rendered[sample]
    assert {v.kind for v in report.views} == SAMPLES[sample]  # the raw-data views too
    for view in report.views:
        if view.table is not None:
            assert view.key not in report.images
            continue
        image = matplotlib.image.imread(io.BytesIO(report.images[view.key]), format="png")
        if view.kind not in HAND_TUNED:
            assert (image.shape[1], image.shape[0]) == view.size, view.key
        assert image[..., :3].std() > 0.01, f"{view.key} is blank"


HOSTILE = r"price$\frac{a$"
HAND_TUNED = {"forest", "love", "rd_plot", "sensitivity_contour", "rosenbaum_curve"}  # figures.py, own sizes


def test_a_column_name_with_math_text_draws_literally() -> None:
    """Regression (issue 16): `price$\\frac{a$` as a column name failed the report five times."""
    event = assessed("grant_rd")
    renamed = {"future_earnings": HOSTILE, "entrance_score": HOSTILE + "_x", "family_income": HOSTILE + "2"}
    roles = event.roles.model_copy(
        update={
            "outcome": renamed["future_earnings"],
            "running_variable": renamed["entrance_score"],
            "covariates": [renamed.get(c, c) for c in event.roles.covariates],
        }
    )
    customers = assessed("customers")
    gates = [
        g.model_copy(update={"details": {k.replace("income", HOSTILE): v for k, v in g.details.items()}})
        for g in customers.gates
    ]
    panels = [
        p.model_copy(
            update={
                "omitted_variable_bias": p.omitted_variable_bias.model_copy(
                    update={
                        "bounds": [
                            b.model_copy(update={"covariate": HOSTILE})
                            for b in p.omitted_variable_bias.bounds
                        ]
                    }
                )
            }
        )
        for p in customers.sensitivity
        if p.omitted_variable_bias is not None
    ]
    hostile = event.model_copy(
        update={"roles": roles, "gates": [*event.gates, *gates], "sensitivity": panels}
    )
    data = columns("grant_rd").rename(columns=renamed)
    views = build_views(Evidence(hostile, data), language("en"))
    kinds = {v.kind for v in views}
    assert {"rd_plot", "rd_density", "rd_covariate_placebo", "love", "sensitivity_contour"} <= kinds
    for view in views:
        if view.kind in {"rd_plot", "rd_density", "rd_covariate_placebo", "love", "sensitivity_contour"}:
            assert _static_png(view, hostile) is not None, view.key  # hand-tuned and generic drawings


def test_the_handler_report_is_interactive_self_contained_and_links_its_json(
    rendered: dict[str, Rendered],
) -> None:
    report = rendered["grant_rd"]
    html = report.html
    assert html.count("<script>") == 2  # plotly.js once, then the boot script
    assert html.count(plotly_js()) == 1  # the bundle from the plotly package, inline once
    page = html.replace(
        plotly_js(), ""
    )  # (the bundle's own strings name plot.ly; the browser test checks it fetches nothing)
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", page), "nothing may be fetched"
    plots = re.findall(r'<div class="plot" id="plot-([\w-]+)"', html)
    assert plots == [v.key for v in report.views if v.figure is not None]
    link = re.search(r'href="data:application/json;base64,([^"]+)" download="report.json"', html)
    assert link is not None
    document = json.loads(base64.b64decode(link.group(1)))
    assert document == json.loads(report.document)
    assert [f["name"] for f in document["figures"]] == [v.key for v in report.views]
    assert document["estimates"][0]["method"] == "rd_robust"
    assert "<img" not in html  # the interactive page draws with Plotly only
    assert report.print_html.count("<img") == len(report.images)  # the PDF's page, static
    assert "Plotly.newPlot" not in report.print_html


def test_the_figure_table_lists_every_view_with_kind_method_format_and_size(
    rendered: dict[str, Rendered],
) -> None:
    report = rendered["customers"]
    table = report.html.split('id="figure-table"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td class=\"num\">(\d+)</td>", table)
    assert [int(n) for n in rows] == list(range(1, len(report.views) + 1))
    for entry in report.figures:
        assert entry.kind in table and entry.name in table
        if entry.png_bytes is not None:
            assert entry.formats == ["plotly", "png"] and entry.width_px == 1000


def test_the_language_follows_the_spec_else_the_dominant_script() -> None:
    assert report_language(assessed("store_panel_sjis")).code == "ja"
    assert report_language(assessed("customers")).code == "en"
    assert report_language(assessed("customers"), "ja").code == "ja"
    assert dominant_language(["店舗ID", "年月", "売上高"]) == "ja"
    assert dominant_language(["customer_id", "年齢"]) == "en"
    event = assessed("customers")
    mixed = event.model_copy(
        update={
            "dataset": event.dataset.model_copy(
                update={"columns": [ColumnSchema(name="売上高", dtype="double", nullable=True)]}
            )
        }
    )
    assert report_language(mixed).code == "ja"


def test_a_japanese_report_translates_headings_captions_and_numbers(rendered: dict[str, Rendered]) -> None:
    report = rendered["store_panel_sjis"]  # Japanese column names: Japanese by default
    html = report.html
    assert report.language.code == "ja" and '<html lang="ja">' in html
    for heading in (
        "要約",
        "推定値",
        "品質ゲート",
        "図の一覧",
        "読み方",
        "設計固有の診断",
        "反証と品質ゲート",
    ):
        assert heading in html
    # The verdict's reasons: what each gate checks, and the untestable assumptions, in Japanese.
    assert "処置前に処置単位と比較単位が平行に推移した (parallel_trends)" in html
    assert "処置の予期がない" in html and "no anticipation of treatment" not in html
    assert "導入前には効果がない（導入時期を処置前の期間に移動） [cs_did] (placebo_adoption[cs_did])" in html
    english = {v.key: v for v in build_views(evidence("store_panel_sjis"), language("en"))}
    for view in report.views:
        assert view.caption != english[view.key].caption, f"{view.key}'s caption is not translated"
        assert view.title != english[view.key].title, view.key
    customers = build_views(evidence("customers"), language("ja"))
    english_customers = {v.key: v for v in build_views(evidence("customers"), language("en"))}
    assert all(v.caption != english_customers[v.key].caption for v in customers)
    assert language("ja").number(1234.5678) == "1,234.568"
    assert language("ja").percent(0.125) == "12.5%"


def _source_messages() -> set[str]:
    from babel.messages.extract import extract_from_file

    package = HERE.parent / "src" / "cqox_visualization"
    found = set()
    for module in ("catalogue.py", "report.py", "handlers.py"):
        for _, message, _, _ in extract_from_file("python", package / module, keywords={"t": None}):
            found.add(message)
    template = package / "templates" / "report.html.j2"
    for _, message, _, _ in extract_from_file("jinja2.ext:babel_extract", template, keywords={"_": None}):
        found.add(message)
    return {m for m in found if isinstance(m, str)}


def test_every_message_of_the_report_has_a_japanese_translation() -> None:
    from cqox_visualization.report import _CATEGORY_TITLES, _VERDICT_READINGS, SECTION_TITLES

    dynamic = {*SECTION_TITLES.values(), *_CATEGORY_TITLES.values(), *_VERDICT_READINGS.values()}
    dynamic |= {"treated", "control", "error", "warning", "info", "Treatment", "Outcome", "Running variable"}
    missing = (_source_messages() | dynamic) - catalogue_ids("ja")
    assert not missing, f"add these to locale/ja/LC_MESSAGES/report.po: {sorted(missing)}"


def test_the_catalogue_builders_are_named_and_documented() -> None:
    for build in CATALOGUE:
        assert build.__doc__, build.__name__
    assert all(isinstance(v, View) for v in build_views(evidence("customers"), language("en")))


def _estimate(method: str, estimand: str, diagnostics: dict[str, float | str | None]) -> EstimateResult:
    return EstimateResult(
        method=method, estimand=estimand, estimate=1.5, std_error=0.2, ci_lower=1.1, ci_upper=1.9,
        p_value=0.001, n=500, inference="analytic", diagnostics=diagnostics,
    )  # fmt: skip


def _views_of(*estimates: EstimateResult, data: pd.DataFrame | None = None, **roles: str) -> dict[str, View]:
    base = assessed("grant_rd")
    event = base.model_copy(
        update={"estimates": list(estimates), "roles": RoleMapping(**roles), "gates": [], "refutations": []}
    )
    return {v.kind: v for v in build_views(Evidence(event, data), language("en"))}


def test_an_iv_estimate_draws_its_first_stage_and_the_anderson_rubin_set() -> None:
    iv = _estimate(
        "iv_2sls", "LATE",
        {"first_stage_f": 6.5, "weak_f_threshold": 10.0, "first_stage_partial_r2": 0.012, "ols_estimate": 2.4,
         "ar_ci_lower": 0.2, "ar_ci_upper": 3.9, "ar_confidence_set": "[0.2, 3.9]"},
    )  # fmt: skip
    views = _views_of(iv, treatment="d", outcome="y", instrument="z")
    first = views["iv_first_stage"].figure
    assert first is not None and first["data"][0]["x"] == [6.5]
    assert first["data"][0]["marker"]["color"] == "#D55E00"  # below the weak-instrument threshold
    intervals = views["iv_intervals"].figure
    assert intervals is not None
    lines = [t for t in intervals["data"] if t["mode"] == "lines"]
    assert [t["x"] for t in lines] == [[1.1, 1.9], [0.2, 3.9]]  # the 2SLS CI, then the AR set
    assert "[0.2, 3.9]" in views["iv_intervals"].caption


def test_a_synthetic_control_draws_its_gap_path_and_donor_weights() -> None:
    gaps = {f"att_event_{k}": (0.1 if k < 0 else 2.0) for k in range(-4, 4)}
    gaps |= {f"se_event_{k}": 0.3 for k in range(-4, 4)}
    synthetic = _estimate(
        "synthetic_control", "ATT",
        {**gaps, "top_donor_weights": "donor007: 0.620, donor003: 0.300, donor011: 0.080", "pre_rmspe": 0.21,
         "post_rmspe": 2.3},
    )  # fmt: skip
    views = _views_of(synthetic, treatment="d", outcome="y", unit="u", time="t")
    gap = views["synthetic_gap"].figure
    assert gap is not None and gap["data"][-1]["x"] == list(range(-4, 4))
    donors = views["donor_weights"].figure
    assert donors is not None
    assert donors["data"][0]["y"] == ["donor011", "donor003", "donor007"]  # largest at the top
    assert sum(donors["data"][0]["x"]) == pytest.approx(1.0)


def test_a_spatial_estimate_draws_spillover_by_radius_and_the_map() -> None:
    spatial = _estimate(
        "spatial_spillover", "ATE",
        {"spillover_effect": 0.4, "radius_km": 2.0, "direct_at_half_radius": 1.4, "direct_at_double_radius": 1.7,
         "spillover_at_half_radius": 0.3, "spillover_at_double_radius": 0.6},
    )  # fmt: skip
    data = pd.DataFrame(
        {"lat": [35.0, 35.1, 35.2, 35.3], "lon": [139.0, 139.1, 139.2, 139.3], "d": [0, 1, 0, 1]}
    )
    views = _views_of(spatial, data=data, treatment="d", outcome="y", latitude="lat", longitude="lon")
    radius = views["spillover_radius"].figure
    assert radius is not None and radius["data"][0]["x"] == [1.0, 2.0, 4.0]
    assert radius["data"][1]["y"] == [0.3, 0.4, 0.6]
    unit_map = views["unit_map"].figure
    assert unit_map is not None
    treated = next(t for t in unit_map["data"] if t["name"] == "treated")
    assert treated["x"] == [139.1, 139.3]


def _cate_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A CATE table shaped like the estimator's (row in the upload, cate), falling with age."""
    return pd.DataFrame({"row": range(len(frame)), "cate": 2.0 - 0.02 * (frame["age"] - 40)})


def test_the_partial_dependence_of_a_numeric_driver_is_the_binned_mean_of_every_unit() -> None:
    frame = columns("customers")
    views = build_views(
        Evidence(assessed("customers"), frame, {"policy_tree": _cate_table(frame)}), language("en")
    )
    (view,) = [v for v in views if v.kind == "cate_partial_dependence"]
    assert view.key == "cate_partial_dependence_policy_tree" and "age" in view.title  # its first driver
    assert view.figure is not None
    dots, line = view.figure["data"]
    assert len(dots["x"]) == len(frame)  # 4,000 units: all drawn (the cap is 4,000)
    assert line["y"] == sorted(line["y"], reverse=True)  # the effect falls with age in every tenth
    assert line["y"][0] == pytest.approx(2.0 - 0.02 * (frame["age"].nsmallest(400).mean() - 40), rel=0.02)


def test_the_partial_dependence_of_a_categorical_driver_is_a_mean_per_level() -> None:
    frame = columns("customers")
    table = _cate_table(frame)
    views = build_views(Evidence(assessed("customers"), frame, {"linear_dml": table}), language("en"))
    (view,) = [v for v in views if v.kind == "cate_partial_dependence"]
    assert "region" in view.title  # linear_dml names region=south first
    assert view.figure is not None
    (bars,) = view.figure["data"]
    expected = table["cate"].groupby(frame["region"]).mean().sort_values()
    assert bars["x"] == expected.index.tolist() and bars["y"] == pytest.approx(expected.tolist())


def test_a_view_that_cannot_be_drawn_is_left_out_not_the_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """NHEFS: a view's data it cannot draw cost the whole report five deliveries; now only the view."""
    import cqox_visualization.catalogue as catalogue

    def broken(ev: Evidence, t: object) -> list[View]:
        raise ValueError("Invalid shape (0,) for image data")

    monkeypatch.setattr(catalogue, "CATALOGUE", (broken, *CATALOGUE))
    views = build_views(evidence("grant_rd"), language("en"))
    assert {v.kind for v in views} == SAMPLES["grant_rd"]


NEW_KINDS = {
    "cohort_period_heatmap", "placebo_gap_spaghetti", "placebo_rmspe_ratio", "rd_bandwidth_sensitivity",
    "rd_placebo_cutoffs", "qini_curve", "toc_curve", "cate_calibration", "anderson_rubin_curve",
    "exposure_by_arm",
}  # fmt: skip


def _assert_static(views: dict[str, View]) -> None:
    """The PDF's static rendering of each design view drawn here: its stated size, not blank."""
    from cqox_visualization.static import render_png

    for view in (v for kind, v in views.items() if kind in NEW_KINDS):
        png = render_png(view)
        assert png is not None, view.key
        image = matplotlib.image.imread(io.BytesIO(png), format="png")
        assert (image.shape[1], image.shape[0]) == view.size, view.key
        assert image[..., :3].std() > 0.01, f"{view.key} is blank"


def test_the_cohort_heat_map_cells_are_the_group_time_effects_labelled_by_period() -> None:
    cells = {(3, 2): 0.1, (3, 3): 1.0, (3, 4): 1.5, (5, 4): -0.2, (5, 5): 2.0}
    diagnostics: dict[str, float | str | None] = {f"att_gt_{g}_{p}": v for (g, p), v in cells.items()}
    diagnostics |= {f"se_gt_{g}_{p}": 0.25 for g, p in cells} | {
        "cohort_units_3": 40.0,
        "cohort_units_5": 25.0,
    }
    data = pd.DataFrame({"month": [f"2024-0{k + 1}" for k in range(7)], "u": 1, "d": 0, "y": 0.0})
    views = _views_of(
        _estimate("cs_did", "ATT", diagnostics), data=data, treatment="d", outcome="y", unit="u", time="month"
    )
    figure = views["cohort_period_heatmap"].figure
    assert figure is not None
    (heat,) = figure["data"]
    assert heat["x"] == ["2024-03", "2024-04", "2024-05", "2024-06"]  # period codes 2..5
    assert heat["y"] == ["cohort 2024-04 (40 units)", "cohort 2024-06 (25 units)"]
    assert heat["z"] == [[0.1, 1.0, 1.5, None], [None, None, -0.2, 2.0]]
    assert heat["zmid"] == 0.0 and heat["text"][0][1] == "0.250"
    # Without the data's periods the codes label them.
    views = _views_of(
        _estimate("cs_did", "ATT", diagnostics), treatment="d", outcome="y", unit="u", time="month"
    )
    assert views["cohort_period_heatmap"].figure["data"][0]["x"][0] == "period 2"  # type: ignore[index]
    _assert_static(views)


def test_the_placebo_spaghetti_draws_every_donor_behind_the_treated_gap_and_ranks_its_ratio() -> None:
    diagnostics: dict[str, float | str | None] = {
        f"gap_path_{k}": (0.0 if k < 0 else 2.0) for k in range(-3, 3)
    }
    for j, name in enumerate(["a", "b", "c"]):
        diagnostics |= {f"placebo_gap_{j}_{k}": 0.1 * (j - 1) * k for k in range(-3, 3)}
        diagnostics |= {f"placebo_gap_{j}_donor": name, f"placebo_rmspe_ratio_{j}": float(j + 1)}
    diagnostics |= {"rmspe_ratio": 9.0, "placebo_p_value": 0.25}
    views = _views_of(
        _estimate("synthetic_control", "ATT", diagnostics), treatment="d", outcome="y", unit="u", time="t"
    )
    spaghetti = views["placebo_gap_spaghetti"].figure
    assert spaghetti is not None
    *placebos, treated = spaghetti["data"]
    assert [p["name"] for p in placebos] == ["donor placebos", "b", "c"]
    assert placebos[2]["x"] == list(range(-3, 3)) and placebos[2]["y"] == pytest.approx(
        [-0.3, -0.2, -0.1, 0, 0.1, 0.2]
    )
    assert treated["y"] == [0.0, 0.0, 0.0, 2.0, 2.0, 2.0] and treated["line"]["color"] == "#D55E00"
    ratios = views["placebo_rmspe_ratio"].figure
    assert ratios is not None
    bars = ratios["data"][0]
    assert bars["y"] == ["a", "b", "c", "treated unit"] and bars["x"] == [1.0, 2.0, 3.0, 9.0]
    assert "0.250" in views["placebo_rmspe_ratio"].caption
    _assert_static(views)


def test_the_rd_bandwidth_and_placebo_cutoff_views_draw_their_grids() -> None:
    diagnostics: dict[str, float | str | None] = {"cutoff": 50.0, "bandwidth_h_left": 10.0}
    for k, h in enumerate([5.0, 10.0, 20.0]):
        diagnostics |= {f"bandwidth_grid_{k}_h": h, f"bandwidth_grid_{k}_estimate": 1.0 + k}
        diagnostics |= {f"bandwidth_grid_{k}_ci_lower": k - 0.5, f"bandwidth_grid_{k}_ci_upper": k + 2.5}
    for k, at in enumerate([40.0, 60.0]):
        diagnostics |= {f"placebo_cutoff_{k}_at": at, f"placebo_cutoff_{k}_estimate": 0.1}
        diagnostics |= {f"placebo_cutoff_{k}_ci_lower": -0.4, f"placebo_cutoff_{k}_ci_upper": 0.6}
    views = _views_of(
        _estimate("rd_robust", "LATE", diagnostics), treatment="d", outcome="y", running_variable="x"
    )
    grid = views["rd_bandwidth_sensitivity"].figure
    assert grid is not None
    band, line = grid["data"]
    assert line["x"] == [5.0, 10.0, 20.0] and line["y"] == [1.0, 2.0, 3.0]
    assert band["y"] == [2.5, 3.5, 4.5, 1.5, 0.5, -0.5]
    assert grid["layout"]["shapes"][1]["x0"] == 10.0  # the chosen bandwidth
    placebo = views["rd_placebo_cutoffs"].figure
    assert placebo is not None
    (points,) = placebo["data"]
    assert points["x"] == [40.0, 50.0, 60.0] and points["y"] == [0.1, 1.5, 0.1]  # the real jump in the middle
    assert points["marker"]["color"] == ["#0072B2", "#D55E00", "#0072B2"]
    _assert_static(views)


def test_the_targeting_views_draw_qini_toc_and_calibration_from_held_out_scores() -> None:
    diagnostics: dict[str, float | str | None] = {"targeting_folds": 5.0, "qini_coefficient": 0.12}
    diagnostics |= {"rate_autoc": 0.4, "rate_autoc_se": 0.1}
    for k, share in enumerate([0.25, 0.5, 0.75, 1.0]):
        diagnostics |= {f"targeting_{k}_share": share, f"targeting_{k}_qini": [0.5, 0.8, 0.95, 1.0][k]}
        diagnostics |= {f"targeting_{k}_toc": [1.0, 0.6, 0.27, 0.0][k], f"targeting_{k}_toc_se": 0.1}
    for k in range(3):
        diagnostics |= {f"cate_group_{k}_predicted": float(k), f"cate_group_{k}_observed": 0.5 * k}
        diagnostics[f"cate_group_{k}_observed_se"] = 0.2
    views = _views_of(_estimate("t_learner", "ATE", diagnostics), treatment="d", outcome="y")
    qini = views["qini_curve"].figure
    assert qini is not None
    random, curve = qini["data"]
    assert curve["x"] == [0.0, 0.25, 0.5, 0.75, 1.0] and curve["y"] == [0.0, 0.5, 0.8, 0.95, 1.0]
    assert random["y"] == [0.0, 1.0]  # random targeting ends where the curve does: everyone treated
    assert "out-of-bag" in views["qini_curve"].caption and "0.120" in views["qini_curve"].caption
    toc = views["toc_curve"].figure
    assert toc is not None
    band, line = toc["data"]
    assert line["y"] == [1.0, 0.6, 0.27, 0.0]
    assert band["y"][0] == pytest.approx(1.196) and band["y"][-1] == pytest.approx(0.804)
    calibration = views["cate_calibration"].figure
    assert calibration is not None
    predicted, observed = calibration["data"]
    assert predicted["y"] == [0.0, 1.0, 2.0] and observed["y"] == [0.0, 0.5, 1.0]
    assert observed["error_y"]["array"] == pytest.approx([0.392] * 3)
    _assert_static(views)


def test_the_anderson_rubin_curve_draws_the_p_value_over_candidate_effects() -> None:
    diagnostics: dict[str, float | str | None] = {"ar_confidence_set": "[0.2, 3.9]"}
    for k, (b, p) in enumerate([(-1.0, 0.001), (0.2, 0.05), (1.5, 1.0), (3.9, 0.05), (5.0, 0.01)]):
        diagnostics |= {f"ar_grid_{k}_effect": b, f"ar_grid_{k}_p_value": p}
    views = _views_of(_estimate("iv_2sls", "LATE", diagnostics), treatment="d", outcome="y", instrument="z")
    figure = views["anderson_rubin_curve"].figure
    assert figure is not None
    (curve,) = figure["data"]
    assert curve["x"] == [-1.0, 0.2, 1.5, 3.9, 5.0] and curve["y"] == [0.001, 0.05, 1.0, 0.05, 0.01]
    assert figure["layout"]["shapes"][0]["y0"] == 0.05 and figure["layout"]["shapes"][1]["x0"] == 1.5
    assert "[0.2, 3.9]" in views["anderson_rubin_curve"].caption
    _assert_static(views)


def test_exposure_by_arm_draws_each_arms_counts_and_the_exposed_controls_at_three_radii() -> None:
    diagnostics: dict[str, float | str | None] = {"radius_km": 5.0, "spillover_effect": 0.4}
    diagnostics |= {f"exposure_bin_{k}_treated": float(k) for k in range(10)}
    diagnostics |= {f"exposure_bin_{k}_control": float(10 - k) for k in range(10)}
    diagnostics |= {"controls_exposed_at_half_radius": 0.1, "controls_exposed_at_chosen_radius": 0.25}
    diagnostics["controls_exposed_at_double_radius"] = 0.6
    views = _views_of(
        _estimate("spatial_spillover", "ATE", diagnostics),
        treatment="d",
        outcome="y",
        latitude="a",
        longitude="o",
    )
    figure = views["exposure_by_arm"].figure
    assert figure is not None
    control, treated = figure["data"]
    assert control["y"] == [float(10 - k) for k in range(10)] and treated["y"] == [
        float(k) for k in range(10)
    ]
    assert control["x"][0] == "0–10 %" and treated["marker"]["color"] == "#D55E00"
    assert "10.0%" in views["exposure_by_arm"].caption and "60.0%" in views["exposure_by_arm"].caption
    _assert_static(views)


def test_a_static_heat_map_keeps_its_zero_white_as_plotly_does() -> None:
    """The cohort heat map's zmid is 0: a small negative cell must not turn deep red in the PDF."""
    from cqox_visualization.static import render_png

    figure = {
        "data": [{"type": "heatmap", "z": [[-0.2, 3.0]], "x": ["a", "b"], "y": ["row"], "zmid": 0.0}],
        "layout": {"height": 300, "xaxis": {"type": "category"}, "yaxis": {"type": "category"}},
    }
    view = View("h", "cohort_period_heatmap", "m", "design", "t", "c", figure=figure, height=300)
    image = matplotlib.image.imread(io.BytesIO(render_png(view) or b""), format="png")
    row = image[image.shape[0] // 2, :, :3]
    # The first coloured pixels from the left, across the middle, are the -0.2 cell's.
    coloured = [x for x in range(row.shape[0]) if row[x].max() - row[x].min() > 0.05]
    small = row[coloured[0] + 5]
    assert small.min() > 0.75, f"a value near the middle of the scale should be nearly white, got {small}"


def test_japanese_hover_texts_of_the_gates_board_and_refuters_are_not_english() -> None:
    ja = {v.key: v for v in build_views(evidence("store_panel_sjis"), language("ja"))}
    en = {v.key: v for v in build_views(evidence("store_panel_sjis"), language("en"))}
    for key in ("gates_board", "refuters"):
        field = "hovertext" if key == "gates_board" else "text"
        hovers = [text for trace in ja[key].figure["data"] for text in trace.get(field) or []]
        english = [text for trace in en[key].figure["data"] for text in trace.get(field) or []]
        assert hovers and len(hovers) == len(english)
        assert any(re.search(ENGLISH_RUN, text) for text in english)  # the check can fail
        for text in hovers:
            assert not re.search(ENGLISH_RUN, text), f"{key} hover is English: {text}"


ENGLISH_RUN = r"(?:[A-Za-z]{3,}[ ,;:.]+){4}"


def test_checks_that_do_not_apply_are_listed_with_their_methods_and_reason() -> None:
    """One row per check and reason, naming every method it left out; none without such a check."""
    event = assessed("customers")
    assert "refuters_not_run" not in {v.key for v in build_views(Evidence(event), language("en"))}
    why = "no pre-treatment outcome: map one as the pre_outcome role (e.g. last year's outcome)"
    skipped = [
        Refutation(method=m, refuter="placebo_outcome", expectation="zero", not_applicable=why)
        for m in ("ols", "ipw")
    ] + [
        Refutation(method="ols", refuter="placebo_adoption", expectation="zero", not_applicable="for panels")
    ]
    event = event.model_copy(update={"refutations": [*event.refutations, *skipped]})
    for code, title in (("en", "Refutation checks that do not apply"), ("ja", "適用されない反証チェック")):
        views = {v.key: v for v in build_views(Evidence(event), language(code))}
        table = views["refuters_not_run"].table
        assert views["refuters_not_run"].title == title and table is not None
        assert table.rows == [["placebo outcome", "ols, ipw", why], ["placebo adoption", "ols", "for panels"]]
        # the refutation figure draws only the checks that ran
        assert len(views["refuters"].figure["data"][1]["x"]) == len(event.refutations) - 3  # type: ignore[index]


@pytest.mark.parametrize(("lang", "label"), [("en", "Seed"), ("ja", "乱数シード")])
def test_the_report_names_the_seed_its_random_steps_used(lang: str, label: str) -> None:
    event = assessed("grant_rd").model_copy(update={"seed": 3244870552})
    frame = columns("grant_rd")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(handlers, "load_evidence", lambda event, store, frame=frame: Evidence(event, frame))
        report = _render(event, requested_language=lang)
    shown = f"<dt>{label}</dt><dd>3244870552</dd>"
    assert shown in report.html and shown in report.print_html  # the page and the PDF's page
    assert json.loads(report.document)["seed"] == 3244870552
    assert "<dt>Seed</dt>" not in _render_unseeded()


def _render_unseeded() -> str:
    """grant_rd's recorded event has no seed (an event from before the field): no seed row."""
    frame = columns("grant_rd")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(handlers, "load_evidence", lambda event, store, frame=frame: Evidence(event, frame))
        return _render(assessed("grant_rd")).print_html
