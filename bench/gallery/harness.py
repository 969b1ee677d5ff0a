"""Upload one gallery dataset through the HTTP API as a user would, wait for the analysis, score it.

The bar (issue 12): the headline is inside the tolerance, and every other estimate is inside it or
flagged by a named gate (a failed gate whose `applies_to` names the method and whose message says
why). Nothing here knows a method or gate name: what a method is and what flags it come from the
analysis the API returns.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.gallery.datasets import GalleryDataset, Reference
from cqox_contracts.v1.vocabulary import Estimand, Refuter

TERMINAL = ("completed", "failed", "rejected", "awaiting_confirmation")
# Not an effect estimate: shown, never scored against a published effect.
NOT_AN_EFFECT = {Estimand.POLICY_GAIN.value, Estimand.CATE.value}


@dataclass
class MethodScore:
    """One method's estimate (or one contrast of a multi-arm method) against the published figure."""

    method: str
    estimand: str
    estimate: float
    ci_lower: float | None
    ci_upper: float | None
    reference: float
    tolerance: float
    in_tolerance: bool
    flags: list[str] = field(default_factory=list)  # failed gates naming this method
    scored: bool = True  # False for estimands that are not an effect (policy gain)

    @property
    def ok(self) -> bool:
        """Inside the tolerance, or flagged by a named gate (or not an effect estimate)."""
        return self.in_tolerance or bool(self.flags) or not self.scored


@dataclass
class Headline:
    """What the analysis leads with."""

    estimand: str
    estimate: float | None
    ci_lower: float | None = None
    ci_upper: float | None = None
    method: str = ""
    source: str = ""  # 'analysis.headline' (structured) or 'report headline text'
    reason: str = ""


@dataclass
class RefuterOutcome:
    """One refuter over the analysis: how many methods' checks passed and failed, and the headline's."""

    refuter: str
    passed: int = 0
    failed: int = 0
    headline: str = ""  # 'passed', 'failed' or '' (not run on the headline's method)


@dataclass
class Robustness:
    """What the analysis says about its headline beyond the estimate (issue 14): verdict, the
    sensitivity panel's E-value and robustness value, and the refuters' outcomes."""

    verdict: str = ""  # GO / CAUTION / HOLD
    verdict_summary: str = ""
    e_value: float | None = None
    e_value_ci: float | None = None
    robustness_value: float | None = None  # Cinelli & Hazlett RV (q = 1), a share
    robustness_value_alpha: float | None = None
    panel_method: str = ""
    panel_notes: list[str] = field(default_factory=list)
    refuters: list[RefuterOutcome] = field(default_factory=list)

    @property
    def shown(self) -> bool:
        """Whether the analysis carried a verdict, a sensitivity panel or refuter checks at all."""
        return bool(self.verdict or self.panel_method or self.refuters)


@dataclass
class Row:
    """The gallery's verdict on one dataset."""

    name: str
    claim: str
    expected_design: str
    package: str
    reference: float
    tolerance: float
    source: str
    analysis_id: str = ""
    status: str = ""
    design: str = ""
    error: str = ""
    roles: dict[str, Any] = field(default_factory=dict)
    headline: Headline | None = None
    headline_in_tolerance: bool = False
    headline_reference: float | None = None
    headline_tolerance: float | None = None
    scores: list[MethodScore] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    failed_gates: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # --seeds N: the same file re-uploaded with seeds 2..N; per method the range of its estimates
    # over the seeds and that range divided by its SE; the headline's range over its CI half-width
    seed_spread: dict[str, dict[str, float]] = field(default_factory=dict)
    robustness: Robustness = field(default_factory=Robustness)

    @property
    def reasons(self) -> list[str]:
        """Why the row misses the bar (empty when it meets it)."""
        out: list[str] = []
        if self.status != "completed":
            why = f": {self.error}" if self.error else ""
            out.append(f"analysis {self.status or 'not started'}{why}")
        if self.headline is None or self.headline.estimate is None:
            if self.status == "completed":
                out.append("no headline")
        elif not self.headline_in_tolerance:
            out.append(
                f"headline {self.headline.estimand} {_fmt(self.headline.estimate)} outside "
                f"{_fmt(self.headline_reference)} ± {_fmt(self.headline_tolerance)}"
            )
        for score in self.scores:
            if not score.ok:
                out.append(
                    f"{score.method} {_fmt(score.estimate)} outside {_fmt(score.reference)} ± "
                    f"{_fmt(score.tolerance)}, no gate flags it"
                )
        return out

    @property
    def meets_bar(self) -> bool:
        """Headline inside the tolerance; every other estimate inside it or flagged."""
        return not self.reasons

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        """Rebuild a row written by --json (to re-render the tables without re-running)."""
        data = {k: v for k, v in data.items() if k not in ("meets_bar", "reasons")}
        head = data.pop("headline", None)
        scores = [MethodScore(**{k: v for k, v in s.items() if k != "ok"}) for s in data.pop("scores", [])]
        raw = dict(data.pop("robustness", None) or {})
        refuters = [RefuterOutcome(**r) for r in raw.pop("refuters", [])]
        robustness = Robustness(**raw, refuters=refuters)
        return cls(**data, headline=Headline(**head) if head else None, scores=scores, robustness=robustness)

    def to_json(self) -> dict[str, Any]:
        """Plain dict for --json."""
        data = asdict(self)
        data["meets_bar"] = self.meets_bar
        data["reasons"] = self.reasons
        for score, raw in zip(self.scores, data["scores"], strict=True):
            raw["ok"] = score.ok
        return data


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.2f}"
    if magnitude >= 0.1:
        return f"{value:.3f}"
    return f"{value:.4f}"


