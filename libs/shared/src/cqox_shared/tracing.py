"""OpenTelemetry tracing; span context travels in NATS message headers (W3C traceparent)."""

from __future__ import annotations

import os

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased


def configure_tracing(service: str) -> None:
    """Install a tracer provider; export over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    # With nowhere to export, spans are not recorded (a non-recording span costs a fraction of a
    # recorded one) but trace ids still propagate; when exporting, OTEL_TRACES_SAMPLER (default
    # parentbased_always_on) decides, e.g. parentbased_traceidratio with OTEL_TRACES_SAMPLER_ARG=0.1
    # under heavy read load.
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"cqox-{service}"}),
        sampler=None if recording_spans() else ParentBased(ALWAYS_OFF),
    )
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def recording_spans() -> bool:
    """Whether spans are recorded: an exporter is configured, or OTEL_TRACES_SAMPLER is set."""
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_TRACES_SAMPLER"))


def tracer() -> trace.Tracer:
    """The CQOx tracer."""
    return trace.get_tracer("cqox")


def inject_headers(headers: dict[str, str]) -> dict[str, str]:
    """Add the current trace context to message headers (returns the same dict)."""
    propagate.inject(headers)
    return headers


def extract_context(headers: dict[str, str] | None) -> Context:
    """Trace context carried by incoming message headers."""
    return propagate.extract(headers or {})
