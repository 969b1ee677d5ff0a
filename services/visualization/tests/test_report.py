"""The HTML report: complete, escaped, self-contained, readable when empty."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

import matplotlib.image
import pytest

from cqox_contracts.v1.models import (
    ArmContrast,
    ColumnSchema,
    DatasetRef,
    EstimateResult,
    GateResult,
    MethodFailure,
    RoleMapping,
)
from cqox_visualization.domain import flagged_methods, headline
from cqox_visualization.figures import forest_plot_png, love_plot_png, rd_plot_png
from cqox_visualization.report import render_report_html

HOSTILE = "<script>alert('x')</script>"


def estimate(method: str, value: float, *, estimand: str = "ATE", p: float = 0.0002) -> EstimateResult:
    return EstimateResult(
        method=method,
        estimand=estimand,
        estimate=value,
        std_error=0.1,
        ci_lower=value - 0.196,
        ci_upper=value + 0.196,
        p_value=p,
        n=4000,
        n_treated=1800,
        n_control=2200,
        inference="influence function",
    )


ESTIMATES = [
    estimate("ols", 2.0),
    estimate("aipw", 2.05),
    estimate("ipw", 2.7, p=0.04),
    estimate("psm", 1.9, estimand="ATT"),
]
GATES = [
    GateResult(
        name="completeness",
        category="data",
        threshold=0.95,
        value=0.999,
        passed=True,
        severity="error",
        message="99.9% of cells present",
    ),
    GateResult(
        name="balance_smd",
        category="causal",
        threshold=0.1,
        value=0.14,
        passed=False,
        severity="warning",
        message="max |SMD| after 0.14",
        applies_to=["ipw"],
        details={
            "smd_before:age": 0.4,
            "smd_after:age": 0.14,
            "smd_before:所得": -0.2,
            "smd_after:所得": 0.01,
        },
    ),
    GateResult(
        name="overlap",
        category="causal",
        threshold=0.9,
        value=0.5,
        passed=False,
        severity="error",
        message="half the units lack common support",
        applies_to=["ipw", "psm"],
    ),
]
FAILURES = [MethodFailure(method="iv_2sls", reason="no instrument mapped", error_type="not_applicable")]
DATASET = DatasetRef(
    dataset_id="ds_1",
    version=2,
    name="売上データ 2024",
    parquet_uri="http://minio.internal/bucket/ds_1/2/data.parquet",
    n_rows=123456,
    columns=[ColumnSchema(name=n, dtype="double") for n in ("age", "所得", "treated", "sales")],
)
ROLES = RoleMapping(treatment="treated", outcome="sales", covariates=["age", "所得", HOSTILE])


def render(**overrides: object) -> str:
    arguments: dict[str, object] = {
        "analysis_id": "an_42",
        "dataset": DATASET,
        "roles": ROLES,
        "design": "cross-section, binary treatment",
        "estimates": ESTIMATES,
        "failures": FAILURES,
        "gates": GATES,
        "figures": {
            "forest_plot": forest_plot_png(ESTIMATES, flagged=flagged_methods(GATES)),
            "love_plot": love_plot_png(GATES) or b"",
        },
    }
    arguments.update(overrides)
    return render_report_html(**arguments)  # type: ignore[arg-type]


class _Collector(HTMLParser):
    """Collects <img> attributes and table header cells of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.header_cells = 0
        self.tables = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs))
        elif tag == "th":
            self.header_cells += 1
        elif tag == "table":
            self.tables += 1


