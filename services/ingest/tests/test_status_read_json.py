"""The status read's JSON, written without re-validation, is byte for byte the documented model's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cqox_ingest.analyses.service import read_json, read_model

JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
OBJECTS = st.dictionaries(st.text(max_size=8), JSON, max_size=5)


def _row(**over: Any) -> SimpleNamespace:
    """An analysis row as the status read's SELECT returns it (the ORM's attribute names)."""
    at = datetime(2026, 12, 5, 7, 51, 21, 123456, tzinfo=UTC)
    values: dict[str, Any] = {
        "id": "a-1",
        "dataset_id": "d-1",
        "dataset_version": 3,
        "tenant_id": "t",
        "status": "completed",
        "spec": {"methods": ["ols", "ipw"]},
        "design": "observational",
        "roles": {"treatment": "t", "outcome": "y"},
        "assignments": [{"column": "t", "role": "treatment", "confidence": 0.93}],
        "needs_confirmation": False,
        "mapping_context": {
            "designs": [{"name": "observational"}],
            "confidence_threshold": 1,
            "confirmed": True,
        },
        "planned_methods": ["ols", "ipw"],
        "seed": 2851372334,
        "estimates": [
            {
                "method": "ols",
                "ate": 1.5,
                "se": float("nan"),
                "artifacts": [{"name": "f.png", "uri": "file:///x"}],
            },
            {"method": "ipw", "ate": float("inf"), "artifacts": []},
        ],
        "failures": [],
        "gates": [{"name": "balance", "value": -float("inf"), "passed": True, "note": "é ✓ \u2028"}],
        "headline": {"estimand": "ATE", "estimate": 1.5},
        "sensitivity": None,
        "verdict": {"label": "GO"},
        "report": {"headline": "h", "artifacts": [{"name": "report.html", "media_type": "text/html"}]},
        "notifications": [{"channel": "sse"}],
        "error": None,
        "created_at": at,
        "updated_at": at + timedelta(seconds=90),
    }
    return SimpleNamespace(**{**values, **over})


def _documented(row: SimpleNamespace) -> bytes:
    return read_model(row).model_dump_json(by_alias=True).encode()  # type: ignore[arg-type]


def test_a_completed_analysis_reads_the_same_bytes() -> None:
    row = _row()
    body = read_json(row)  # type: ignore[arg-type]
    assert body == _documented(row)
    answer = json.loads(body)
    assert answer["confidence_threshold"] == 1.0 and "1.0" in body.decode()  # the model's float
    assert answer["estimates"][0]["se"] is None  # NaN as null, as the model writes it
    assert answer["estimates"][0]["artifacts"][0]["url"].endswith("/artifacts/f.png")  # no object URI
    assert "file:///x" not in body.decode()


def test_a_new_analysis_without_results_reads_the_same_bytes() -> None:
    row = _row(
        status="requested",
        design=None,
        roles=None,
        assignments=[],
        mapping_context=None,
        planned_methods=[],
        seed=None,
        estimates=[],
        gates=[],
        headline=None,
        verdict=None,
        report=None,
        notifications=[],
        error="x",
    )
    assert read_json(row) == _documented(row)  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(
    spec=OBJECTS,
    estimates=st.lists(OBJECTS, max_size=3),
    gates=st.lists(OBJECTS, max_size=3),
    headline=OBJECTS,
)
def test_any_stored_json_reads_the_same_bytes(
    spec: dict[str, Any],
    estimates: list[dict[str, Any]],
    gates: list[dict[str, Any]],
    headline: dict[str, Any],
) -> None:
    estimates = [{k: v for k, v in e.items() if k != "artifacts"} for e in estimates]
    row = _row(spec=spec, estimates=estimates, gates=gates, headline=headline, sensitivity=gates)
    assert read_json(row) == _documented(row)  # type: ignore[arg-type]
