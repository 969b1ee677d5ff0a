"""The committed OpenAPI documents are what the apps generate, and no change breaks a v1 client."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent


def _exporter() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cqox_openapi_export", HERE / "export_openapi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


export = _exporter()
FIX = "run `uv run python contracts/openapi/export_openapi.py` and commit the documents"


@pytest.fixture(scope="module")
def fresh() -> dict[str, str]:
    return export.generate()  # type: ignore[no-any-return]


def test_documents_are_up_to_date(fresh: dict[str, str]) -> None:
    saved = export.committed()
    stale = sorted(name for name in fresh if saved.get(name) != fresh[name])
    assert not stale, f"out of date: {stale}; {FIX}"


def test_no_breaking_change_against_the_committed_documents(fresh: dict[str, str]) -> None:
    saved = export.committed()
    problems = [
        f"{name}: {p}"
        for name, text in fresh.items()
        if name in saved
        for p in export.document_breaking_changes(json.loads(saved[name]), json.loads(text))
    ]
    assert problems == []


def test_no_breaking_change_against_git_head(fresh: dict[str, str]) -> None:
    """Regenerating the documents must not launder a break: compare with HEAD's too."""
    problems = []
    for name, text in fresh.items():
        done = subprocess.run(
            ["git", "-C", str(HERE), "show", f"HEAD:./{name}"], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            continue  # not committed yet (or not a checkout)
        problems += [
            f"{name}: {p}"
            for p in export.document_breaking_changes(json.loads(done.stdout), json.loads(text))
        ]
    assert problems == []


@pytest.fixture(scope="module")
def ingest(fresh: dict[str, str]) -> dict[str, Any]:
    return json.loads(fresh["ingest.json"])  # type: ignore[no-any-return]


def test_checker_sees_a_removed_operation_and_a_removed_answer_field(ingest: dict[str, Any]) -> None:
    changed = copy.deepcopy(ingest)
    del changed["paths"]["/v1/analyses/{analysis_id}/report"]
    del changed["components"]["schemas"]["AnalysisCreated"]["properties"]["links"]
    problems = export.document_breaking_changes(ingest, changed)
    assert "GET /v1/analyses/{analysis_id}/report: operation removed" in problems
    assert any("POST /v1/analyses" in p and "links: property removed" in p for p in problems)


def test_checker_sees_a_new_required_input_and_allows_optional_ones(ingest: dict[str, Any]) -> None:
    changed = copy.deepcopy(ingest)
    body = changed["components"]["schemas"]["AnalysisIn"]
    body["properties"]["budget"] = {"type": "integer"}
    body["required"] = [*body.get("required", []), "budget"]
    get_analysis = changed["paths"]["/v1/analyses/{analysis_id}"]["get"]
    get_analysis.setdefault("parameters", []).append(
        {"in": "query", "name": "fields", "required": False, "schema": {"type": "string"}}
    )
    problems = export.document_breaking_changes(ingest, changed)
    assert problems and all("budget: new required property" in p for p in problems)
    get_analysis["parameters"][-1]["required"] = True
    assert any(
        "query:fields: new required property" in p for p in export.document_breaking_changes(ingest, changed)
    )


def test_checker_allows_an_answer_to_promise_more_but_not_to_drop_or_retype(ingest: dict[str, Any]) -> None:
    changed = copy.deepcopy(ingest)
    answer = changed["components"]["schemas"]["AnalysisCreated"]
    answer["properties"]["queued_at"] = {"type": "string"}
    answer["required"] = [*answer.get("required", []), "queued_at", *answer["properties"]]
    assert export.document_breaking_changes(ingest, changed) == []
    answer["properties"]["links"] = {"type": "integer"}
    assert any("links" in p for p in export.document_breaking_changes(ingest, changed))
