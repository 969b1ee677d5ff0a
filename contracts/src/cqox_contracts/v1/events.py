"""Every v1 event of the CQOx flow, with the subject each is published on."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from cqox_contracts.v1.envelope import Event
from cqox_contracts.v1.models import (
    AnalysisSpec,
    Artifact,
    DatasetProfile,
    DatasetRef,
    DesignSupport,
    EstimateResult,
    FigureEntry,
    GateResult,
    Headline,
    MethodFailure,
    Refutation,
    RoleAssignment,
    RoleMapping,
    SchemaDiff,
    SensitivityPanel,
    Verdict,
)


class DatasetIngested(Event):
    """A file was stored and converted to Parquet; an analysis of it was requested."""

    subject_template = "cqox.v1.dataset.ingested"
    event_type: Literal["dataset.ingested"] = "dataset.ingested"
    dataset: DatasetRef
    raw_uri: str
    analysis_id: str
    spec: AnalysisSpec = Field(default_factory=AnalysisSpec)
    file_format: str | None = Field(
        default=None, description="Detected format, e.g. 'csv', 'xlsx', 'csv+gz'."
    )
    encoding: str | None = Field(default=None, description="Detected (or given) text encoding.")
    notes: list[str] = Field(default_factory=list, description="What was done to read the file.")
    profile: DatasetProfile | None = None
    schema_diff: SchemaDiff | None = Field(default=None, description="Change from the previous version.")


class AnalysisRequested(Event):
    """A new analysis of an existing dataset version was requested."""

    subject_template = "cqox.v1.analysis.requested"
    event_type: Literal["analysis.requested"] = "analysis.requested"
    dataset: DatasetRef
    analysis_id: str
    spec: AnalysisSpec = Field(default_factory=AnalysisSpec)


class DatasetMapped(Event):
    """Columns were assigned causal roles and a design chosen."""

    subject_template = "cqox.v1.dataset.mapped"
    event_type: Literal["dataset.mapped"] = "dataset.mapped"
    dataset: DatasetRef
    analysis_id: str
    spec: AnalysisSpec
    roles: RoleMapping
    assignments: list[RoleAssignment]
    design: str = Field(description="observational, experiment, panel, iv, rd, synthetic_control ...")
    needs_confirmation: bool = False
    designs: list[DesignSupport] = Field(
        default_factory=list, description="Every design considered: supported or not, and why."
    )
    confidence_threshold: float | None = Field(
        default=None, description="Below this confidence a role needs the user's confirmation."
    )
    notes: list[str] = Field(default_factory=list, description="What a person should check or could set.")
    dictionary_version: str | None = Field(
        default=None, description="Versions of the synonym dictionaries used, e.g. 'en:2,ja:1'."
    )
    confirmed: bool = Field(default=False, description="The roles were confirmed or set by the user.")


class DatasetConfirmed(Event):
    """A user confirmed or corrected the roles of a dataset (PUT /v1/datasets/{id}/mapping)."""

    subject_template = "cqox.v1.dataset.confirmed"
    event_type: Literal["dataset.confirmed"] = "dataset.confirmed"
    dataset: DatasetRef
    analysis_id: str = Field(description="The analysis that continues (or starts) with these roles.")
    spec: AnalysisSpec = Field(
        default_factory=AnalysisSpec, description="The analysis spec; its roles hold the overrides."
    )
    roles: dict[str, str | list[str]] = Field(
        default_factory=dict, description="Role overrides: role -> column; empty accepts the inferred roles."
    )
    replaces_analysis_id: str | None = Field(
        default=None, description="The finished analysis this one re-runs with corrected roles."
    )


class DatasetQualified(Event):
    """The data passed the pre-estimation gates."""

    subject_template = "cqox.v1.dataset.qualified"
    event_type: Literal["dataset.qualified"] = "dataset.qualified"
    dataset: DatasetRef
    analysis_id: str
    spec: AnalysisSpec
    roles: RoleMapping
    design: str
    gates: list[GateResult]
    treatment_levels: int | None = Field(
        default=None,
        description="Distinct treatment levels in the usable rows; above 2 only multi-arm methods apply.",
    )


class DatasetRejected(Event):
    """The data cannot support a causal claim; the analysis stops here."""

    subject_template = "cqox.v1.dataset.rejected"
    event_type: Literal["dataset.rejected"] = "dataset.rejected"
    dataset: DatasetRef
    analysis_id: str
    reason: str
    gates: list[GateResult]


class EstimateRequested(Event):
    """One method should estimate the effect for one analysis (per-method subject)."""

    subject_template = "cqox.v1.estimate.requested.{method}"
    public = False
    event_type: Literal["estimate.requested"] = "estimate.requested"
    analysis_id: str
    method: str
    dataset: DatasetRef
    roles: RoleMapping
    design: str
    ci_level: float = 0.95
    seed: int
    options: dict[str, float | int | str | bool] = Field(default_factory=dict)


class EstimateCompleted(Event):
    """A method produced its estimate."""

    subject_template = "cqox.v1.estimate.completed.{method}"
    event_type: Literal["estimate.completed"] = "estimate.completed"
    analysis_id: str
    method: str
    result: EstimateResult


class EstimateFailed(Event):
    """A method could not produce an estimate (no controls, singular design, ...)."""

    subject_template = "cqox.v1.estimate.failed.{method}"
    event_type: Literal["estimate.failed"] = "estimate.failed"
    analysis_id: str
    method: str
    reason: str
    error_type: str = "error"


class RefutationRequested(Event):
    """Refute one method's estimate with placebo checks (per-method subject, its own light pool)."""

    subject_template = "cqox.v1.refutation.requested.{method}"
    public = False
    event_type: Literal["refutation.requested"] = "refutation.requested"
    analysis_id: str
    method: str
    dataset: DatasetRef
    roles: RoleMapping
    design: str
    ci_level: float = 0.95
    seed: int
    options: dict[str, float | int | str | bool] = Field(default_factory=dict)
    refuters: list[str] = Field(
        default_factory=list,
        description="Refuters to run (vocabulary.Refuter); empty: every one that applies.",
    )