# ----------------------------------------------------------------------------------- HTTP


def upload(api: httpx.Client, dataset: GalleryDataset, path: Path, seed: int = 1) -> httpx.Response:
    """POST /v1/datasets with the file and an analysis spec holding only the user's roles."""
    spec: dict[str, Any] = {"methods": "auto", "roles": dataset.roles, "seed": seed}
    if dataset.options:
        spec["options"] = dataset.options
    media = "application/vnd.apache.parquet" if path.suffix == ".parquet" else "text/csv"
    for attempt in range(5):
        with path.open("rb") as handle:
            response = api.post(
                "/v1/datasets",
                files={"file": (path.name, handle, media)},
                data={"analysis": json.dumps(spec), "name": f"gallery-{dataset.name}"},
                timeout=300,
            )
        if response.status_code != 429:
            return response
        time.sleep(float(response.headers.get("Retry-After", 2)) + attempt)
    return response


def wait(api: httpx.Client, analysis_id: str, timeout: float) -> dict[str, Any]:
    """Poll GET /v1/analyses/{id} until the analysis is done, failed, rejected or waits for the user."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = api.get(f"/v1/analyses/{analysis_id}")
        if response.status_code == 200:
            body = response.json()
            if body.get("status") in TERMINAL:
                return body
        time.sleep(0.5)
    body = dict(body)
    body["status"] = f"timeout ({body.get('status', 'unknown')} after {timeout:.0f}s)"
    return body


# ----------------------------------------------------------------------------------- scoring

_HEADLINE_NUMBER = re.compile(r"(?:methods: |= )(-?[0-9][0-9,]*\.?[0-9]*(?:e[-+]?[0-9]+)?)")
_HEADLINE_LABEL = re.compile(r"^(?:Median )?(.+?)(?: across \d+ methods:| = )")
_HEADLINE_CI = re.compile(r"CI \[?(-?[0-9][0-9,.e+-]*)(?:,| to) (-?[0-9][0-9,.e+-]*)\]?")


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def headline_of(analysis: dict[str, Any]) -> Headline | None:
    """The analysis's headline: the structured one when the API gives it, else the report's sentence."""
    structured = analysis.get("headline")
    if isinstance(structured, dict) and structured.get("estimate") is not None:
        return Headline(
            estimand=str(structured.get("estimand", "")),
            estimate=float(structured["estimate"]),
            ci_lower=structured.get("ci_lower"),
            ci_upper=structured.get("ci_upper"),
            method=str(structured.get("method", "")),
            source="analysis.headline",
            reason=str(structured.get("reason", "")),
        )
    report = analysis.get("report") or {}
    text = str(report.get("headline") or "")
    number = _HEADLINE_NUMBER.search(text)
    if not number:
        return None
    label = _HEADLINE_LABEL.search(text)
    ci = _HEADLINE_CI.search(text)
    single = re.search(r"from a single method \(([a-z0-9_]+)", text)
    return Headline(
        estimand=label.group(1) if label else "?",
        estimate=_number(number.group(1)),
        ci_lower=_number(ci.group(1)) if ci else None,
        ci_upper=_number(ci.group(2)) if ci else None,
        method=single.group(1) if single else "median of methods",
        source="report headline text",
        reason=text,
    )


def _flags(method: str, gates: list[dict[str, Any]]) -> list[str]:
    return sorted(
        {
            str(g["name"])
            for g in gates
            if not g.get("passed", True) and method in (g.get("applies_to") or []) and g.get("message")
        }
    )


def _contrast_arm(estimate: dict[str, Any]) -> str | None:
    label = str((estimate.get("diagnostics") or {}).get("headline_contrast") or "")
    return label.split(" vs ")[0] if " vs " in label else None


def score(dataset: GalleryDataset, analysis: dict[str, Any], row: Row) -> Row:
    """Fill the row from the finished analysis."""
    reference = dataset.reference
    gates = list(analysis.get("gates") or [])
    row.status = str(analysis.get("status", ""))
    row.design = str(analysis.get("design") or "")
    row.error = str(analysis.get("error") or "")
    row.roles = dict(analysis.get("roles") or {})
    row.failures = [
        {"method": str(f.get("method")), "reason": str(f.get("reason"))}
        for f in analysis.get("failures") or []
    ]
    if row.status == "awaiting_confirmation":
        threshold = float(analysis.get("confidence_threshold") or 0.6)
        unsure = [
            f"{a.get('role')}={a.get('column')} ({float(a.get('confidence', 0)):.2f})"
            for a in analysis.get("mapping") or []
            if float(a.get("confidence", 1)) < threshold
        ]
        row.error = "waits for the user to confirm " + (", ".join(unsure) or "the mapping")
    row.failed_gates = sorted({str(g["name"]) for g in gates if not g.get("passed", True)})
    for estimate in analysis.get("estimates") or []:
        method = str(estimate["method"])
        flags = _flags(method, gates)
        contrasts = estimate.get("contrasts") or []
        if dataset.contrasts and contrasts:
            for contrast in contrasts:
                ref = dataset.contrasts.get(str(contrast.get("arm")))
                if ref is None:
                    continue
                row.scores.append(_score(f"{method}[{contrast['arm']}]", estimate, contrast, ref, flags))
            continue
        row.scores.append(_score(method, estimate, estimate, reference, flags))
    row.headline = headline_of(analysis)
    row.robustness = robustness_of(analysis, row.headline)
    if row.headline is not None and row.headline.estimate is not None:
        ref = reference
        if dataset.contrasts:
            lead = next(
                (e for e in analysis.get("estimates") or [] if e["method"] == row.headline.method),
                next(iter(analysis.get("estimates") or []), None),
            )
            arm = _contrast_arm(lead) if lead else None
            ref = dataset.contrasts.get(arm or "", reference)
        row.headline_reference = ref.value
        row.headline_tolerance = ref.tolerance
        row.headline_in_tolerance = _inside(row.headline.estimate, ref)
    return row


def robustness_of(analysis: dict[str, Any], headline: Headline | None) -> Robustness:
    """The verdict, the headline's sensitivity panel and the refuter gates of the analysis."""
    verdict = analysis.get("verdict") or {}
    out = Robustness(
        verdict=str(verdict.get("level") or ""), verdict_summary=str(verdict.get("summary") or "")
    )
    panels = [p for p in analysis.get("sensitivity") or [] if isinstance(p, dict)]
    panel = next((p for p in panels if p.get("headline")), None)
    if panel is not None:
        out.panel_method = str(panel.get("method") or "")
        out.panel_notes = [str(n) for n in panel.get("notes") or []]
        e_value = panel.get("e_value") or {}
        out.e_value, out.e_value_ci = e_value.get("point"), e_value.get("ci")
        ovb = panel.get("omitted_variable_bias") or {}
        out.robustness_value = ovb.get("robustness_value")
        out.robustness_value_alpha = ovb.get("robustness_value_alpha")
    lead = {headline.method} if headline is not None and headline.method else set()
    by_refuter: dict[str, RefuterOutcome] = {}
    for gate in analysis.get("gates") or []:
        name = str(gate.get("name", ""))
        base, _, rest = name.partition("[")
        if base not in {r.value for r in Refuter}:
            continue
        outcome = by_refuter.setdefault(base, RefuterOutcome(base))
        passed = bool(gate.get("passed", True))
        outcome.passed += passed
        outcome.failed += not passed
        methods = set(gate.get("applies_to") or []) | {rest.rstrip("]")}
        if lead & methods:
            outcome.headline = "passed" if passed else "failed"
    out.refuters = [by_refuter[r.value] for r in Refuter if r.value in by_refuter]
    return out


