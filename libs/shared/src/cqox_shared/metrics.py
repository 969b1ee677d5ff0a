"""Prometheus metrics shared by the bus runtime, exposed on /metrics."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

MESSAGES = Counter(
    "cqox_messages_total",
    "Bus messages handled, by consumer and outcome",
    ["service", "consumer", "outcome"],
)
HANDLE_SECONDS = Histogram(
    "cqox_message_handle_seconds",
    "Time spent handling one bus message",
    ["service", "consumer"],
    buckets=(0.005, 0.02, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)
PUBLISHED = Counter("cqox_events_published_total", "Events published", ["service", "event_type"])


def render_metrics() -> tuple[bytes, str]:
    """Current metrics in the Prometheus text format, with its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
