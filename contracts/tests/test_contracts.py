"""v1 contract tests: round trips, subjects and streams, schema compatibility, AsyncAPI freshness."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import create_model

from cqox_contracts import export
from cqox_contracts.export import (
    Catalog,
    breaking_changes,
    build_catalog,
    catalog_breaking_changes,
    load_catalog,
    render_schema_files,
    subscribe_subject,
)
from cqox_contracts.v1 import (
    EVENT_TYPES,
    STREAMS,
    AnalysisAssessed,
    AnalysisEstimated,
    AnalysisFailed,
    AnalysisRequested,
    AnalysisSpec,
    Artifact,
    AuditRecorded,
    ColumnSchema,
    DatasetConfirmed,
    DatasetIngested,
    DatasetMapped,
    DatasetQualified,
    DatasetRef,
    DatasetRejected,
    EstimateCompleted,
    EstimateFailed,
    EstimateRequested,
    EstimateResult,
    Event,
    GateResult,
    KeyIssued,
    KeyRevoked,
    KeyRotated,
    MessageDeadLettered,
    MethodFailure,
    NotificationDelivered,
    NotificationFailed,
    Refutation,
    RefutationCompleted,
    RefutationFailed,
    RefutationRequested,
    ReportGenerated,
    RoleAssignment,
    RoleMapping,
    UnknownEventError,
    parse_event,
    stream_for,
)

SCHEMAS_DIR = export.CONTRACTS_DIR / export.SCHEMAS_SUBDIR
ASYNCAPI_PATH = export.CONTRACTS_DIR / export.ASYNCAPI_FILE

# ---------------------------------------------------------------------------------------------
# Sample payloads: a minimal valid instance of every event


DATASET = DatasetRef(
    dataset_id="ds-1",
    version=1,
    name="sample.csv",
    parquet_uri="s3://cqox/datasets/ds-1/v1.parquet",
    n_rows=100,
    columns=[ColumnSchema(name="treated", dtype="int64"), ColumnSchema(name="y", dtype="double")],
)
ROLES = RoleMapping(treatment="treated", outcome="y")
GATE = GateResult(name="overlap", category="causal", passed=True, severity="info", value=0.1)
RESULT = EstimateResult(
    method="ols",
    estimand="ATE",
    estimate=1.5,
    std_error=0.2,
    ci_lower=1.1,
    ci_upper=1.9,
    p_value=0.001,
    n=100,
    inference="HC1 robust",
)
ENVELOPE: dict[str, Any] = {"correlation_id": "an-1", "producer": "tests"}

SAMPLES: dict[type[Event], dict[str, Any]] = {
    DatasetIngested: {
        "dataset": DATASET,
        "raw_uri": "s3://cqox/raw/ds-1.csv",
        "analysis_id": "an-1",
    },
    AnalysisRequested: {"dataset": DATASET, "analysis_id": "an-1", "spec": AnalysisSpec(methods=["ols"])},
    DatasetMapped: {
        "dataset": DATASET,
        "analysis_id": "an-1",
        "spec": AnalysisSpec(),
        "roles": ROLES,
        "assignments": [RoleAssignment(role="treatment", column="treated", confidence=0.9)],
        "design": "observational",
    },
    DatasetQualified: {
        "dataset": DATASET,
        "analysis_id": "an-1",
        "spec": AnalysisSpec(),
        "roles": ROLES,
        "design": "observational",
        "gates": [GATE],
    },
    DatasetConfirmed: {"dataset": DATASET, "analysis_id": "an-1", "roles": {"treatment": "treated"}},
    DatasetRejected: {"dataset": DATASET, "analysis_id": "an-1", "reason": "no variation", "gates": [GATE]},
    EstimateRequested: {
        "analysis_id": "an-1",
        "method": "diff_in_means",
        "dataset": DATASET,
        "roles": ROLES,
        "design": "experiment",
        "seed": 7,
        "options": {"trim": 0.05},
    },
    EstimateCompleted: {"analysis_id": "an-1", "method": "ols", "result": RESULT},
    EstimateFailed: {"analysis_id": "an-1", "method": "ipw", "reason": "no overlap"},
    RefutationRequested: {
        "analysis_id": "an-1",
        "method": "ols",
        "dataset": DATASET,
        "roles": ROLES,
        "design": "observational",
        "seed": 7,
    },
    RefutationCompleted: {
        "analysis_id": "an-1",
        "method": "ols",
        "refutations": [
            Refutation(
                method="ols",
                refuter="placebo_treatment",
                expectation="zero",
                estimate=1.5,
                refuted_estimate=0.01,
                p_value=0.8,
            )
        ],
    },
    RefutationFailed: {"analysis_id": "an-1", "method": "ols", "reason": "singular design"},
    AnalysisEstimated: {
        "analysis_id": "an-1",
        "dataset": DATASET,
        "roles": ROLES,
        "design": "observational",
        "planned_methods": ["ols", "ipw"],
        "estimates": [RESULT],
        "failures": [MethodFailure(method="ipw", reason="no overlap")],
    },
    AnalysisAssessed: {
        "analysis_id": "an-1",
        "dataset": DATASET,
        "roles": ROLES,
        "design": "observational",
        "estimates": [RESULT],
        "gates": [GATE],
    },
    ReportGenerated: {
        "analysis_id": "an-1",
        "report_uri": "s3://cqox/reports/an-1/report.html",
        "artifacts": [Artifact(name="forest", uri="s3://cqox/an-1/forest.png", media_type="image/png")],
    },
    AnalysisFailed: {"analysis_id": "an-1", "stage": "estimate", "reason": "all methods failed"},
    NotificationDelivered: {
        "analysis_id": "an-1",
        "subscription_id": "sub-1",
        "channel": "webhook",
        "target": "https://example.invalid/hook",
        "attempts": 1,
        "status_code": 200,
    },
    NotificationFailed: {
        "analysis_id": "an-1",
        "subscription_id": "sub-1",
        "channel": "webhook",
        "target": "https://example.invalid/hook",
        "attempts": 5,
        "reason": "HTTP 500",
    },
    MessageDeadLettered: {
        "original_subject": "cqox.v1.dataset.mapped",
        "consumer": "quality-gate",
        "deliveries": 5,
        "reason": "handler error",
        "payload": "{}",
    },
    AuditRecorded: {
        "entry_id": 7,
        "at": "2026-01-01T00:00:00Z",
        "actor": "config-0123456789ab",
        "role": "viewer",
        "client": "127.0.0.1",
        "action": "analysis.read",
        "target": "an-1",
        "outcome": "ok",
    },
    KeyIssued: {"key_id": "0123456789abcdef", "role": "analyst", "digest": "ab" * 32},
    KeyRotated: {
        "key_id": "0123456789abcdef",
        "role": "analyst",
        "digest": "ab" * 32,
        "expires_at": "2026-01-01T00:05:00Z",
        "replaced_by": "fedcba9876543210",
    },
    KeyRevoked: {
        "key_id": "0123456789abcdef",
        "role": "analyst",
        "digest": "ab" * 32,
        "revoked_at": "2026-01-01T00:00:00Z",
    },
}

EVENT_CLASSES = sorted(EVENT_TYPES.values(), key=lambda cls: cls.__name__)


def sample(cls: type[Event]) -> Event:
    return cls(**ENVELOPE, **SAMPLES[cls])


def test_every_event_has_a_sample() -> None:
    assert set(SAMPLES) == set(EVENT_TYPES.values())


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__name__)
def test_round_trip(cls: type[Event]) -> None:
    event = sample(cls)
    body = event.model_dump_json()
    for data in (body, body.encode()):
        parsed = parse_event(data)
        assert type(parsed) is cls
        assert parsed == event
    assert EVENT_TYPES[event.event_type] is cls
    assert json.loads(body)["event_type"] == event.event_type


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__name__)
def test_sample_validates_against_committed_schema(cls: type[Event]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    event = sample(cls)
    schema = json.loads((SCHEMAS_DIR / f"{event.event_type}.json").read_text())
    jsonschema.validate(json.loads(event.model_dump_json()), schema)


def test_unknown_fields_are_ignored() -> None:
    """Additive evolution works only if consumers tolerate fields they do not know."""
    raw = json.loads(sample(EstimateFailed).model_dump_json())
    raw["added_in_a_later_v1"] = {"x": 1}
    assert isinstance(parse_event(json.dumps(raw)), EstimateFailed)


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"\xff\xfe",
        "[1, 2]",
        '"dataset.ingested"',
        "{}",
        json.dumps({"event_type": "dataset.exploded", "correlation_id": "a", "producer": "p"}),
        json.dumps({"event_type": None}),
    ],
)
def test_parse_event_rejects_unknown(data: str | bytes) -> None:
    with pytest.raises(UnknownEventError):
        parse_event(data)


# ---------------------------------------------------------------------------------------------
# Subjects and streams

TEMPLATE_RE = re.compile(r"^cqox\.v1\.(?P<entity>[a-z]+)\.(?P<verb>[a-z]+)(?P<method>\.\{method\})?$")
SUBJECT_RE = re.compile(r"^cqox\.v1\.[a-z]+\.[a-z]+(\.[a-z0-9_]+)?$")


def nats_match(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a trailing `>` one or more tokens."""
    p_tokens, s_tokens = pattern.split("."), subject.split(".")
    for i, token in enumerate(p_tokens):
        if token == ">":
            return len(s_tokens) > i
        if i >= len(s_tokens) or (token != "*" and token != s_tokens[i]):
            return False
    return len(p_tokens) == len(s_tokens)


