"""JetStream stream definitions for v1 subjects (one stream per domain)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StreamSpec:
    """One JetStream stream: name, subjects, retention limits."""

    name: str
    subjects: tuple[str, ...]
    max_age_s: int = 7 * 24 * 3600
    duplicate_window_s: int = 600
    description: str = ""


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("CQOX_DATASETS", ("cqox.v1.dataset.>",), description="Dataset lifecycle events"),
    StreamSpec("CQOX_ANALYSES", ("cqox.v1.analysis.>",), description="Analysis lifecycle events"),
    StreamSpec(
        "CQOX_ESTIMATES",
        ("cqox.v1.estimate.>", "cqox.v1.refutation.>"),
        description="Per-method estimation and refutation work",
    ),
    StreamSpec("CQOX_REPORTS", ("cqox.v1.report.>",), description="Reports and figures"),
    StreamSpec("CQOX_NOTIFICATIONS", ("cqox.v1.notification.>",), description="Notification outcomes"),
    StreamSpec(
        "CQOX_AUDIT",
        ("cqox.v1.audit.>",),
        max_age_s=30 * 24 * 3600,
        description="Audit log entries of the HTTP APIs (the database keeps them for good)",
    ),
    # Kept for good (max_age 0): a new replica of a service that mirrors keys replays them all.
    # One small message per key change.
    StreamSpec("CQOX_KEYS", ("cqox.v1.key.>",), max_age_s=0, description="API key lifecycle (internal)"),
    StreamSpec(
        "CQOX_DEADLETTER",
        ("cqox.v1.message.>",),
        max_age_s=30 * 24 * 3600,
        description="Messages that exhausted deliveries or were rejected",
    ),
)


def stream_for(subject: str) -> StreamSpec:
    """The stream that captures `subject`."""
    for spec in STREAMS:
        for pattern in spec.subjects:
            if subject.startswith(pattern.removesuffix(">")):
                return spec
    raise KeyError(f"no stream captures subject {subject!r}")
