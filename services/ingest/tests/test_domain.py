"""Ingest domain: reading uploads (generated in tmp_path), Parquet writing, summaries, projection."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cqox_contracts.v1 import (
    EVENT_TYPES,
    AnalysisAssessed,
    AnalysisEstimated,
    AnalysisFailed,
    AnalysisRequested,
    Artifact,
    ColumnSchema,
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
    MessageDeadLettered,
    MethodFailure,
    NotificationDelivered,
    NotificationFailed,
    ReportGenerated,
    RoleAssignment,
    RoleMapping,
)
from cqox_ingest.domain import (
    STATUS_RANK,
    IngestError,
    project,
    read_table,
    safe_filename,
    summarize,
    write_parquet,
)

# ---- read_table: good inputs ------------------------------------------------------------------


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_comma_csv(tmp_path: Path) -> None:
    path = _write(tmp_path, "d.csv", b"id,treated,y,x\n1,1,2.5,a\n2,0,3.0,b\n3,1,NA,c\n")
    table = read_table(path, "d.csv")
    assert table.file_format == "csv"
    assert table.notes == []
    assert list(table.frame.columns) == ["id", "treated", "y", "x"]
    assert table.frame["id"].dtype == "int64"
    assert table.frame["y"].isna().tolist() == [False, False, True]


def test_semicolon_csv_with_quoted_newlines(tmp_path: Path) -> None:
    data = b'id;comment;y\n1;"first line\nsecond line";1.5\n2;"a; b";2.5\n3;"x\ny\nz";3.5\n4;"plain";4.5\n'
    table = read_table(_write(tmp_path, "d.csv", data), "d.csv")
    assert table.file_format == "csv"
    assert list(table.frame.columns) == ["id", "comment", "y"]
    assert len(table.frame) == 4
    assert table.frame["comment"].tolist()[:3] == ["first line\nsecond line", "a; b", "x\ny\nz"]
    assert table.frame["y"].tolist() == [1.5, 2.5, 3.5, 4.5]


def test_tsv(tmp_path: Path) -> None:
    data = b"unit\ttime\tsales\nA\t2020\t10\nA\t2021\t12\nB\t2020\t7\n"
    table = read_table(_write(tmp_path, "d.tsv", data), "d.tsv")
    assert table.file_format == "tsv"
    assert list(table.frame.columns) == ["unit", "time", "sales"]
    assert table.frame["sales"].tolist() == [10, 12, 7]


def test_pipe_separated(tmp_path: Path) -> None:
    data = b"a|b|c\n1|2|x\n3|4|y\n5|6|z\n"
    table = read_table(_write(tmp_path, "d.txt", data), "d.txt")
    assert table.file_format == "csv"
    assert list(table.frame.columns) == ["a", "b", "c"]
    assert table.frame["b"].tolist() == [2, 4, 6]


def test_single_column_falls_back_to_comma(tmp_path: Path) -> None:
    table = read_table(_write(tmp_path, "d.csv", b"y\n1\n2\n3\n"), "d.csv")
    assert list(table.frame.columns) == ["y"]
    assert len(table.frame) == 3


def test_utf8_with_bom(tmp_path: Path) -> None:
    data = "\ufeffid,名前,売上\n1,東京,100\n2,大阪,200\n".encode()
    table = read_table(_write(tmp_path, "d.csv", data), "d.csv")
    assert list(table.frame.columns) == ["id", "名前", "売上"]  # no BOM glued to "id"
    assert table.frame["名前"].tolist() == ["東京", "大阪"]
    assert table.notes == []


def test_shift_jis_japanese(tmp_path: Path) -> None:
    text = "店舗,施策,売上高\n新宿店,1,120.5\n渋谷店,0,98.0\n池袋店,1,130.25\n"
    table = read_table(_write(tmp_path, "sjis.csv", text.encode("cp932")), "sjis.csv")
    assert list(table.frame.columns) == ["店舗", "施策", "売上高"]
    assert table.frame["店舗"].tolist() == ["新宿店", "渋谷店", "池袋店"]
    assert table.frame["売上高"].tolist() == [120.5, 98.0, 130.25]
    assert table.notes == ["decoded as cp932"]


def test_shift_jis_beyond_the_sniffed_head(tmp_path: Path) -> None:
    lines = ["id,comment"] + [f"{i},ok" for i in range(12_000)] + ["12000,日本語のコメント"]
    data = "\n".join(lines).encode("cp932")
    assert len(data) > 65536
    table = read_table(_write(tmp_path, "big.csv", data), "big.csv")
    assert table.frame["comment"].iloc[-1] == "日本語のコメント"


def test_parquet_is_sniffed_and_narrow_ints_widened(tmp_path: Path) -> None:
    arrow = pa.table(
        {
            "small": pa.array([1, -2, 3], pa.int8()),
            "mid": pa.array([1000, 2000, 3000], pa.int32()),
            "unsigned": pa.array([1, 2, 3], pa.uint16()),
            "y": pa.array([0.5, 1.5, None], pa.float64()),
            "name": pa.array(["a", "b", "c"]),
        }
    )
    path = tmp_path / "upload.bin"  # the extension is irrelevant
    pq.write_table(arrow, path)
    table = read_table(path, "upload.bin")
    assert table.file_format == "parquet"
    dtypes = {c: str(t) for c, t in table.frame.dtypes.items()}
    assert dtypes["small"] == dtypes["mid"] == dtypes["unsigned"] == "int64"
    assert table.frame["small"].tolist() == [1, -2, 3]
    assert dtypes["y"] == "float64"


def test_parquet_nullable_int_with_missing_values(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": pd.array([1, None, 3], dtype="Int8"), "y": [1.0, 2.0, 3.0]})
    frame.to_parquet(tmp_path / "n.parquet")
    table = read_table(tmp_path / "n.parquet")
    assert table.frame["a"].isna().tolist() == [False, True, False]


def test_parquet_uint64_is_not_silently_wrapped(tmp_path: Path) -> None:
    pq.write_table(pa.table({"big": pa.array([2**63, 1, 2], pa.uint64())}), tmp_path / "u.parquet")
    try:
        table = read_table(tmp_path / "u.parquet")
    except IngestError:
        return  # refusing the column would also be acceptable
    assert (table.frame["big"] >= 0).all()


# ---- read_table: bad inputs ---------------------------------------------------------------------


def _parquet_bytes() -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"a": list(range(1000)), "b": [float(i) for i in range(1000)]}), buffer)
    return buffer.getvalue()


BAD_INPUTS: list[tuple[str, bytes, int, str]] = [
    ("empty.csv", b"", 400, "empty"),
    ("header.csv", b"id,treated,y\n", 422, "no data rows"),
    ("blank.csv", b"\n\n\n", 400, "no header and no rows"),
    ("junk.bin", bytes(range(256)) * 40, 415, "looks binary"),
    ("page.csv", b"<!DOCTYPE html>\n<html><body>Sign in</body></html>\n", 415, "HTML page"),
    ("page2.csv", b"  \n<HTML><head></head><body>x</body></HTML>", 415, "HTML page"),
    ("dup.csv", b"id,y,y\n1,2,3\n4,5,6\n", 422, "duplicate column names"),
    ("unnamed.csv", b",a,b\n0,1,2\n1,3,4\n", 422, "no name"),
    ("ragged.csv", b"a,b\n1,2\n3,4,5,6\n", 422, "not well-formed comma-separated"),
    ("cut.parquet", _parquet_bytes()[:200], 422, "Parquet file cannot be read"),
]


@pytest.mark.parametrize(("name", "data", "status", "fragment"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_inputs(tmp_path: Path, name: str, data: bytes, status: int, fragment: str) -> None:
    path = _write(tmp_path, name, data)
    with pytest.raises(IngestError) as info:
        read_table(path, name)
    assert info.value.status_code == status
    assert fragment in info.value.message
    assert str(info.value) == info.value.message


def test_binary_message_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "x", b"\x00\x01\x02junk")
    with pytest.raises(IngestError) as info:
        read_table(path, "photo.jpg")
    assert "photo.jpg" in info.value.message


def test_parquet_truncated_in_the_footer(tmp_path: Path) -> None:
    data = _parquet_bytes()
    path = _write(tmp_path, "d.parquet", data[:-10])
    with pytest.raises(IngestError) as info:
        read_table(path, "d.parquet")
    assert info.value.status_code == 422


# ---- write_parquet and safe_filename ----------------------------------------------------------


def test_write_parquet_schema_matches_frame(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "id": np.array([1, 2, 3], dtype="int64"),
            "y": [1.5, None, 2.5],
            "treated": [True, False, True],
            "unit": ["a", "b", "c"],
            "when": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
        },
        index=[10, 11, 12],  # a non-default index must not become a column
    )
    path = tmp_path / "out.parquet"
    schema = write_parquet(frame, path)
    assert all(isinstance(c, ColumnSchema) for c in schema)
    assert [c.name for c in schema] == list(frame.columns)
    dtypes = [c.dtype for c in schema]
    assert dtypes[:3] == ["int64", "double", "bool"]
    assert dtypes[3] in ("string", "large_string")  # pandas 3 strings are large_string
    assert dtypes[4].startswith("timestamp[")
    assert all(c.nullable for c in schema)
    back = pq.read_table(path)
    assert back.column_names == list(frame.columns)
    assert back.num_rows == 3
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
    pd.testing.assert_frame_equal(back.to_pandas(), frame.reset_index(drop=True))


def test_read_then_write_round_trip(tmp_path: Path) -> None:
    path = _write(tmp_path, "d.csv", b"id,y\n1,2.0\n2,3.5\n")
    schema = write_parquet(read_table(path).frame, tmp_path / "d.parquet")
    assert [(c.name, c.dtype) for c in schema] == [("id", "int64"), ("y", "double")]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("data.csv", "data.csv"),
        ("../../etc/passwd", "passwd"),
        ("/abs/dir/file.tsv", "file.tsv"),
        ("C:\\Users\\me\\My Data (final).csv", "My_Data_final_.csv"),
        ("売上 2024.csv", "売上_2024.csv"),
        ("weird;name&$.parquet", "weird_name_.parquet"),
        (".hidden", "hidden"),
        ("...", "upload"),
        ("dir/", "dir"),
        ("a/b/", "b"),
        ("", "upload"),
        (None, "upload"),
    ],
)
def test_safe_filename(name: str | None, expected: str) -> None:
    assert safe_filename(name) == expected


def test_safe_filename_is_bounded() -> None:
    cleaned = safe_filename("x" * 500 + ".csv")
    assert len(cleaned) == 120
    assert "/" not in cleaned and "\\" not in cleaned


# ---- sample events ----------------------------------------------------------------------------

AID = "an-0001"
ENV: dict[str, Any] = {"correlation_id": AID, "producer": "test", "tenant_id": "tenant-a"}
DATASET = DatasetRef(
    dataset_id="ds-1",
    version=1,
    name="sales.csv",
    parquet_uri="file:///tmp/a/tenant-a/ds-1/1/data.parquet",
    n_rows=500,
    columns=[
        ColumnSchema(name="store", dtype="string"),
        ColumnSchema(name="promo", dtype="int64"),
        ColumnSchema(name="sales", dtype="double"),
        ColumnSchema(name="size", dtype="double"),
    ],
)
ROLES = RoleMapping(treatment="promo", outcome="sales", unit="store", covariates=["size"])
ASSIGNMENTS = [
    RoleAssignment(role="treatment", column="promo", confidence=0.92),
    RoleAssignment(role="outcome", column="sales", confidence=0.81),
    RoleAssignment(role="unit", column="store", confidence=0.7),
]
DATA_GATES = [
    GateResult(name="required_roles", category="data", passed=True, severity="error"),
    GateResult(name="arm_size", category="data", threshold=30, value=240, passed=True, severity="error"),
]
CAUSAL_GATES = [
    GateResult(
        name="balance_smd", category="causal", threshold=0.1, value=0.04, passed=True,
        severity="warning",
    ),
    GateResult(
        name="overlap", category="causal", threshold=0.05, value=0.01, passed=False,
        severity="warning", applies_to=["ipw"],
    ),
]  # fmt: skip


def _estimate(method: str, value: float) -> EstimateResult:
    return EstimateResult(
        method=method, estimand="ATE", estimate=value, std_error=0.3, ci_lower=value - 0.6,
        ci_upper=value + 0.6, p_value=0.001, n=500, n_treated=240, n_control=260,
        inference="HC1 robust",
    )  # fmt: skip


OLS, IPW = _estimate("ols", 1.2), _estimate("ipw", 1.35)
FAILURE = MethodFailure(method="did", reason="no time column")


def mapped(needs_confirmation: bool = False) -> DatasetMapped:
    return DatasetMapped(
        **ENV, dataset=DATASET, analysis_id=AID, spec={}, roles=ROLES, assignments=ASSIGNMENTS,
        design="observational", needs_confirmation=needs_confirmation,
    )  # fmt: skip


def qualified() -> DatasetQualified:
    return DatasetQualified(
        **ENV, dataset=DATASET, analysis_id=AID, spec={}, roles=ROLES, design="observational",
        gates=DATA_GATES,
    )  # fmt: skip


def requested(method: str) -> EstimateRequested:
    return EstimateRequested(
        **ENV, analysis_id=AID, method=method, dataset=DATASET, roles=ROLES,
        design="observational", seed=7,
    )  # fmt: skip


def completed(result: EstimateResult) -> EstimateCompleted:
    return EstimateCompleted(**ENV, analysis_id=AID, method=result.method, result=result)


def estimated() -> AnalysisEstimated:
    return AnalysisEstimated(
        **ENV, analysis_id=AID, dataset=DATASET, roles=ROLES, design="observational",
        planned_methods=["ipw", "ols", "did"], estimates=[OLS, IPW], failures=[FAILURE],
    )  # fmt: skip


def assessed() -> AnalysisAssessed:
    return AnalysisAssessed(
        **ENV, analysis_id=AID, dataset=DATASET, roles=ROLES, design="observational",
        estimates=[OLS, IPW], failures=[FAILURE], gates=DATA_GATES + CAUSAL_GATES,
    )  # fmt: skip


def report() -> ReportGenerated:
    return ReportGenerated(
        **ENV, analysis_id=AID, report_uri="file:///tmp/a/tenant-a/analyses/an-0001/report.html",
        artifacts=[Artifact(name="forest.png", uri="file:///tmp/a/f.png", media_type="image/png")],
        headline="promo raised sales by 1.2 (95% CI 0.6 to 1.8)",
    )  # fmt: skip


def failed(stage: str = "estimation", reason: str = "dead-lettered") -> AnalysisFailed:
    return AnalysisFailed(**ENV, analysis_id=AID, stage=stage, reason=reason)


def sample_events() -> dict[str, Event]:
    """One instance of every v1 event type."""
    events: list[Event] = [
        DatasetIngested(**ENV, dataset=DATASET, raw_uri="file:///tmp/raw.csv", analysis_id=AID),
        AnalysisRequested(**ENV, dataset=DATASET, analysis_id=AID),
        mapped(needs_confirmation=True),
        qualified(),
        DatasetRejected(
            **ENV, dataset=DATASET, analysis_id=AID, reason="only one arm", gates=DATA_GATES
        ),
        requested("ols"),
        completed(OLS),
        EstimateFailed(**ENV, analysis_id=AID, method="did", reason="no time column"),
        estimated(),
        assessed(),
        report(),
        failed(),
        NotificationDelivered(
            **ENV, analysis_id=AID, subscription_id="sub-1", channel="webhook",
            target="https://hooks.example.com/x", attempts=1, status_code=200,
        ),
        NotificationFailed(
            **ENV, analysis_id=AID, subscription_id="sub-1", channel="webhook",
            target="https://hooks.example.com/x", attempts=5, reason="HTTP 500",
        ),
        MessageDeadLettered(
            **ENV, original_subject="cqox.v1.dataset.mapped", consumer="quality-gate",
            deliveries=5, reason="handler error", payload="{}",
        ),
    ]  # fmt: skip
    return {e.event_type: e for e in events}


# ---- summarize --------------------------------------------------------------------------------


def test_summarize_covers_every_event_type() -> None:
    samples = sample_events()
    assert set(samples) == set(EVENT_TYPES)
    for event_type, event in samples.items():
        line = summarize(event)
        assert isinstance(line, str)
        assert line.strip(), event_type
        assert "\n" not in line, event_type


def test_summarize_content() -> None:
    samples = sample_events()
    assert summarize(samples["dataset.ingested"]) == "stored sales.csv v1: 500 rows × 4 columns"
    mapped_line = summarize(samples["dataset.mapped"])
    assert "treatment=promo (0.92)" in mapped_line
    assert "outcome=sales (0.81)" in mapped_line
    assert mapped_line.endswith("; needs confirmation")
    assert summarize(samples["dataset.qualified"]) == "data gates passed (2/2)"
    assert summarize(samples["estimate.completed"]) == "ols: ATE 1.2 (95% CI 0.6 to 1.8), n=500"
    assert summarize(samples["analysis.estimated"]) == "2 of 3 methods estimated"
    assert summarize(samples["analysis.assessed"]) == "3/4 gates passed; failed: overlap"
    assert summarize(samples["report.generated"]).startswith("report ready: promo raised")
    assert summarize(samples["analysis.failed"]) == "failed in estimation: dead-lettered"
    assert "attempt 1" in summarize(samples["notification.delivered"])


def test_summarize_missing_ci_and_timeouts() -> None:
    result = EstimateResult(
        method="rd", estimand="LATE", estimate=0.5, std_error=None, ci_lower=None, ci_upper=None,
        p_value=None, n=80, inference="none",
    )  # fmt: skip
    assert "n/a to n/a" in summarize(completed(result))
    timed_out = AnalysisEstimated(
        **ENV, analysis_id=AID, dataset=DATASET, roles=ROLES, design="observational",
        planned_methods=["ols", "ipw"], estimates=[OLS], timed_out=["ipw"],
    )  # fmt: skip
    assert summarize(timed_out) == "1 of 2 methods estimated, timed out: ipw"


# ---- project ----------------------------------------------------------------------------------


def _run(events: list[Event], state: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    states = []
    current = dict(state or {"analysis_id": AID, "status": "accepted"})
    for event in events:
        current = project(current, event)
        states.append(current)
    return states


def test_project_full_flow() -> None:
    flow: list[Event] = [
        mapped(), qualified(), requested("ols"), requested("ipw"), completed(OLS), completed(IPW),
        estimated(), assessed(), report(),
    ]  # fmt: skip
    states = _run(flow)
    assert [s["status"] for s in states] == [
        "mapped", "qualified", "estimating", "estimating", "estimating", "estimating",
        "estimated", "assessed", "completed",
    ]  # fmt: skip
    final = states[-1]
    assert final["analysis_id"] == AID
    assert final["roles"]["treatment"] == "promo"
    assert final["design"] == "observational"
    assert final["needs_confirmation"] is False
    assert [a["column"] for a in final["assignments"]] == ["promo", "sales", "store"]
    assert final["planned_methods"] == ["ipw", "ols", "did"]
    assert [e["method"] for e in final["estimates"]] == ["ols", "ipw"]
    assert final["estimates"][0]["estimate"] == 1.2
    assert final["failures"] == [{"method": "did", "reason": "no time column", "error_type": "error"}]
    assert [g["name"] for g in final["gates"]] == [
        "required_roles", "arm_size", "balance_smd", "overlap",
    ]  # fmt: skip
    assert final["report"] == {
        "uri": "file:///tmp/a/tenant-a/analyses/an-0001/report.html",
        "headline": "promo raised sales by 1.2 (95% CI 0.6 to 1.8)",
        "artifacts": [{"name": "forest.png", "uri": "file:///tmp/a/f.png", "media_type": "image/png"}],
    }
    assert "error" not in final


def test_project_intermediate_values() -> None:
    states = _run([mapped(), qualified(), requested("ols"), requested("ipw"), completed(OLS)])
    assert states[1]["gates"] == [g.model_dump(mode="json") for g in DATA_GATES]
    assert states[3]["planned_methods"] == ["ipw", "ols"]
    assert states[4]["estimates"] == [OLS.model_dump(mode="json")]
    # a redelivered completion replaces, never duplicates
    again = project(states[4], completed(_estimate("ols", 1.25)))
    assert [e["estimate"] for e in again["estimates"]] == [1.25]


def test_project_is_pure() -> None:
    state = {"analysis_id": AID, "status": "accepted"}
    snapshot = dict(state)
    new = project(state, mapped())
    assert state == snapshot
    assert new is not state
    assert project({}, mapped())["status"] == "mapped"


def test_project_awaiting_confirmation_then_confirmed() -> None:
    states = _run([mapped(needs_confirmation=True), mapped(needs_confirmation=False), qualified()])
    assert [s["status"] for s in states] == ["awaiting_confirmation", "mapped", "qualified"]


def test_project_estimate_failures_upsert() -> None:
    fail = EstimateFailed(**ENV, analysis_id=AID, method="did", reason="x", error_type="value")
    states = _run([requested("did"), fail, fail])
    assert states[-1]["failures"] == [{"method": "did", "reason": "x", "error_type": "value"}]
    assert states[-1]["status"] == "estimating"


def test_project_report_before_assessed_never_goes_back() -> None:
    states = _run([mapped(), qualified(), estimated(), report(), assessed(), completed(OLS)])
    assert [s["status"] for s in states] == [
        "mapped", "qualified", "estimated", "completed", "completed", "completed",
    ]  # fmt: skip
    final = states[-1]
    assert final["report"]["headline"].startswith("promo raised")
    assert len(final["gates"]) == 4  # the late assessment still fills in its gates


@pytest.mark.parametrize("late", [mapped(), qualified(), requested("ols"), completed(OLS), estimated()])
def test_project_late_events_never_move_status_backwards(late: Event) -> None:
    state = _run([mapped(), qualified(), estimated(), assessed()])[-1]
    assert project(state, late)["status"] == "assessed"
    done = project(state, report())
    assert project(done, late)["status"] == "completed"


def test_project_status_is_monotonic_for_every_ordering_of_the_flow() -> None:
    flow: list[Event] = [mapped(), qualified(), requested("ols"), estimated(), assessed(), report()]
    rng = np.random.default_rng(0)
    for _ in range(50):
        order = [flow[i] for i in rng.permutation(len(flow))]
        ranks = [STATUS_RANK[s["status"]] for s in _run(order)]
        assert ranks == sorted(ranks)
        assert ranks[-1] == STATUS_RANK["completed"]


def test_project_late_qualified_keeps_causal_gates() -> None:
    final = _run([mapped(), estimated(), assessed(), report(), qualified()])[-1]
    assert [g["name"] for g in final["gates"]] == [
        "required_roles", "arm_size", "balance_smd", "overlap",
    ]  # fmt: skip


def test_project_failed_after_completed_stays_completed() -> None:
    done = _run([mapped(), qualified(), estimated(), assessed(), report()])[-1]
    after = project(done, failed("visualization", "timeout"))
    assert after["status"] == "completed"
    assert "error" not in after
    assert after["report"] == done["report"]


def test_project_failed_is_terminal() -> None:
    states = _run([mapped(), qualified(), failed("estimation", "all methods failed"), report()])
    assert [s["status"] for s in states][-2:] == ["failed", "failed"]
    assert states[-1]["error"] == "estimation: all methods failed"
    second = project(states[-1], failed("report", "other"))
    assert second["error"] == "estimation: all methods failed"


def test_project_rejected_is_terminal() -> None:
    rejected = DatasetRejected(
        **ENV, dataset=DATASET, analysis_id=AID, reason="only one arm", gates=DATA_GATES
    )
    states = _run([mapped(), rejected, qualified(), requested("ols")])
    assert [s["status"] for s in states] == ["mapped", "rejected", "rejected", "rejected"]
    assert states[1]["error"] == "only one arm"


def test_project_notifications_append_without_status_change() -> None:
    done = _run([mapped(), qualified(), estimated(), assessed(), report()])[-1]
    samples = sample_events()
    state = project(done, samples["notification.failed"])
    state = project(state, samples["notification.delivered"])
    assert state["status"] == "completed"
    assert state["notifications"] == [
        {"subscription_id": "sub-1", "target": "https://hooks.example.com/x", "attempts": 5,
         "status": "failed"},
        {"subscription_id": "sub-1", "target": "https://hooks.example.com/x", "attempts": 1,
         "status": "delivered"},
    ]  # fmt: skip


@pytest.mark.parametrize("event_type", ["dataset.ingested", "analysis.requested", "message.deadlettered"])
def test_project_ignores_events_without_read_model_effect(event_type: str) -> None:
    state = {"analysis_id": AID, "status": "mapped", "design": "observational"}
    assert project(state, sample_events()[event_type]) == state


def test_late_method_result_does_not_change_a_closed_analysis() -> None:
    from cqox_contracts.v1 import EstimateCompleted, EstimateResult
    from cqox_ingest.domain import project

    closed = {"status": "completed", "estimates": [{"method": "ols", "estimate": 2.0}], "failures": []}
    late = EstimateCompleted(
        correlation_id="a", producer="estimator", analysis_id="a", method="ipw",
        result=EstimateResult(method="ipw", estimand="ATE", estimate=1.0, std_error=0.1, ci_lower=0.8,
                              ci_upper=1.2, p_value=0.01, n=10, inference="x"),
    )  # fmt: skip
    assert project(closed, late) == closed