def streams_capturing(subject: str) -> list[str]:
    return [s.name for s in STREAMS if any(nats_match(p, subject) for p in s.subjects)]


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__name__)
def test_subject_layout(cls: type[Event]) -> None:
    template = cls.subject_template
    assert template == template.lower()
    match = TEMPLATE_RE.match(template)
    assert match, f"{template!r} is not cqox.v1.<entity>.<verb>[.<method>]"
    event_type = cls.model_fields["event_type"].default
    assert event_type == f"{match['entity']}.{match['verb']}"
    assert match["verb"].endswith("ed"), f"{template!r}: verb should be past tense"
    # Per-method subjects exactly for the events that carry a method.
    assert bool(match["method"]) == ("method" in cls.model_fields)
    subject = sample(cls).subject
    assert subject == subject.lower()
    assert SUBJECT_RE.match(subject), subject
    assert "{" not in subject


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__name__)
def test_each_subject_in_exactly_one_stream(cls: type[Event]) -> None:
    subject = sample(cls).subject
    subscribe = subscribe_subject(cls.subject_template)
    assert len(streams_capturing(subject)) == 1, streams_capturing(subject)
    assert streams_capturing(subject) == [stream_for(subject).name] == [stream_for(subscribe).name]


def test_stream_for_unknown_subject() -> None:
    with pytest.raises(KeyError):
        stream_for("cqox.v1.unknown.happened")