class RefutationCompleted(Event):
    """The refuters of one method ran (each result says whether it could)."""

    subject_template = "cqox.v1.refutation.completed.{method}"
    event_type: Literal["refutation.completed"] = "refutation.completed"
    analysis_id: str
    method: str
    refutations: list[Refutation]


class RefutationFailed(Event):
    """One method could not be refuted at all (its estimate fails on the data as given)."""

    subject_template = "cqox.v1.refutation.failed.{method}"
    event_type: Literal["refutation.failed"] = "refutation.failed"
    analysis_id: str
    method: str
    reason: str


class AnalysisEstimated(Event):
    """Every planned method reported or timed out."""

    subject_template = "cqox.v1.analysis.estimated"
    event_type: Literal["analysis.estimated"] = "analysis.estimated"
    analysis_id: str
    dataset: DatasetRef
    roles: RoleMapping
    design: str
    planned_methods: list[str]
    estimates: list[EstimateResult]
    failures: list[MethodFailure] = Field(default_factory=list)
    timed_out: list[str] = Field(default_factory=list)
    seed: int = 0
    refutations: list[Refutation] = Field(
        default_factory=list, description="Placebo checks of the refuted methods' estimates."
    )


class AnalysisAssessed(Event):
    """Post-estimation gates were run over the estimates."""

    subject_template = "cqox.v1.analysis.assessed"
    event_type: Literal["analysis.assessed"] = "analysis.assessed"
    analysis_id: str
    dataset: DatasetRef
    roles: RoleMapping
    design: str
    estimates: list[EstimateResult]
    failures: list[MethodFailure] = Field(default_factory=list)
    gates: list[GateResult]
    headline: Headline | None = Field(
        default=None,
        description="One estimand's answer, chosen from design and overlap, with the reason; none when no estimate.",
    )
    sensitivity: list[SensitivityPanel] = Field(
        default_factory=list,
        description="Sensitivity to hidden confounding: the headline's panel first, then any requested.",
    )
    verdict: Verdict | None = Field(default=None, description="GO / CAUTION / HOLD, with the reasons.")
    refutations: list[Refutation] = Field(
        default_factory=list,
        description="Placebo checks of the refuted methods' estimates (the refutation gates judge them).",
    )
    seed: int | None = Field(
        default=None, description="The seed every random step used (`analysis.estimated`'s), for the report."
    )


class ReportGenerated(Event):
    """Figures and the report are in the artifact store."""

    subject_template = "cqox.v1.report.generated"
    event_type: Literal["report.generated"] = "report.generated"
    analysis_id: str
    report_uri: str
    artifacts: list[Artifact]
    headline: str = ""
    figures: list[FigureEntry] = Field(
        default_factory=list, description="The report's figure table: every view drawn, in reading order."
    )
    language: str | None = Field(default=None, description="Language the report is written in ('en', 'ja').")


class AnalysisFailed(Event):
    """The analysis cannot finish: a message was dead-lettered or a stage gave up."""

    subject_template = "cqox.v1.analysis.failed"
    event_type: Literal["analysis.failed"] = "analysis.failed"
    analysis_id: str
    stage: str
    reason: str


