"""Spans are recorded only when they can go somewhere; trace ids travel either way."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cqox_shared.tracing import recording_spans

PROBE = """
from cqox_shared.tracing import configure_tracing, inject_headers, tracer
configure_tracing("probe")
with tracer().start_as_current_span("upload") as span:
    headers = inject_headers({})
    print(span.is_recording(), span.get_span_context().is_valid, "traceparent" in headers)
"""


def _probe(env: dict[str, str]) -> str:
    """What a fresh process's first span says: recorded, valid ids, propagated."""
    clean = {"PATH": "/usr/bin:/bin", **env}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=clean, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_recording_follows_exporter_or_sampler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    assert not recording_spans()
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    assert recording_spans()
    monkeypatch.delenv("OTEL_TRACES_SAMPLER")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert recording_spans()


def test_unexported_spans_are_not_recorded_but_their_context_travels() -> None:
    assert _probe({}) == "False True True"


def test_a_configured_sampler_records() -> None:
    assert _probe({"OTEL_TRACES_SAMPLER": "always_on"}) == "True True True"