def test_streams_are_distinct_and_used() -> None:
    names = [s.name for s in STREAMS]
    assert len(names) == len(set(names))
    used = {stream_for(sample(cls).subject).name for cls in EVENT_CLASSES}
    assert used == set(names)


def test_internal_events() -> None:
    internal = {cls.model_fields["event_type"].default for cls in EVENT_CLASSES if not cls.public}
    assert internal == {
        "estimate.requested",
        "refutation.requested",
        "message.deadlettered",
        "key.issued",
        "key.rotated",
        "key.revoked",
    }


# ---------------------------------------------------------------------------------------------
# Schema snapshot


def test_snapshot_has_no_breaking_change() -> None:
    committed = load_catalog(SCHEMAS_DIR)
    assert committed is not None, "no committed schemas; run `python -m cqox_contracts.export schemas`"
    assert catalog_breaking_changes(committed, build_catalog()) == []


def test_snapshot_is_up_to_date() -> None:
    """Additive changes must be exported too, so the next check compares against them."""
    fresh = render_schema_files(build_catalog())
    committed = {p.name: p.read_text() for p in SCHEMAS_DIR.glob("*.json")}
    stale = sorted(n for n in fresh.keys() | committed.keys() if fresh.get(n) != committed.get(n))
    assert not stale, f"out of date: {stale}; run `python -m cqox_contracts.export schemas`"


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(export.CONTRACTS_DIR), *args], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


