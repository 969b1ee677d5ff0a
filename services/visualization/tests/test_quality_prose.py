"""The quality gate's prose in a Japanese report: every gate message form, the verdict, the
sensitivity panel and the refuter lines rebuilt from structured fields, and no English left.

The demo fixtures are the analysis.assessed events the stack emitted for the three demo samples
(see test_catalogue.py); the unit cases below build one gate per message form.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from babel.messages.extract import extract_from_file
from markupsafe import escape

from cqox_contracts.v1 import GATE_ASSUMPTIONS, AnalysisAssessed, GateResult
from cqox_visualization import quality_prose
from cqox_visualization.catalogue import Evidence, build_views
from cqox_visualization.i18n import catalogue_ids, language
from cqox_visualization.quality_prose import FORMS, REPORTED_FORMS, gate_family, gate_message, verdict_reason
from cqox_visualization.report import render_report_html

HERE = Path(__file__).parent
EXAMPLES = HERE.parents[2] / "examples"
SAMPLES = ("customers", "grant_rd", "store_panel_sjis")
JA = language("ja")
# Four or more ASCII words in a row: an English phrase. Code, method and column names are single
# tokens (aipw, diff_in_means, max |SMD|), so they never make such a run on their own.
ENGLISH_RUN = re.compile(r"(?<![\w_.])(?:[A-Za-z][a-z'’-]+[ ,;:]+){3,}[A-Za-z][a-z'’-]+(?![\w_])")
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


class _Prose(HTMLParser):
    """The page's visible text, leaving out scripts, styles, code and parts marked lang="en"."""

    _SKIPPED = ("script", "style", "code")

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "img", "meta", "link", "input", "hr", "col"):
            return
        skipped = tag in self._SKIPPED or dict(attrs).get("lang") == "en"
        self.stack.append(skipped or (bool(self.stack) and self.stack[-1]))

    def handle_endtag(self, tag: str) -> None:
        if self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1]) and data.strip():
            self.parts.append(data.strip())


def english_runs(html: str) -> list[str]:
    """Every English phrase left in the page's prose."""
    parser = _Prose()
    parser.feed(html)
    return [m.group(0) for part in parser.parts for m in ENGLISH_RUN.finditer(part)]


def assessed(sample: str) -> AnalysisAssessed:
    """The recorded analysis.assessed event of one demo sample."""
    return AnalysisAssessed.model_validate_json((HERE / "fixtures" / f"{sample}.assessed.json").read_text())


def _columns(sample: str) -> pd.DataFrame:
    if sample == "store_panel_sjis":
        frame = pd.read_csv(EXAMPLES / f"{sample}.csv", encoding="cp932")
        frame["キャンペーン配信"] = frame["キャンペーン配信"] == "はい"
        return frame
    return pd.read_csv(EXAMPLES / f"{sample}.csv")


def test_the_phrase_check_finds_english_and_passes_names_and_numbers() -> None:
    assert english_runs("<p>処置 received_coupon は 2 群 (p = 0.302, max |SMD| 0.33)</p>") == []
    assert english_runs("<p>結果 <b>no effect where there is none</b></p>") == [
        "no effect where there is none"
    ]
    assert english_runs('<p lang="en">no effect where there is none</p><code>a b c d e</code>') == []


@pytest.mark.parametrize("sample", SAMPLES)
def test_the_japanese_report_of_each_demo_sample_has_no_english_prose(sample: str) -> None:
    event = assessed(sample)
    views = build_views(Evidence(event, _columns(sample)), JA)
    html = render_report_html(
        analysis_id=event.analysis_id, dataset=event.dataset, roles=event.roles, design=event.design,
        estimates=event.estimates, failures=event.failures, gates=event.gates, lead=event.headline,
        sensitivity=event.sensitivity, verdict=event.verdict, views=views, interactive=True, lang=JA,
    )  # fmt: skip
    assert english_runs(html) == []
    for gate in event.gates:  # every gate of the demo has a message form of its own, not the general one
        message = gate_message(gate, JA)
        assert gate_family(gate.name)[0] in FORMS and gate.name not in message, message
        assert str(escape(message)) in html


def test_the_english_report_keeps_the_quality_gates_own_words() -> None:
    event = assessed("customers")
    for gate in event.gates:
        assert gate_message(gate, language("en")) == gate.message


def _gate(name: str, passed: bool, value: float | None, threshold: float | None, **kw: object) -> GateResult:
    category = kw.pop("category", "causal")
    return GateResult(
        name=name, category=category, passed=passed, severity=kw.pop("severity", "warning"),  # type: ignore[arg-type]
        value=value, threshold=threshold, message="English", **kw,  # type: ignore[arg-type]
    )  # fmt: skip


