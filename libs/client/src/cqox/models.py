"""Typed answers of the two APIs. The parts the platform's events define (estimates, gates,
roles, headline, sensitivity, verdict, artifacts) are the contracts' own models; unknown fields
are ignored, so a newer server never breaks an older client."""

from __future__ import annotations

import html
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from cqox_contracts.v1 import (
    DesignSupport,
    EstimateResult,
    GateResult,
    Headline,
    MethodFailure,
    RoleAssignment,
    SensitivityPanel,
    Verdict,
)

if TYPE_CHECKING:
    import pandas as pd

DONE = frozenset({"completed", "failed", "rejected"})
FAILED = frozenset({"failed", "rejected"})
AWAITING_CONFIRMATION = "awaiting_confirmation"


class ApiModel(BaseModel):
    """Base of the response models: tolerant of fields added later."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Links(ApiModel):
    """Where to read a dataset and one of its analyses (paths under the API's URL)."""

    dataset: str
    analysis: str
    events: str
    report: str | None = None


class ArtifactLink(ApiModel):
    """A figure, report or table of an analysis: its name, media type and download link (older
    servers sent the object-store `uri` instead)."""

    name: str
    media_type: str
    url: str | None = None
    uri: str | None = None


class Estimate(EstimateResult):
    """One method's result (the contract's `EstimateResult`), its artifacts as download links."""

    artifacts: list[ArtifactLink] = Field(default_factory=list)  # type: ignore[assignment]


class Report(ApiModel):
    """The generated report: headline, artifacts and where to download it."""

    headline: str = ""
    artifacts: list[ArtifactLink] = Field(default_factory=list)
    url: str | None = None
    uri: str | None = None
    path: str | None = None


class Upload(ApiModel):
    """A stored dataset version and the analysis the upload started."""

    dataset_id: str
    version: int
    analysis_id: str
    format: str
    encoding: str | None = None
    rows: int
    columns: list[dict[str, Any]]
    notes: list[str] = Field(default_factory=list)
    schema_diff: dict[str, Any] = Field(default_factory=dict)
    links: Links


class AnalysisCreated(ApiModel):
    """An accepted analysis request."""

    analysis_id: str
    dataset_id: str
    version: int
    links: Links


class Analysis(ApiModel):
    """An analysis as the API shows it: status, roles, estimates, gates, verdict and report."""

    analysis_id: str
    dataset_id: str
    version: int
    status: str
    spec: dict[str, Any] = Field(default_factory=dict)
    design: str | None = None
    roles: dict[str, Any] | None = None
    mapping: list[RoleAssignment] = Field(default_factory=list)
    needs_confirmation: bool = False
    designs: list[DesignSupport] = Field(default_factory=list)
    mapping_notes: list[str] = Field(default_factory=list)
    confidence_threshold: float | None = None
    dictionary_version: str | None = None
    mapping_confirmed: bool = False
    planned_methods: list[str] = Field(default_factory=list)
    seed: int | None = None
    estimates: list[Estimate] = Field(default_factory=list)
    failures: list[MethodFailure] = Field(default_factory=list)
    gates: list[GateResult] = Field(default_factory=list)
    headline: Headline | None = None
    sensitivity: list[SensitivityPanel] = Field(default_factory=list)
    verdict: Verdict | None = None
    report: Report | None = None
    notifications: list[dict[str, Any]] = Field(default_factory=list)
    error: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    links: Links | None = None

    @property
    def done(self) -> bool:
        """Whether the analysis has ended (completed, failed or rejected)."""
        return self.status in DONE

    @property
    def failed(self) -> bool:
        """Whether it ended failed or rejected."""
        return self.status in FAILED

    @property
    def awaiting_confirmation(self) -> bool:
        """Whether it waits for a person to confirm the roles (`confirm_mapping`)."""
        return self.status == AWAITING_CONFIRMATION

    def estimates_frame(self) -> pd.DataFrame:
        """The estimates as a pandas DataFrame, one row per method, with the gates that doubt it."""
        return estimates_frame(self)

    def _repr_html_(self) -> str:
        return analysis_html(self)


class VersionSummary(ApiModel):
    """One stored version of a dataset."""

    version: int
    filename: str
    format: str
    encoding: str | None = None
    schema_diff: dict[str, Any] | None = None
    rows: int
    columns: list[dict[str, Any]] = Field(default_factory=list)
    size_bytes: int = 0
    sha256: str = ""
    notes: list[str] = Field(default_factory=list)
    created_at: datetime | None = None


class DatasetSummary(ApiModel):
    """A dataset in a listing: its name and latest version."""

    dataset_id: str
    name: str
    created_at: datetime | None = None
    latest_version: int | None = None


class Dataset(ApiModel):
    """A dataset with its versions and current mapping."""

    dataset_id: str
    name: str
    created_at: datetime | None = None
    latest_version: int | None = None
    versions: list[VersionSummary] = Field(default_factory=list)
    mapping: dict[str, Any] | None = None


class Versions(ApiModel):
    """Every version of a dataset."""

    dataset_id: str
    name: str
    versions: list[VersionSummary]


class DatasetSchema(ApiModel):
    """The registered schema and profile of one version."""

    dataset_id: str
    name: str
    version: int
    format: str
    encoding: str | None = None
    columns: list[dict[str, Any]]
    schema_diff: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None


class MappingConfirmed(ApiModel):
    """The confirmed roles and the analysis that continues (or re-runs) with them."""

    analysis_id: str
    dataset_id: str
    version: int
    continues: bool
    replaces_analysis_id: str | None = None
    roles: dict[str, Any]


class Subscription(ApiModel):
    """A webhook subscription (the secret is shown only when it is created)."""

    id: str
    url: str
    event_types: list[str]
    analysis_id: str | None = None
    active: bool = True
    created_at: datetime | None = None
    secret: str | None = None


class DeliveryAttempt(ApiModel):
    """One try of a webhook delivery."""

    attempt: int
    status_code: int | None = None
    error: str = ""
    duration_ms: float = 0.0
    at: datetime | None = None


class Delivery(ApiModel):
    """One webhook delivery of one event, with every attempt."""

    id: str
    analysis_id: str | None = None
    event_type: str
    status: str
    attempts: list[DeliveryAttempt] = Field(default_factory=list)


ESTIMATE_COLUMNS = (
    "method",
    "estimand",
    "estimate",
    "std_error",
    "ci_lower",
    "ci_upper",
    "ci_level",
    "p_value",
    "n",
    "n_treated",
    "n_control",
    "inference",
    "adjustment",
    "runtime_s",
)


def flagged_by(analysis: Analysis) -> dict[str, list[str]]:
    """method → names of the failed gates that cast doubt on it."""
    flagged: dict[str, list[str]] = {}
    for gate in analysis.gates:
        for method in [] if gate.passed else gate.applies_to:
            flagged.setdefault(method, []).append(gate.name)
    return flagged


def estimates_frame(analysis: Analysis) -> pd.DataFrame:
    """One row per estimate (the columns of `ESTIMATE_COLUMNS` plus `flagged_by`)."""
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("estimates() as a DataFrame needs pandas: pip install 'cqox[pandas]'") from exc
    flagged = flagged_by(analysis)
    rows = [
        {
            **{column: getattr(e, column) for column in ESTIMATE_COLUMNS},
            "flagged_by": flagged.get(e.method, []),
        }
        for e in analysis.estimates
    ]
    return pd.DataFrame(rows, columns=[*ESTIMATE_COLUMNS, "flagged_by"])


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "—"
    if value != 0 and abs(value) < 10**-digits:
        return f"{value:.1e}"
    return f"{value:.{digits}f}"


_LEVEL_COLOURS = {"GO": "#1a7f37", "CAUTION": "#9a6700", "HOLD": "#cf222e"}


def analysis_html(analysis: Analysis) -> str:
    """A compact HTML summary for Jupyter: status, headline, verdict, estimates and failed gates."""
    esc = html.escape
    parts = [
        '<div class="cqox-analysis" style="font-family:sans-serif">',
        f"<h4 style='margin:0'>CQOx analysis <code>{esc(analysis.analysis_id)}</code></h4>",
        f"<p>status <b>{esc(analysis.status)}</b>"
        + (f" · design <b>{esc(analysis.design)}</b>" if analysis.design else "")
        + f" · dataset <code>{esc(analysis.dataset_id)}</code> v{analysis.version}</p>",
    ]
    if analysis.error:
        parts.append(f"<p style='color:#cf222e'>{esc(analysis.error)}</p>")
    if analysis.awaiting_confirmation:
        parts.append("<p><b>Waiting for a person to confirm the roles</b> (confirm_mapping).</p>")
    if lead := analysis.headline:
        parts.append(
            f"<p>Headline: <b>{esc(lead.estimand)} {lead.estimate:.4g}</b> "
            f"({lead.ci_level:.0%} CI {_fmt(lead.ci_lower)} to {_fmt(lead.ci_upper)}; {esc(lead.method)})"
            f"<br><small>{esc(lead.reason)}</small></p>"
        )
    if verdict := analysis.verdict:
        colour = _LEVEL_COLOURS.get(verdict.level, "inherit")
        parts.append(
            f"<p>Verdict: <b style='color:{colour}'>{esc(verdict.level)}</b> {esc(verdict.summary)}</p>"
        )
    if analysis.estimates:
        flagged = flagged_by(analysis)
        head = "".join(
            f"<th>{h}</th>" for h in ("method", "estimand", "estimate", "SE", "CI", "p", "n", "doubted by")
        )
        rows = "".join(
            "<tr>"
            f"<td>{esc(e.method)}</td><td>{esc(e.estimand)}</td><td>{e.estimate:.3f}</td>"
            f"<td>{_fmt(e.std_error)}</td><td>[{_fmt(e.ci_lower)}, {_fmt(e.ci_upper)}]</td>"
            f"<td>{_fmt(e.p_value)}</td><td>{e.n}</td><td>{esc(', '.join(flagged.get(e.method, [])))}</td>"
            "</tr>"
            for e in analysis.estimates
        )
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    failed = [g for g in analysis.gates if not g.passed]
    if analysis.gates:
        items = "".join(
            f"<li>{esc(g.severity)} <b>{esc(g.name)}</b> value {_fmt(g.value)} "
            f"threshold {_fmt(g.threshold)} {esc(g.message)}</li>"
            for g in failed
        )
        parts.append(
            f"<p>{len(analysis.gates) - len(failed)}/{len(analysis.gates)} gates passed</p>"
            + (f"<ul>{items}</ul>" if items else "")
        )
    if analysis.report and analysis.report.url:
        parts.append(f"<p>Report: <code>{esc(analysis.report.url)}</code></p>")
    parts.append("</div>")
    return "\n".join(parts)