def parse(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    return collector


def test_report_names_every_method_gate_failure_and_the_headline() -> None:
    html = render()
    for name in ("ols", "aipw", "ipw", "psm", "iv_2sls", "completeness", "balance_smd", "overlap"):
        assert name in html
    assert headline(ESTIMATES, GATES) in html
    assert "売上データ 2024" in html and "v2" in html and "123,456" in html
    assert "treated" in html and "sales" in html


def test_report_marks_flagged_methods_with_the_gates_that_flag_them() -> None:
    html = render()
    ipw_row = re.search(r'<tr class="flagged">\s*<th scope="row">ipw.*?</tr>', html, re.S)
    assert ipw_row is not None
    assert "flagged by balance_smd, overlap" in ipw_row.group(0)
    psm_row = re.search(r'<tr class="flagged">\s*<th scope="row">psm.*?</tr>', html, re.S)
    assert psm_row is not None and "flagged by overlap" in psm_row.group(0)
    assert html.count('<tr class="flagged">') == 2


def test_report_formats_numbers() -> None:
    html = render()
    assert "&lt; 0.001" in html  # p < 0.001, escaped
    assert "0.040" in html
    assert "[1.804, 2.196] (95%)" in html
    assert "1,800 treated / 2,200 control" in html
    assert "fail · error" in html and "fail · warning" in html and ">pass<" in html


def test_report_escapes_hostile_names() -> None:
    hostile_estimate = estimate(HOSTILE, 1.0)
    hostile_gate = GateResult(
        name="<b>gate</b>",
        category="data",
        passed=False,
        severity="error",
        message=HOSTILE,
        applies_to=[HOSTILE],
    )
    html = render(
        dataset=DATASET.model_copy(update={"name": HOSTILE}),
        estimates=[hostile_estimate],
        gates=[hostile_gate],
        failures=[MethodFailure(method=HOSTILE, reason=HOSTILE)],
        design=HOSTILE,
        analysis_id=HOSTILE,
    )
    assert "<script" not in html
    assert "<b>gate</b>" not in html
    assert "&lt;script&gt;" in html


def test_report_is_self_contained() -> None:
    html = render()
    assert "http://" not in html and "https://" not in html
    # The dataset's object-store URI (an http URL here) is not shown.
    assert DATASET.parquet_uri not in html
    for reference in ("<link", "<script", "@import", "url(", "<iframe"):
        assert reference not in html
    assert all(source.startswith("data:") for source in re.findall(r'src="([^"]*)"', html))
    assert '<meta charset="utf-8">' in html
    assert "<style>" in html


def test_report_embeds_figures_as_decodable_data_uris_with_alt_text() -> None:
    page = parse(render())
    assert len(page.images) == 2
    for image in page.images:
        source = image["src"] or ""
        assert source.startswith("data:image/png;base64,")
        payload = base64.b64decode(source.split(",", 1)[1])
        assert payload.startswith(b"\x89PNG\r\n\x1a\n")
        assert len(image.get("alt") or "") > 20
    assert page.tables >= 4 and page.header_cells > 20


def test_report_skips_non_image_figures_and_keeps_extra_ones() -> None:
    png = forest_plot_png(ESTIMATES[:1])
    page = parse(render(figures={"notes": b"not an image", "propensity-histogram.png": png}))
    assert len(page.images) == 1
    assert page.images[0]["alt"] == "Figure: Propensity histogram"


def test_report_without_estimates_says_so() -> None:
    html = render(estimates=[], figures={}, gates=[])
    assert "No method produced an estimate" in html
    assert "The failed methods below say why." in html
    assert "No quality gate was run" in html
    assert "<img" not in html
    html = render(estimates=[], figures={}, failures=[], roles=RoleMapping())
    assert "No method failure was reported either" in html
    assert "No column was mapped to a causal role." in html


@pytest.mark.parametrize("n_methods", [1, 30])
def test_report_renders_for_many_methods(n_methods: int) -> None:
    estimates = [estimate(f"m{i}", 1 + i / 10) for i in range(n_methods)]
    html = render(estimates=estimates, figures={"forest_plot": forest_plot_png(estimates)})
    assert all(f">m{i}" in html for i in range(n_methods))
    assert html.rstrip().endswith("</html>")


def test_report_shows_a_methods_own_caveat_escaped() -> None:
    twfe = estimate("twfe", 150.0, estimand="ATT").model_copy(
        update={"diagnostics": {"warning": f"Staggered adoption (3 cohorts) {HOSTILE}"}}
    )
    html = render(estimates=[*ESTIMATES, twfe])
    row = re.search(r'<th scope="row">twfe.*?</tr>', html, re.S)
    assert row is not None and "Staggered adoption (3 cohorts)" in row.group(0)
    assert HOSTILE not in html


def test_report_shows_each_contrast_of_a_multi_valued_treatment_under_its_method() -> None:
    contrasts = [
        ArmContrast(
            arm="B", reference="A", estimate=1.02, std_error=0.05, ci_lower=0.922, ci_upper=1.118,
            p_value=1e-9, n_arm=1200,
        ),
        ArmContrast(
            arm=f"C {HOSTILE}", reference="A", estimate=2.1, std_error=0.06, ci_lower=1.982,
            ci_upper=2.218, p_value=0.03, n_arm=900,
        ),
    ]  # fmt: skip
    multi = estimate("ols", 1.02).model_copy(
        update={"contrasts": contrasts, "diagnostics": {"headline_contrast": "B vs A"}}
    )
    html = render(estimates=[multi, estimate("psm", 1.9, estimand="ATT")])
    assert HOSTILE not in html
    rows = re.findall(r"<tr[^>]*>.*?</tr>", html.split('id="estimates-title"')[1].split("</table>")[0], re.S)
    kinds = [re.search(r'<th scope="row">(?:<span[^>]*>[^<]*</span>)?\s*([^<\n]+)', row) for row in rows[1:]]
    labels = [match.group(1).strip() if match else "" for match in kinds]
    # The method row, then its two contrasts indented beneath it, then the next method.
    assert labels == ["ols", "B vs A", "C &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; vs A", "psm"]
    assert all('class="contrast"' in row for row in rows[2:4]) and 'class="contrast"' not in rows[4]
    assert "[0.922, 1.118] (95%)" in rows[2] and "1,200" in rows[2] and "headline estimate" in rows[2]
    assert "[1.982, 2.218] (95%)" in rows[3] and "0.030" in rows[3] and "900" in rows[3]
    assert "headline estimate" not in rows[3]


def test_report_shows_each_contrasts_holm_adjusted_p_value_next_to_the_raw_one() -> None:
    contrasts = [
        ArmContrast(arm="B", reference="A", estimate=0.4, p_value=0.012, p_value_adjusted=0.036),
        ArmContrast(arm="C", reference="A", estimate=0.1, p_value=0.3, p_value_adjusted=0.6),
        ArmContrast(arm="D", reference="A", estimate=0.0, p_value=0.9),  # an older result: raw p only
    ]
    multi = estimate("ols", 0.4).model_copy(update={"contrasts": contrasts})
    html = render(estimates=[multi])
    rows = re.findall(r'<tr class="contrast">.*?</tr>', html, re.S)
    assert len(rows) == 3
    assert "0.012 (Holm 0.036)" in rows[0] and "0.300 (Holm 0.600)" in rows[1]
    assert "0.900" in rows[2] and "Holm" not in rows[2]


def test_an_event_study_figure_is_drawn_from_panel_diagnostics() -> None:
    from cqox_visualization.figures import event_study_png

    assert event_study_png(ESTIMATES) is None
    dynamic = estimate("cs_did", 1.5, estimand="ATT").model_copy(
        update={
            "diagnostics": {"att_event_0": 1.0, "se_event_0": 0.2, "att_event_1": 1.5, "se_event_1": 0.25}
        }
    )
    png = event_study_png([*ESTIMATES, dynamic])
    assert png is not None and png.startswith(b"\x89PNG")
    html = render(estimates=[*ESTIMATES, dynamic], figures={"event_study": png})
    assert "Effect by time since adoption" in html
    assert parse(html).images[-1]["alt"].startswith("Event-study plot")  # type: ignore[union-attr]


def test_the_event_study_shades_the_simultaneous_band_when_reported() -> None:
    from cqox_visualization.figures import _event_band, event_study_png

    points = {"att_event_0": 1.0, "se_event_0": 0.2, "att_event_1": 1.5, "se_event_1": 0.25}
    band = {
        "att_event_0_band_lower": 0.45,
        "att_event_0_band_upper": 1.55,
        "att_event_1_band_lower": 0.81,
        "att_event_1_band_upper": 2.19,
    }
    assert _event_band({**points, **band}, [0, 1]) == ([0.45, 0.81], [1.55, 2.19])
    assert _event_band({**points, "att_event_0_band_lower": 0.45}, [0, 1]) is None  # incomplete
    plain = estimate("cs_did", 1.5, estimand="ATT").model_copy(update={"diagnostics": points})
    banded = plain.model_copy(update={"diagnostics": {**points, **band}})
    with_band, without = event_study_png([banded]), event_study_png([plain])
    assert with_band is not None and without is not None and with_band != without


def rd_estimate(*, design: str = "sharp", p: int = 1) -> EstimateResult:
    """An rd_robust result with the RD plot data its diagnostics carry (cutoff 50)."""
    diagnostics: dict[str, float | str | None] = {
        "rd_design": design,
        "cutoff": 50.0,
        "polynomial_order": float(p),
        "bandwidth_h_left": 10.0,
        "bandwidth_h_right": 10.0,
    }
    for k in range(30):
        x = 30.0 + 40.0 * (k + 0.5) / 30
        diagnostics[f"rd_plot_bin_{k}_x"] = x
        diagnostics[f"rd_plot_bin_{k}_y"] = 0.1 * x + (2.0 if x >= 50 else 0.0)
        diagnostics[f"rd_plot_bin_{k}_n"] = 40.0 + k
    points = 2 if p == 1 else 9
    for side, direction, jump in (("left", -1, 0.0), ("right", 1, 2.0)):
        for j in range(points):
            x = 50.0 + direction * 10.0 * j / (points - 1)
            diagnostics[f"rd_plot_fit_{side}_{j}_x"] = x
            diagnostics[f"rd_plot_fit_{side}_{j}_y"] = 0.1 * x + jump
    return estimate("rd_robust", 2.0, estimand="LATE").model_copy(update={"diagnostics": diagnostics})


@pytest.mark.parametrize(("design", "p"), [("sharp", 1), ("fuzzy", 2)])
def test_an_rd_plot_is_drawn_from_discontinuity_diagnostics(design: str, p: int) -> None:
    from cqox_visualization.figures import rd_plot_png, rd_plot_size

    assert rd_plot_png(ESTIMATES) is None
    assert rd_plot_png([]) is None
    rd = rd_estimate(design=design, p=p)
    roles = RoleMapping(treatment="treated", outcome="得票率", running_variable="margin", cutoff=50.0)
    png = rd_plot_png([*ESTIMATES, rd], roles=roles)
    assert png is not None and png.startswith(b"\x89PNG")
    assert rd_plot_png([rd]) == rd_plot_png([rd])  # deterministic bytes, default axis labels
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[1::-1] == rd_plot_size()
    assert (pixels[..., :3] < 0.95).any(axis=-1).mean() > 0.01  # not blank
    html = render(estimates=[*ESTIMATES, rd], figures={"rd_plot": png})
    assert "Regression discontinuity plot" in html
    image = parse(html).images[-1]
    assert (image["alt"] or "").startswith("Regression discontinuity plot")
    caption = re.search(
        r"<figcaption><strong>Regression discontinuity plot\.</strong>(.*?)</figcaption>", html
    )
    assert caption is not None and "jump between them at the dashed cutoff" in caption.group(1)
    assert ("local quadratic" if p == 2 else "local linear") in caption.group(1)
    assert ("fuzzy design" in caption.group(1)) is (design == "fuzzy")
    assert "adjusts for covariates" not in caption.group(1)
    adjusted = rd.model_copy(update={"diagnostics": {**rd.diagnostics, "covariate_adjustment": "yes"}})
    assert rd_plot_png([adjusted]) != rd_plot_png([rd])  # says so under the title
    html = render(estimates=[adjusted], figures={"rd_plot": png})
    assert "adjusts for covariates, so it can differ slightly" in html


def test_an_rd_plot_needs_both_fit_lines() -> None:
    from cqox_visualization.figures import rd_plot_png

    rd = rd_estimate()
    one_side = {k: v for k, v in rd.diagnostics.items() if not k.startswith("rd_plot_fit_right")}
    assert rd_plot_png([rd.model_copy(update={"diagnostics": one_side})]) is None
    no_bins = {k: v for k, v in rd.diagnostics.items() if not k.startswith("rd_plot_bin")}
    no_bins["rd_plot_fit_left_0_y"] = float("nan")  # a non-finite point ends the line there
    assert rd_plot_png([rd.model_copy(update={"diagnostics": no_bins})]) is None


def test_the_handler_adds_the_rd_plot_to_the_figures_and_the_report() -> None:
    from cqox_contracts.v1 import AnalysisAssessed
    from cqox_visualization.handlers import _render

    roles = RoleMapping(treatment="treated", outcome="vote", running_variable="margin", cutoff=50.0)
    event = AnalysisAssessed(
        correlation_id="an_42", producer="test", analysis_id="an_42", dataset=DATASET, roles=roles,
        design="regression discontinuity", estimates=[rd_estimate()], gates=[],
    )  # fmt: skip
    rendered = _render(event)
    assert {"forest_plot", "rd_plot"} <= set(rendered.images)
    assert rendered.images["rd_plot"].startswith(b"\x89PNG")
    assert 'id="plot-rd_plot"' in rendered.html  # drawn by Plotly in the page
    assert "Regression discontinuity: jump at the cutoff (rd_robust)" in rendered.html
    assert rendered.images["rd_plot"] == rd_plot_png([rd_estimate()], roles=roles)  # the PDF's static one


def test_the_report_shows_the_verdict_first_and_a_sensitivity_section() -> None:
    from cqox_contracts.v1 import (
        AnalysisAssessed,
        BenchmarkBound,
        EstimateRobustness,
        EValue,
        GammaPoint,
        OmittedVariableBias,
        RosenbaumBounds,
        SensitivityPanel,
        Verdict,
    )
    from cqox_visualization.handlers import _render

    ovb = OmittedVariableBias(
        estimate=2.0, std_error=0.1, dof=3990, partial_r2=0.09, robustness_value=0.27,
        robustness_value_alpha=0.24,
        bounds=[BenchmarkBound(
            covariate="spend", k=1, r2dz_x=0.05, r2yz_dx=0.3, adjusted_estimate=1.1, adjusted_se=0.09,
            adjusted_ci_lower=0.92, adjusted_ci_upper=1.28,
        )],
        strongest_covariate="spend",
        regression="OLS of the outcome on the treatment, an intercept and 3 covariate column(s).",
    )  # fmt: skip
    own = EstimateRobustness(
        t_statistic=20.0,
        dof=3990,
        partial_r2=0.091,
        robustness_value=0.27,
        robustness_value_alpha=0.245,
    )
    panels = [
        SensitivityPanel(
            method="ols", estimand="ATE", estimate=2.0, headline=True, omitted_variable_bias=ovb,
            estimate_robustness=own,
            e_value=EValue(point=3.1, ci=2.9, risk_ratio=1.9, conversion="RR ≈ exp(0.91 d)"),
            summary="A hidden confounder would need 3.10.",
        ),
        SensitivityPanel(
            method="psm", estimand="ATT", estimate=1.9,
            rosenbaum=RosenbaumBounds(
                n_pairs=1800, critical_gamma=2.4,
                curve=[GammaPoint(gamma=g, p_upper=min(1.0, (g - 1) / 3)) for g in (1, 2, 3, 4)],
            ),
            notes=["No OVB: propensity only."],
        ),
    ]  # fmt: skip
    verdict = Verdict(
        level="CAUTION", summary="CAUTION: the headline rests on doubtful assumptions (e_value).",
        passed=["overlap (propensity_overlap)"], failed=["e_value: weak"], untestable=["no unmeasured confounding"],
        robustness="A hidden confounder would need 3.10.",
    )  # fmt: skip
    event = AnalysisAssessed(
        correlation_id="an_43", producer="test", analysis_id="an_43", dataset=DATASET,
        roles=RoleMapping(treatment="t", outcome="y"), design="observational", estimates=ESTIMATES,
        gates=GATES, sensitivity=panels, verdict=verdict,
    )  # fmt: skip
    rendered = _render(event)
    html = rendered.html
    assert {"sensitivity_contour", "rosenbaum_curve", "e_value"} <= set(rendered.images)
    assert html.index("CAUTION") < html.index('id="roles-title"')  # on the first screen
    assert "no unmeasured confounding" in html and "Sensitivity to hidden confounding" in html
    assert "Robustness value (Cinelli &amp; Hazlett)" in html and "Rosenbaum Γ" in html
    assert "Sensitivity contours (Cinelli &amp; Hazlett), ols" in html and "Rosenbaum bounds, psm" in html
    assert "No OVB: propensity only." in html
    assert "Regression behind these figures" in html and "an intercept and 3 covariate column(s)" in html
    assert "Robustness value of this estimate" in html and "partial R² 9.1% (t = 20.00, 3990 df)" in html