def test_no_breaking_change_against_git_baseline() -> None:
    """Regenerating the snapshot must not launder a break: also compare with a committed baseline.

    The baseline is `CQOX_CONTRACTS_BASELINE_REF` (CI sets the target branch) or `HEAD`.
    """
    ref = os.environ.get("CQOX_CONTRACTS_BASELINE_REF", "HEAD")
    top = _git("rev-parse", "--show-toplevel")
    if top is None:
        pytest.skip("not in a git checkout")
    rel = SCHEMAS_DIR.resolve().relative_to(Path(top.strip()).resolve()).as_posix()
    index_text = _git("show", f"{ref}:{rel}/{export.INDEX_FILE}")
    if index_text is None:
        pytest.skip(f"no schema snapshot at {ref}")
    index = json.loads(index_text)
    schemas = {}
    for event_type, entry in index.items():
        text = _git("show", f"{ref}:{rel}/{entry['schema']}")
        if text is not None:
            schemas[event_type] = json.loads(text)
    assert catalog_breaking_changes(Catalog(index, schemas), build_catalog()) == []


# ---------------------------------------------------------------------------------------------
# The compatibility checker itself

BASE: dict[str, Any] = {
    "title": "Thing",
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "count": {"type": "integer", "default": 0},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "kind": {"enum": ["a", "b"], "type": "string"},
        "mode": {
            "anyOf": [{"const": "auto", "type": "string"}, {"items": {"type": "string"}, "type": "array"}]
        },
        "tags": {"type": "array", "items": {"type": "string"}},
        "ref": {"$ref": "#/$defs/Ref"},
        "refs": {"type": "array", "items": {"$ref": "#/$defs/Ref"}},
        "extra": {"type": "object", "additionalProperties": {"type": "number"}},
        "label": {"type": "string", "default": ""},
    },
    "required": ["name", "kind", "mode", "ref"],
    "$defs": {
        "Ref": {
            "title": "Ref",
            "type": "object",
            "properties": {"uri": {"type": "string"}, "size": {"type": "integer", "default": 0}},
            "required": ["uri"],
        }
    },
}


