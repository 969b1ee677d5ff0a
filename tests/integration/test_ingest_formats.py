"""Ingest through the HTTP API on the running stack: encodings, formats, CJK names end to end."""

from __future__ import annotations

import gzip
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from cqox_stack.stack import Stack
from tests.integration.conftest import EXAMPLES, REPO, wait_done

pytestmark = pytest.mark.integration

JAPANESE = {
    "customer_id": "顧客ID",
    "age": "年齢",
    "income": "年収",
    "tenure_months": "継続月数",
    "prior_purchases": "過去購入数",
    "region": "地域",
    "received_coupon": "クーポン受取",
    "spend_next_90d": "今後90日の購入額",
}


def _write_xlsx() -> Callable[..., Path]:
    spec = importlib.util.spec_from_file_location("cqox_bench_workbook", REPO / "bench/ingest/workbook.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_xlsx  # type: ignore[no-any-return]


def _post(api: httpx.Client, path: Path, **form: str) -> httpx.Response:
    with path.open("rb") as handle:
        return api.post("/v1/datasets", files={"file": (path.name, handle)}, data=form)


def _ingested_event(stack: Stack, analysis_id: str) -> dict[str, Any]:
    engine = sa.create_engine(stack.database_url)
    with engine.connect() as conn:
        payload = conn.execute(
            sa.text(
                "SELECT payload FROM ingest.analysis_events "
                "WHERE analysis_id = :a AND event_type = 'dataset.ingested'"
            ),
            {"a": analysis_id},
        ).scalar_one()
    engine.dispose()
    return payload  # type: ignore[no-any-return]


def test_cp932_japanese_columns_survive_end_to_end(api: httpx.Client, stack: Stack, tmp_path: Path) -> None:
    lines = (EXAMPLES / "customers.csv").read_text().splitlines()
    header = ",".join(JAPANESE[c] for c in lines[0].split(","))
    path = tmp_path / "顧客.csv"
    path.write_bytes("\r\n".join([header, *lines[1:]]).encode("cp932"))
    roles = {"treatment": "クーポン受取", "outcome": "今後90日の購入額", "unit": "顧客ID"}
    response = _post(api, path, name="顧客-cp932", analysis=json.dumps({"methods": ["ols"], "roles": roles}))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["encoding"] == "cp932" and body["format"] == "csv"
    assert [c["name"] for c in body["columns"]] == list(JAPANESE.values())

    analysis = wait_done(api, body["analysis_id"])
    assert analysis["status"] == "completed", analysis["error"]
    assert analysis["roles"]["treatment"] == "クーポン受取"
    assert [e["method"] for e in analysis["estimates"]] == ["ols"]

    event = _ingested_event(stack, body["analysis_id"])
    assert event["encoding"] == "cp932"
    assert [c["name"] for c in event["dataset"]["columns"]] == list(JAPANESE.values())
    profile = {c["name"]: c for c in event["profile"]["columns"]}
    assert event["profile"]["n_rows"] == 4000
    assert profile["クーポン受取"]["distinct_count"] == 2 and profile["年齢"]["mean"] > 0
    parquet = Path(event["dataset"]["parquet_uri"].removeprefix("file://"))
    assert pq.read_schema(parquet).names == list(JAPANESE.values())


@pytest.mark.parametrize("kind", ["xlsx", "xls", "ods", "ndjson", "csv.gz"])
def test_other_formats_upload(api: httpx.Client, tmp_path: Path, kind: str) -> None:
    rows: list[list[Any]] = [["単位", "処置", "結果"], *[[f"u{i}", i % 2, float(i)] for i in range(40)]]
    if kind == "xlsx":
        path = _write_xlsx()(tmp_path / "data.bin", {"空": [], "データ": rows})  # the extension lies
    elif kind == "xls":
        import xlwt  # type: ignore[import-untyped]  # dev-only writer

        book = xlwt.Workbook(encoding="utf-8")
        sheet = book.add_sheet("データ")
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                sheet.write(r, c, value)
        path = tmp_path / "data.xls"
        book.save(str(path))
    elif kind == "ods":
        import pandas as pd

        path = tmp_path / "data.ods"
        pd.DataFrame(rows[1:], columns=rows[0]).to_excel(path, engine="odf", index=False)
    elif kind == "ndjson":
        path = tmp_path / "data.ndjson"
        path.write_text("\n".join(json.dumps(dict(zip(rows[0], r, strict=True))) for r in rows[1:]))
    else:
        path = tmp_path / "data.csv.gz"
        path.write_bytes(gzip.compress("\n".join(",".join(map(str, r)) for r in rows).encode("utf-8")))
    response = _post(api, path, name=f"formats-{kind}", analysis=json.dumps({"methods": ["diff_in_means"]}))
    assert response.status_code == 202, response.text
    body = response.json()
    assert [c["name"] for c in body["columns"]] == ["単位", "処置", "結果"]
    assert body["rows"] == 40
    assert body["format"].startswith(
        {"xlsx": "xlsx", "xls": "xls", "ods": "ods", "ndjson": "ndjson", "csv.gz": "csv+gz"}[kind]
    )
