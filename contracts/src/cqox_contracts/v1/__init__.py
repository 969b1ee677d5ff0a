"""CQOx contracts, version 1: envelope, events, value objects, subjects and streams."""

from __future__ import annotations

import json

from cqox_contracts.v1.envelope import SCHEMA_VERSION, Event, utc_now
from cqox_contracts.v1.events import (
    EVENT_TYPES,
    AnalysisAssessed,
    AnalysisEstimated,
    AnalysisFailed,
    AnalysisRequested,
    ApiKeyState,
    AuditRecorded,
    DatasetConfirmed,
    DatasetIngested,
    DatasetMapped,
    DatasetQualified,
    DatasetRejected,
    EstimateCompleted,
    EstimateFailed,
    EstimateRequested,
    KeyIssued,
    KeyRevoked,
    KeyRotated,
    MessageDeadLettered,
    NotificationDelivered,
    NotificationFailed,
    RefutationCompleted,
    RefutationFailed,
    RefutationRequested,
    ReportGenerated,
)
from cqox_contracts.v1.models import (
    AnalysisSpec,
    ArmContrast,
    Artifact,
    BenchmarkBound,
    ColumnProfile,
    ColumnRetype,
    ColumnSchema,
    DatasetProfile,
    DatasetRef,
    DesignSupport,
    EstimateResult,
    EstimateRobustness,
    EValue,
    FigureEntry,
    GammaPoint,
    GateResult,
    Headline,
    MethodFailure,
    OmittedVariableBias,
    OsterBounds,
    Refutation,
    RoleAssignment,
    RoleMapping,
    RosenbaumBounds,
    SchemaDiff,
    SensitivityPanel,
    ValueCount,
    Verdict,
)
from cqox_contracts.v1.streams import STREAMS, StreamSpec, stream_for
from cqox_contracts.v1.vocabulary import (
    AVERAGE_ESTIMANDS,
    GATE_ASSUMPTIONS,
    PROPENSITY_BASED,
    SEED_RANGE,
    Adjustment,
    Design,
    Estimand,
    Refuter,
)


class UnknownEventError(ValueError):
    """The message is not a known v1 event."""


def parse_event(data: bytes | str) -> Event:
    """Decode a message body into its event class (by `event_type`); raises on bad input."""
    try:
        raw = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UnknownEventError(f"message body is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise UnknownEventError("message body is not a JSON object")
    event_type = raw.get("event_type")
    cls = EVENT_TYPES.get(str(event_type))
    if cls is None:
        raise UnknownEventError(f"unknown event_type {event_type!r}")
    return cls.model_validate(raw)


__all__ = [
    "AVERAGE_ESTIMANDS",
    "EVENT_TYPES",
    "GATE_ASSUMPTIONS",
    "PROPENSITY_BASED",
    "SCHEMA_VERSION",
    "SEED_RANGE",
    "STREAMS",
    "Adjustment",
    "AnalysisAssessed",
    "AnalysisEstimated",
    "AnalysisFailed",
    "AnalysisRequested",
    "AnalysisSpec",
    "ApiKeyState",
    "ArmContrast",
    "Artifact",
    "AuditRecorded",
    "BenchmarkBound",
    "ColumnProfile",
    "ColumnRetype",
    "ColumnSchema",
    "DatasetConfirmed",
    "DatasetIngested",
    "DatasetMapped",
    "DatasetProfile",
    "DatasetQualified",
    "DatasetRef",
    "DatasetRejected",
    "Design",
    "DesignSupport",
    "EValue",
    "Estimand",
    "EstimateCompleted",
    "EstimateFailed",
    "EstimateRequested",
    "EstimateResult",
    "EstimateRobustness",
    "Event",
    "FigureEntry",
    "GammaPoint",
    "GateResult",
    "Headline",
    "KeyIssued",
    "KeyRevoked",
    "KeyRotated",
    "MessageDeadLettered",
    "MethodFailure",
    "NotificationDelivered",
    "NotificationFailed",
    "OmittedVariableBias",
    "OsterBounds",
    "Refutation",
    "RefutationCompleted",
    "RefutationFailed",
    "RefutationRequested",
    "Refuter",
    "ReportGenerated",
    "RoleAssignment",
    "RoleMapping",
    "RosenbaumBounds",
    "SchemaDiff",
    "SensitivityPanel",
    "StreamSpec",
    "UnknownEventError",
    "ValueCount",
    "Verdict",
    "parse_event",
    "stream_for",
    "utc_now",
]