def _inside(value: float | None, reference: Reference) -> bool:
    return value is not None and math.isfinite(value) and abs(value - reference.value) <= reference.tolerance


def _score(
    method: str, estimate: dict[str, Any], numbers: dict[str, Any], ref: Reference, flags: list[str]
) -> MethodScore:
    value = float(numbers["estimate"])
    estimand = str(estimate.get("estimand", ""))
    if estimand == Estimand.BOUNDS.value:
        # partial identification: in tolerance when the published value lies inside the bounds' CI
        low, high = numbers.get("ci_lower"), numbers.get("ci_upper")
        inside = low is not None and high is not None and low <= ref.value <= high
    else:
        inside = _inside(value, ref)
    return MethodScore(
        method=method,
        estimand=str(estimate.get("estimand", "")),
        estimate=value,
        ci_lower=numbers.get("ci_lower"),
        ci_upper=numbers.get("ci_upper"),
        reference=ref.value,
        tolerance=ref.tolerance,
        in_tolerance=inside,
        flags=flags,
        scored=estimand not in NOT_AN_EFFECT,
    )


def reupload(api: httpx.Client, dataset: GalleryDataset, folder: Path, row: Row, seeds: int) -> Row:
    """Upload the same file again with seeds 2..N and record how far each estimate moves."""
    path = folder / f"{dataset.name}.{dataset.file_format}"
    values: dict[str, list[float]] = {s.method: [s.estimate] for s in row.scores}
    ses: dict[str, float] = {}
    heads = [row.headline.estimate] if row.headline and row.headline.estimate is not None else []
    half = None
    if row.headline and row.headline.ci_lower is not None and row.headline.ci_upper is not None:
        half = (row.headline.ci_upper - row.headline.ci_lower) / 2
    for seed in range(2, seeds + 1):
        response = upload(api, dataset, path, seed=seed)
        if response.status_code != 202:
            continue
        analysis = wait(api, str(response.json()["analysis_id"]), dataset.timeout_s)
        again = score(dataset, analysis, Row(row.name, row.claim, row.expected_design, row.package, 0, 0, ""))
        for s in again.scores:
            values.setdefault(s.method, []).append(s.estimate)
        for e in analysis.get("estimates") or []:
            if e.get("std_error"):
                ses[str(e["method"])] = float(e["std_error"])
        if again.headline and again.headline.estimate is not None:
            heads.append(again.headline.estimate)
    for method, xs in values.items():
        if len(xs) > 1:
            spread = max(xs) - min(xs)
            se = ses.get(method.split("[")[0])
            row.seed_spread[method] = {"range": spread, "range_over_se": spread / se if se else math.nan}
    if len(heads) > 1:
        spread = max(heads) - min(heads)
        row.seed_spread["(headline)"] = {
            "range": spread,
            "range_over_se": spread / half if half else math.nan,
        }
    return row


def run_dataset(api: httpx.Client, dataset: GalleryDataset, folder: Path) -> Row:
    """Write, upload, wait, score."""
    started = time.monotonic()
    ref = dataset.reference
    row = Row(
        name=dataset.name,
        claim=dataset.claim,
        expected_design=dataset.design,
        package=dataset.package,
        reference=ref.value,
        tolerance=ref.tolerance,
        source=ref.source,
    )
    path = dataset.write(folder)
    response = upload(api, dataset, path)
    if response.status_code != 202:
        row.status = f"upload refused ({response.status_code})"
        row.error = response.text[:500]
        row.seconds = time.monotonic() - started
        return row
    row.analysis_id = str(response.json()["analysis_id"])
    analysis = wait(api, row.analysis_id, dataset.timeout_s)
    score(dataset, analysis, row)
    row.seconds = time.monotonic() - started
    return row