REFUTED = {
    "estimate": 1.987,
    "refuted_estimate": 0.0501,
    "refuted_std_error": 0.0485,
    "p_value": 0.302,
    "shift_se": 0.019,
}
# One gate per message form, and a piece of its Japanese sentence that only that form says.
SUPPORT = {"n_treated": 200, "propensity_min_control": 0.01, "propensity_max_control": 0.9}

CASES = [
    (_gate("required_roles", True, 0.0, 0.0, category="data"), "処置と結果の両方"),
    (_gate("required_roles", False, 1.0, 0.0, category="data", details={"unmapped_roles": "outcome"}), "アウトカム に対応づけ"),
    (_gate("columns_present", True, 0.0, 0.0, category="data"), "すべての列がデータに"),
    (_gate("columns_present", False, 1.0, 0.0, category="data", details={"missing:age": "covariate"}), "age（共変量）"),
    (_gate("completeness:age", True, 0.0, 0.2, category="data", details={"role": "covariate"}), "上限 20% 以内"),
    (_gate("completeness:y", False, 0.25, 0.2, category="data", details={"role": "outcome", "n_rows": 4000.0, "n_missing": 1000.0}), "値のある 3,000 行"),
    (_gate("completeness:age", False, 0.25, 0.2, category="data", details={"role": "covariate"}), "共変量から外すか補完"),
    (_gate("complete_cases", False, 0.5, 0.8, category="data", details={"n_complete": 50.0, "n_rows": 100.0, "columns": "t, y"}), "最低基準 80% を下回ります"),
    (_gate("complete_cases", True, 1.0, 0.8, category="data", details={"n_complete": 100.0, "n_rows": 100.0, "n_complete_with_covariates": 100.0}), "100 行すべて"),
    (_gate("complete_cases", True, 0.9, 0.8, category="data", details={"n_complete": 90.0, "n_rows": 100.0, "n_complete_with_covariates": 80.0, "columns": "t"}), "そのうち 80 行"),
    (_gate("complete_cases", True, 0.9, 0.8, category="data", details={"n_complete": 90.0, "n_rows": 100.0, "n_complete_with_covariates": 90.0, "columns": "t"}), "それらの行で推定します。"),
    (_gate("attrition", True, 0.0, 0.2, category="data", applies_to=["y"], details={"n_missing_outcome": 0.0}), "脱落はありません"),
    (_gate("attrition", True, 0.05, 0.2, category="data", applies_to=["y"], details={"n_missing_outcome": 5.0, "max_differential_attrition": 0.05, "attrition[0]": 0.04, "attrition[1]": 0.06}), "群間差の上限 5 ポイント"),
    (_gate("attrition", False, 0.3, 0.2, category="data", applies_to=["y"], details={"n_missing_outcome": 30.0, "max_differential_attrition": 0.05, "differential_attrition": 0.1}), "群間の差が 10.0 ポイント"),
    (_gate("treatment_arms", True, 40.0, 20.0, category="data", applies_to=["t"], details={"n_levels": 5.0, "treatment_scale": "continuous", "treatment_min": 0.0, "treatment_max": 9.0}), "連続的な処置"),
    (_gate("treatment_arms", True, 138.0, 20.0, category="data", applies_to=["t"], details={"n_levels": 2.0, "n_treated_units": 23.0, "n_control_units": 17.0, "n_treated_unit_periods": 138.0, "n_control_unit_periods": 342.0}), "単位のまとまりとして数え、それぞれ"),
    (_gate("treatment_arms", False, 0.0, 20.0, category="data", applies_to=["t"], details={"n_levels": 2.0, "n_treated_units": 23.0, "n_control_units": 0.0}), "一方の単位群が空"),
    (_gate("treatment_arms", False, 10.0, 20.0, category="data", applies_to=["t"], details={"n_levels": 2.0, "n_treated_units": 2.0, "n_control_units": 17.0}), "単位×期間が 20 未満"),
    (_gate("treatment_arms", True, 30.0, 20.0, category="data", applies_to=["t"], details={"n_levels": 3.0, "n[a]": 30.0, "n[b]": 40.0, "n[c]": 50.0}), "3 群があり"),
    (_gate("treatment_arms", False, 5.0, 20.0, category="data", applies_to=["t"], details={"n_levels": 3.0, "n[a]": 5.0, "n[b]": 40.0, "n[c]": 50.0}), "最小の群は 5 行"),
    (_gate("treatment_arms", False, 30.0, 20.0, category="data", applies_to=["t"], details={"n_levels": 12.0}), "12 水準"),
    (_gate("treatment_arms", True, 1899.0, 20.0, category="data", applies_to=["t"], details={"n_levels": 2.0, "n_treated": 2101.0, "n_control": 1899.0}), "処置 2,101、対照 1,899"),
    (_gate("treatment_arms", False, 0.0, 20.0, category="data", applies_to=["t"], details={"n_levels": 1.0, "levels": "1"}), "1 群（1）"),
    (_gate("treatment_arms", False, 5.0, 20.0, category="data", applies_to=["t"], details={"n_levels": 2.0, "n_treated": 5.0, "n_control": 90.0}), "最低 20 行"),
    (_gate("outcome_variance", False, None, 0.0, category="data", applies_to=["y"]), "数値ではありません"),
    (_gate("outcome_variance", True, 1.687, 0.0, category="data", applies_to=["y"]), "標準偏差 1.687"),
    (_gate("outcome_variance", False, 0.0, 0.0, category="data", applies_to=["y"]), "一定なので"),
    (_gate("raw_balance_smd", True, 0.05, 0.1), "調整前の共変量はバランスしています"),
    (_gate("raw_balance_smd", False, 0.33, 0.1, applies_to=["diff_in_means"], details={"worst": "age"}), "調整なしの推定（diff_in_means）"),
    (_gate("raw_balance_smd", False, 0.33, 0.1, details={"worst": "age"}), "調整なしの比較は"),
    (_gate("balance_smd", True, None, 0.1, severity="info", details={"n_covariates": 0.0}), "自明に満たされます"),
    (_gate("balance_smd", True, 0.01, 0.1, details={"max_smd_before": 0.33}), "調整前 0.33"),
    (_gate("balance_smd", False, 0.2, 0.1, applies_to=["ipw"], details={"worst_after": "age"}), "ipw の重みの下でも"),
    (_gate("balance_smd", False, 0.2, 0.1, details={"worst_after": "age"}), "重み付け後も共変量は"),
    (_gate("propensity_overlap", True, 1.0, 0.9, details={"propensity_lower": 0.05, "propensity_upper": 0.95}), "[0.05, 0.95]"),
    (_gate("propensity_overlap", False, 0.5, 0.9, applies_to=["ipw"], details={"propensity_lower": 0.05, "propensity_upper": 0.95}), "ipw に疑義"),
    (_gate("treated_overlap", True, 1.0, 0.9, details=SUPPORT | {"n_treated_outside_support": 0}), "外挿に依存しません"),
    (_gate("treated_overlap", True, 0.95, 0.9, details=SUPPORT | {"n_treated_outside_support": 10}), "残る 190 件"),
    (_gate("treated_overlap", False, 0.5, 0.9, details=SUPPORT | {"n_treated_outside_support": 100}), "200 件中 100 件"),
    (_gate("method_disagreement[ATT]", True, 0.36, 3.0), "ATT を推定する手法は一致"),
    (_gate("method_disagreement[ATE]", False, 5.0, 3.0, applies_to=["ols"], details={"disagrees:ols": "aipw, ipw"}), "ols は aipw、ipw と一致しません"),
    *[
        (_gate(name, passed, 0.5, 1.0 if name == "unstable_across_seeds" else 0.05, applies_to=[] if passed else ["m1"]), None)
        for name in REPORTED_FORMS
        for passed in (True, False)
    ],
    (_gate("vif", True, 1.51, 10.0, details={"vif:age": 1.51, "vif:income": 1.2}), "1.51（age）"),
    (_gate("vif", False, 30.0, 10.0, applies_to=["ols"], details={"vif:age": 30.0}), "共変量 age は"),
    (_gate("weak_overlap_share", True, 0.0, 0.2, details={"margin": 0.1}), "[0.10, 0.90]"),
    (_gate("weak_overlap_share", False, 0.3, 0.2, details={"margin": 0.1}), "Crump"),
    (_gate("effective_sample_size", True, 0.92, 0.3, details={"ess_treated": 1972.0, "ess_control": 1756.0, "ess_share[ATE]": 0.92}), "ATE の重み 92%"),
    (_gate("effective_sample_size", False, 0.1, 0.3, applies_to=["ipw"], details={"ess_share[ATE]": 0.1}), "ipw の重みでは"),
    (_gate("sample_ratio_mismatch", True, None, 0.001, severity="info", details={"n_treated": 50.0, "n_control": 50.0, "observed_treated_share": 0.5}), "検定できません"),
    (_gate("sample_ratio_mismatch", True, 0.6, 0.001, details={"observed_treated_share": 0.5, "expected_treated_share": 0.5}), "計画どおり"),
    (_gate("sample_ratio_mismatch", False, 0.0001, 0.001, details={"observed_treated_share": 0.6, "expected_treated_share": 0.5}), "標本比の不一致"),
    (_gate("pre_period_fit", True, 0.1, 0.5, details={"pre_rmspe[synthetic_control]": 2.0, "outcome_sd": 20.0}), "よく追跡しています"),
    (_gate("pre_period_fit", False, 0.9, 0.5, details={"pre_rmspe[synthetic_control]": 18.0, "outcome_sd": 20.0}), "追跡できていません"),
    (_gate("e_value", True, 7.68, 2.0, details={"e_value_ci": 7.25, "estimand": "ATE"}), "見出しの ATE を打ち消すには"),
    (_gate("e_value", False, 1.2, 2.0, details={"estimand": "ATT"}), "わずか 1.20"),
    (_gate("e_value", True, 3.0, 2.0), "見出しの 推定値 を打ち消すには"),  # an older event: no estimand
    *[
        (_gate(f"{refuter}[aipw]", passed, 0.302 if refuter != "random_common_cause" else 0.019, 0.05, details=REFUTED), None)
        for refuter in quality_prose._REFUTER_FORMS
        for passed in (True, False)
    ],
    (_gate("placebo_treatment[aipw]", False, None, 0.05, severity="info", details=REFUTED), "実行できませんでした"),
    (_gate("some_new_gate", True, 0.5, 1.0), "チェック some_new_gate は合格"),
    (_gate("some_new_gate", False, 2.0, 1.0, applies_to=["ols"]), "ols に疑義"),
    (_gate("attrition", False, None, 0.2, category="data", severity="error"), "計算できませんでした"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("gate", "expected"), CASES, ids=[f"{g.name}-{g.passed}-{i}" for i, (g, _) in enumerate(CASES)]
)
def test_each_gate_message_form_is_japanese_from_the_gates_fields(
    gate: GateResult, expected: str | None
) -> None:
    message = gate_message(gate, JA)
    assert JAPANESE.search(message) and english_runs(f"<p>{message}</p>") == [], message
    if expected is not None:
        assert expected in message, message
    family = gate_family(gate.name)[0]
    if family in FORMS and gate.value is not None:  # a form of its own, not the general sentence
        assert gate.name not in message or family == "method_disagreement", message


def test_the_forms_differ_when_the_gate_passes_or_fails() -> None:
    forms = [gate_message(g, JA) for g, _ in CASES]
    assert len(set(forms)) == len(forms)


def _quality_messages() -> set[str]:
    found = {
        m
        for _, m, _, _ in extract_from_file("python", Path(quality_prose.__file__), keywords={"t": None})
        if isinstance(m, str)
    }
    found |= {*quality_prose._ROLE_WORDS.values(), *quality_prose._REFUTER_WORDS.values()}
    found |= set(GATE_ASSUMPTIONS.values())
    found |= {form for pair in quality_prose._REFUTER_FORMS.values() for form in pair}
    found |= {form for passed, failed, _ in REPORTED_FORMS.values() for form in (passed, failed)}
    return found


def test_every_quality_message_has_a_japanese_translation_with_its_placeholders() -> None:
    missing = _quality_messages() - catalogue_ids("ja")
    assert not missing, f"add these to locale/ja/LC_MESSAGES/quality.po: {sorted(missing)}"
    placeholder = re.compile(r"\{(\w+)\}")
    for message in _quality_messages():
        translated = JA.gettext(message)
        assert set(placeholder.findall(translated)) == set(placeholder.findall(message)), message


def test_a_verdict_reason_is_worded_from_its_gate_not_from_the_english_words() -> None:
    gate = _gate("placebo_treatment[twfe]", True, 0.4, 0.05, details=REFUTED)
    reworded = (
        "a permuted treatment (reworded by the quality gate) shows no effect [twfe] (placebo_treatment[twfe])"
    )
    assert (
        verdict_reason(reworded, [gate], None, JA)
        == "偽の処置（並べ替えた処置。合成コントロールではドナーに移した処置）には効果が出ない"
        " [twfe] (placebo_treatment[twfe])"
    )
    failed = _gate("brand_new_check", False, 2.0, 1.0)
    reason = verdict_reason("something new holds (brand_new_check): English message", [failed], None, JA)
    assert (
        reason
        == "brand_new_check が確認する仮定 (brand_new_check)：チェック brand_new_check は不合格です：値 2.000、閾値 1.000。"
    )