def _edit(path: str, value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    """A copy of BASE with the item at a `/`-separated path set (or deleted)."""
    schema = copy.deepcopy(BASE)
    *parents, last = path.split("/")
    node: Any = schema
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if delete:
        del node[last]
    else:
        node[last] = value
    return schema


BREAKING: dict[str, tuple[dict[str, Any], str]] = {
    "property removed": (_edit("properties/count", delete=True), "Thing.count: property removed"),
    "type changed": (_edit("properties/count", {"type": "string"}), "Thing.count: type changed"),
    "null no longer allowed": (_edit("properties/note", {"type": "string"}), "Thing.note: type changed"),
    "null now allowed": (
        _edit("properties/name", {"anyOf": [{"type": "string"}, {"type": "null"}]}),
        "Thing.name: type changed",
    ),
    "array item type changed": (
        _edit("properties/tags/items", {"type": "integer"}),
        "Thing.tags[]: type changed",
    ),
    "map value type changed": (
        _edit("properties/extra/additionalProperties", {"type": "string"}),
        "Thing.extra.*: type changed",
    ),
    "new required property": (
        _edit("required", [*BASE["required"], "added"])
        | {"properties": {**BASE["properties"], "added": {"type": "string"}}},
        "Thing.added: new required property",
    ),
    "optional became required": (
        _edit("required", [*BASE["required"], "count"]),
        "Thing.count: optional property became required",
    ),
    "enum value removed": (_edit("properties/kind/enum", ["a"]), "Thing.kind: allowed value(s) removed"),
    "literal removed": (
        _edit("properties/mode/anyOf/0/const", "manual"),
        "Thing.mode: allowed value(s) removed",
    ),
    "free string restricted": (
        _edit("properties/name", {"enum": ["x"], "type": "string"}),
        "Thing.name: string now restricted",
    ),
    "nested property removed": (
        _edit("$defs/Ref/properties/size", delete=True),
        "Thing.ref.size: property removed",
    ),
    "nested required added": (
        _edit("$defs/Ref/required", ["uri", "size"]),
        "Thing.ref.size: optional property became required",
    ),
    "nested in array": (
        _edit("$defs/Ref/properties/uri", {"type": "integer"}),
        "Thing.refs[].uri: type changed",
    ),
}


@pytest.mark.parametrize("case", sorted(BREAKING))
def test_checker_detects_breaking_change(case: str) -> None:
    new, expected = BREAKING[case]
    problems = breaking_changes(BASE, new)
    assert any(p.startswith(expected) for p in problems), problems


ALLOWED: dict[str, dict[str, Any]] = {
    "unchanged": copy.deepcopy(BASE),
    "optional property added": _edit("properties/added", {"type": "string", "default": ""}),
    "nested optional property added": _edit(
        "$defs/Ref/properties/added", {"type": "boolean", "default": False}
    ),
    "enum value added": _edit("properties/kind/enum", ["a", "b", "c"]),
    "default changed": _edit("properties/count/default", 5),
    "description changed": _edit("properties/name/description", "The name."),
    "required became optional": _edit("required", ["name", "kind", "mode"]),
    "enum widened to free string": _edit("properties/kind", {"type": "string"}),
}


@pytest.mark.parametrize("case", sorted(ALLOWED))
def test_checker_allows_additive_change(case: str) -> None:
    assert breaking_changes(BASE, ALLOWED[case]) == []


def test_checker_on_real_pydantic_models() -> None:
    base = EstimateFailed.model_json_schema()
    optional = create_model("EstimateFailed", __base__=EstimateFailed, hint=(str | None, None))
    required = create_model("EstimateFailed", __base__=EstimateFailed, hint=(str, ...))
    timeout_only: Any = Literal["timeout"]
    narrowed = create_model("EstimateFailed", __base__=EstimateFailed, error_type=(timeout_only, "timeout"))
    assert breaking_changes(base, optional.model_json_schema()) == []
    assert breaking_changes(base, required.model_json_schema()) == [
        "EstimateFailed.hint: new required property"
    ]
    assert breaking_changes(base, narrowed.model_json_schema()) == [
        'EstimateFailed.error_type: string now restricted to "timeout" (was unrestricted)'
    ]


def test_catalog_checker() -> None:
    current = build_catalog()
    assert catalog_breaking_changes(current, current) == []

    fewer = Catalog(
        {k: v for k, v in current.index.items() if k != "report.generated"},
        {k: v for k, v in current.schemas.items() if k != "report.generated"},
    )
    assert catalog_breaking_changes(current, fewer) == ["report.generated: event type removed"]
    assert catalog_breaking_changes(fewer, current) == []  # a new event is allowed

    moved = copy.deepcopy(current)
    moved.index["estimate.failed"]["subject"] = "cqox.v1.estimate.errored.{method}"
    moved.index["analysis.failed"]["public"] = False
    assert catalog_breaking_changes(current, moved) == [
        "analysis.failed: public event made internal",
        "estimate.failed: subject changed from 'cqox.v1.estimate.failed.{method}' "
        "to 'cqox.v1.estimate.errored.{method}'",
    ]


# ---------------------------------------------------------------------------------------------
# The CLI


def test_cli_schemas_write_check_and_refuse_breaking(tmp_path: Path) -> None:
    schemas_dir = tmp_path / export.SCHEMAS_SUBDIR
    assert export.main(["--root", str(tmp_path), "schemas", "--check"]) == 1
    assert export.main(["--root", str(tmp_path), "schemas"]) == 0
    assert export.main(["--root", str(tmp_path), "schemas", "--check"]) == 0
    assert {p.name for p in schemas_dir.iterdir()} == set(render_schema_files(build_catalog()))

    # The committed snapshot has a property the code no longer has: the code removed it.
    path = schemas_dir / "estimate.failed.json"
    doctored = json.loads(path.read_text())
    doctored["properties"]["gone"] = {"type": "string", "default": ""}
    path.write_text(export.dump_json(doctored))
    before = path.read_text()
    assert export.main(["--root", str(tmp_path), "schemas", "--check"]) == 1
    assert export.main(["--root", str(tmp_path), "schemas"]) == 1  # refuses to overwrite
    assert path.read_text() == before

    # An additive difference (committed lacks an optional property) is simply rewritten.
    del doctored["properties"]["gone"]
    del doctored["properties"]["error_type"]
    path.write_text(export.dump_json(doctored))
    assert export.main(["--root", str(tmp_path), "schemas", "--check"]) == 1
    assert export.main(["--root", str(tmp_path), "schemas"]) == 0
    assert export.main(["--root", str(tmp_path), "schemas", "--check"]) == 0


def test_cli_asyncapi_check(tmp_path: Path) -> None:
    assert export.main(["--root", str(tmp_path), "asyncapi", "--check"]) == 1
    assert export.main(["--root", str(tmp_path), "asyncapi"]) == 0
    assert export.main(["--root", str(tmp_path), "asyncapi", "--check"]) == 0
    (tmp_path / export.ASYNCAPI_FILE).write_text("{}\n")
    assert export.main(["--root", str(tmp_path), "asyncapi", "--check"]) == 1


# ---------------------------------------------------------------------------------------------
# AsyncAPI document


@pytest.fixture(scope="module")
def asyncapi_text() -> str:
    return export.render_asyncapi()


def test_asyncapi_is_up_to_date(asyncapi_text: str) -> None:
    assert ASYNCAPI_PATH.read_text() == asyncapi_text, (
        "contracts/asyncapi.json is stale; run `python -m cqox_contracts.export asyncapi`"
    )


def test_asyncapi_is_deterministic(asyncapi_text: str) -> None:
    assert export.render_asyncapi() == asyncapi_text


def test_asyncapi_lists_public_subjects_only(asyncapi_text: str) -> None:
    doc = json.loads(asyncapi_text)
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] == "CQOx events"
    assert doc["info"]["version"] == "1"
    assert "subscribe" in doc["info"]["description"].lower()

    public = {subscribe_subject(c.subject_template): c for c in EVENT_CLASSES if c.public}
    internal = [c for c in EVENT_CLASSES if not c.public]
    addresses = {ch["address"]: name for name, ch in doc["channels"].items()}
    assert set(addresses) == set(public)
    for address, cls in public.items():
        channel = doc["channels"][addresses[address]]
        assert stream_for(address).name in channel["description"]
        message_ref = channel["messages"]["Message"]["$ref"].rsplit("/", 1)[-1]
        payload = doc["components"]["messages"][message_ref]["payload"]
        assert payload == {"$ref": f"#/components/schemas/{cls.__name__}"}
    for cls in internal:
        subject_prefix = cls.subject_template.removesuffix(".{method}")
        assert subject_prefix not in asyncapi_text
        assert cls.__name__ not in doc["components"]["schemas"]
    assert len(doc["operations"]) == len(public)