class NotificationDelivered(Event):
    """A notification reached its target."""

    subject_template = "cqox.v1.notification.delivered"
    event_type: Literal["notification.delivered"] = "notification.delivered"
    analysis_id: str
    subscription_id: str
    channel: str
    target: str
    attempts: int
    status_code: int | None = None


class NotificationFailed(Event):
    """A notification gave up after its retries."""

    subject_template = "cqox.v1.notification.failed"
    event_type: Literal["notification.failed"] = "notification.failed"
    analysis_id: str
    subscription_id: str
    channel: str
    target: str
    attempts: int
    reason: str


class MessageDeadLettered(Event):
    """A message exhausted its deliveries or was rejected; kept for inspection and replay."""

    subject_template = "cqox.v1.message.deadlettered"
    public = False
    event_type: Literal["message.deadlettered"] = "message.deadlettered"
    original_subject: str
    original_event_id: str | None = None
    consumer: str
    deliveries: int
    reason: str
    payload: str = Field(description="The original message body, as received.")


class AuditRecorded(Event):
    """One entry of the ingest audit log, exported: who did what to which object, with what outcome.

    Published through the ingest outbox in the transaction that stores the entry, so an entry is
    never stored without its event. `correlation_id` is the object acted on (the analysis id for
    analysis routes). Deduplicate on `event_id`, or on `(tenant_id, entry_id)`."""

    subject_template = "cqox.v1.audit.recorded"
    event_type: Literal["audit.recorded"] = "audit.recorded"
    entry_id: int = Field(description="The entry's id in the audit log (increasing per database).")
    at: datetime = Field(description="When the audited request ran (UTC).")
    actor: str = Field(description="Key id (`config-…` for configured keys) or token subject.")
    role: str
    client: str = Field(description="The client's address as the API saw it.")
    action: str = Field(description="e.g. analysis.read, dataset.upload, key.revoke")
    target: str = Field(description="The object acted on: dataset, analysis or key id ('' for lists).")
    outcome: str = Field(description="ok, denied, not_found, refused or error")
    detail: dict[str, Any] = Field(default_factory=dict)


class ApiKeyState(Event):
    """What every key lifecycle event carries: the key's whole state after the change, so a replica
    applies any of them the same way (an upsert; a revocation is never undone). The digest is
    HMAC-SHA256 of the secret under the operators' pepper; the secret itself never leaves ingest.
    The state is signed under the same pepper, so an event forged by someone who can reach the bus
    but not the pepper is refused."""

    subject_template = ""
    public = False
    key_id: str
    role: str
    digest: str = Field(description="HMAC-SHA256(CQOX_AUTH_PEPPER, secret), hex")
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    rotated_from: str | None = Field(default=None, description="The key this one replaced")
    signature: str = Field(
        default="",
        description="HMAC-SHA256 under the pepper of the key's id, tenant, role, digest, expiry and "
        "revocation: a mirror applies only states signed by a holder of the pepper",
    )


class KeyIssued(ApiKeyState):
    """An API key was issued by an ingest admin (its tenant is the envelope's `tenant_id`)."""

    subject_template = "cqox.v1.key.issued"
    event_type: Literal["key.issued"] = "key.issued"


class KeyRotated(ApiKeyState):
    """An API key was replaced: this is the old key's state (its expiry shortened to the grace, or
    revoked); the replacement comes as its own key.issued."""

    subject_template = "cqox.v1.key.rotated"
    event_type: Literal["key.rotated"] = "key.rotated"
    replaced_by: str = Field(description="Key id of the replacement")


class KeyRevoked(ApiKeyState):
    """An API key was revoked: requests with it are refused from now on, on every service."""

    subject_template = "cqox.v1.key.revoked"
    event_type: Literal["key.revoked"] = "key.revoked"


EVENT_TYPES: dict[str, type[Event]] = {
    cls.model_fields["event_type"].default: cls
    for cls in (
        DatasetIngested,
        AnalysisRequested,
        DatasetMapped,
        DatasetConfirmed,
        DatasetQualified,
        DatasetRejected,
        EstimateRequested,
        EstimateCompleted,
        EstimateFailed,
        RefutationRequested,
        RefutationCompleted,
        RefutationFailed,
        AnalysisEstimated,
        AnalysisAssessed,
        ReportGenerated,
        AnalysisFailed,
        NotificationDelivered,
        NotificationFailed,
        MessageDeadLettered,
        AuditRecorded,
        KeyIssued,
        KeyRotated,
        KeyRevoked,
    )
}
