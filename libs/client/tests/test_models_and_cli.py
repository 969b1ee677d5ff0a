"""The SDK's models against the committed OpenAPI documents, the HTML summary, the CLI's parsing
and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from cqox import cli
from cqox.models import (
    Analysis,
    AnalysisCreated,
    Dataset,
    DatasetSchema,
    DatasetSummary,
    MappingConfirmed,
    Subscription,
    Upload,
    Versions,
    VersionSummary,
)
from pydantic import BaseModel

OPENAPI = Path(__file__).resolve().parents[3] / "contracts" / "openapi"
# SDK model -> (document, component schema of the API's answer)
ANSWERS: dict[type[BaseModel], tuple[str, str]] = {
    Upload: ("ingest", "DatasetUploaded"),
    AnalysisCreated: ("ingest", "AnalysisCreated"),
    Analysis: ("ingest", "AnalysisOut"),
    Dataset: ("ingest", "DatasetOut"),
    DatasetSummary: ("ingest", "DatasetListed"),
    Versions: ("ingest", "VersionsOut"),
    VersionSummary: ("ingest", "VersionSummary"),
    DatasetSchema: ("ingest", "SchemaOut"),
    MappingConfirmed: ("ingest", "MappingConfirmed"),
    Subscription: ("notification", "SubscriptionOut"),
}


def component(document: str, name: str) -> dict[str, Any]:
    schemas = json.loads((OPENAPI / f"{document}.json").read_text())["components"]["schemas"]
    return schemas.get(name) or schemas[f"{name}-Output"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("model", list(ANSWERS), ids=lambda m: m.__name__)
def test_sdk_model_reads_what_the_api_documents(model: type[BaseModel]) -> None:
    """Every field the SDK reads is in the answer, and every one it requires is required there."""
    schema = component(*ANSWERS[model])
    documented, required = set(schema["properties"]), set(schema.get("required", []))
    fields = model.model_fields
    assert set(fields) <= documented, f"{model.__name__} reads fields the API does not send"
    must = {name for name, field in fields.items() if field.is_required()}
    assert must <= required, f"{model.__name__} requires {sorted(must - required)} the API may omit"


def analysis(**changes: Any) -> Analysis:
    body: dict[str, Any] = {
        "analysis_id": "a-1",
        "dataset_id": "d-1",
        "version": 1,
        "status": "completed",
        "design": "observational",
        "estimates": [
            {
                "method": "ols<script>",
                "estimand": "ATE",
                "estimate": 1.99,
                "std_error": 0.04,
                "ci_lower": 1.91,
                "ci_upper": 2.07,
                "p_value": 1e-9,
                "n": 4000,
                "inference": "HC1",
            }
        ],
        "gates": [
            {
                "name": "raw_balance_smd",
                "category": "causal",
                "passed": False,
                "severity": "warning",
                "value": 0.33,
                "threshold": 0.1,
                "applies_to": ["ols<script>"],
            }
        ],
        "verdict": {"level": "CAUTION", "summary": "read the reasons"},
        **changes,
    }
    return Analysis.model_validate(body)


def test_html_summary_escapes_and_shows_the_essentials() -> None:
    page = analysis()._repr_html_()
    assert "ols&lt;script&gt;" in page and "<script>" not in page
    assert "CAUTION" in page and "1.990" in page and "raw_balance_smd" in page
    frame = analysis().estimates_frame()
    assert frame.loc[0, "flagged_by"] == ["raw_balance_smd"] and frame.loc[0, "n"] == 4000


def test_exit_codes_say_how_the_analysis_ended() -> None:
    assert cli.exit_code(analysis()) == 0
    assert cli.exit_code(analysis(status="failed")) == 2 == cli.exit_code(analysis(status="rejected"))
    assert cli.exit_code(analysis(status="awaiting_confirmation")) == 3
    assert cli.exit_code(analysis(status="estimating")) == 4


def test_roles_and_methods_parse_from_the_command_line() -> None:
    assert cli.parse_roles(["treatment=b,outcome=c", "covariates=d", "covariates=e"]) == {
        "treatment": "b",
        "outcome": "c",
        "covariates": ["d", "e"],
    }
    assert cli.parse_roles(['{"cutoff": 0.5}']) == {"cutoff": 0.5}
    assert cli.parse_methods("auto") == "auto" and cli.parse_methods("ols, ipw") == ["ols", "ipw"]
    with pytest.raises(typer.BadParameter):
        cli.parse_roles(["treatment"])
    assert cli.run(["status"]) == cli.EXIT_USAGE  # a missing argument is a usage error, not "failed"
