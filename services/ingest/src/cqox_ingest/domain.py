"""Pure ingest logic: read an uploaded file into a table, and project events into the read model."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cqox_contracts.v1 import (
    AnalysisAssessed,
    AnalysisEstimated,
    AnalysisFailed,
    ColumnSchema,
    DatasetIngested,
    DatasetMapped,
    DatasetQualified,
    DatasetRejected,
    EstimateCompleted,
    EstimateFailed,
    EstimateRequested,
    Event,
    NotificationDelivered,
    NotificationFailed,
    ReportGenerated,
)

PARQUET_MAGIC = b"PAR1"
ENCODINGS = ("utf-8-sig", "cp932", "latin-1")


class IngestError(Exception):
    """An upload that cannot be accepted, with the HTTP status and a message a person can act on."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


@dataclass
class Table:
    """A parsed upload: the frame, its detected format and notes on what was done to it."""

    frame: pd.DataFrame
    file_format: str
    notes: list[str] = field(default_factory=list)


def safe_filename(name: str | None) -> str:
    """A file name without directories or odd characters (for storage keys)."""
    base = Path((name or "upload").replace("\\", "/")).name
    cleaned = re.sub(r"[^\w.\-]+", "_", base, flags=re.UNICODE).strip("._")
    return cleaned[:120] or "upload"


def read_table(path: Path, filename: str | None = None) -> Table:
    """Read a CSV/TSV or Parquet file, sniffing the content (the extension is only a hint)."""
    size = path.stat().st_size
    if size == 0:
        raise IngestError(400, "the uploaded file is empty")
    with path.open("rb") as handle:
        head = handle.read(65536)
    if head.startswith(PARQUET_MAGIC):
        return _read_parquet(path)
    if b"\x00" in head[:8192] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestError(
            415, f"{filename or 'the file'} looks binary, not CSV or Parquet; upload CSV, TSV or Parquet"
        )
    return _read_delimited(path, head, filename)


def _read_parquet(path: Path) -> Table:
    try:
        frame = pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        raise IngestError(422, f"the Parquet file cannot be read: {exc}") from exc
    return _checked(Table(frame, "parquet"))


def _decode_sample(head: bytes) -> str:
    for encoding in ENCODINGS:
        try:
            return head.decode(encoding)
        except UnicodeDecodeError:
            continue
    return head.decode("latin-1")


def _encoding_of(head: bytes) -> str:
    for encoding in ENCODINGS:
        try:
            head.decode(encoding)
        except UnicodeDecodeError as exc:
            if exc.start >= len(head) - 4:  # a multi-byte character cut at the sample's end
                return encoding
            continue
        return encoding
    return "latin-1"


def _read_delimited(path: Path, head: bytes, filename: str | None) -> Table:
    text = _decode_sample(head)
    if text.lstrip().lower().startswith(("<!doctype html", "<html")):
        raise IngestError(415, "the file is an HTML page, not a data file; export the data as CSV")
    sample = "\n".join(text.splitlines()[:50])
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = "\t" if (filename or "").lower().endswith(".tsv") else ","
    first = _encoding_of(head)
    candidates = [first, *(e for e in ENCODINGS if e != first)]
    frame = pd.DataFrame()
    for encoding in candidates:  # the sample may be plain ASCII while later rows are not
        try:
            frame = pd.read_csv(
                path, sep=delimiter, encoding=encoding, na_values=["NA", "N/A", "null", "NULL", ""]
            )
            break
        except pd.errors.EmptyDataError as exc:
            raise IngestError(400, "the file has no header and no rows") from exc
        except pd.errors.ParserError as exc:
            raise IngestError(
                422, f"the file is not well-formed {_name(delimiter)}-separated text: {exc}"
            ) from exc
        except UnicodeDecodeError as exc:
            if encoding == candidates[-1]:
                raise IngestError(422, f"the file is not valid {encoding} text at byte {exc.start}") from exc
    kind = "tsv" if delimiter == "\t" else "csv"
    notes = [] if encoding == "utf-8-sig" else [f"decoded as {encoding}"]
    return _checked(Table(frame, kind, notes))


def _name(delimiter: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}.get(delimiter, repr(delimiter))


def _checked(table: Table) -> Table:
    frame = table.frame
    if frame.shape[1] == 0:
        raise IngestError(422, "the file has no columns")
    if len(frame) == 0:
        raise IngestError(422, f"the file has a header ({frame.shape[1]} columns) but no data rows")
    names = [str(c) for c in frame.columns]
    duplicates = sorted(
        {n for n in names if names.count(n) > 1}
        | {n for n in names if re.search(r"\.\d+$", n) and n.rsplit(".", 1)[0] in names}
    )
    if duplicates:
        raise IngestError(422, f"duplicate column names {duplicates}: give every column a unique name")
    if any(n.strip() == "" or n.startswith("Unnamed: ") for n in names):
        raise IngestError(422, "some columns have no name in the header row: name every column")
    frame.columns = names
    for column in frame.columns:  # 64-bit integers everywhere (narrow types overflow later)
        series = frame[column]
        if not pd.api.types.is_integer_dtype(series) or str(series.dtype) in ("int64", "Int64"):
            continue
        if isinstance(series.dtype, pd.api.extensions.ExtensionDtype):
            frame[column] = series.astype("Int64")  # nullable stays nullable
        elif pd.api.types.is_unsigned_integer_dtype(series) and len(series) and series.max() > 2**63 - 1:
            table.notes.append(f"column {column!r} kept as unsigned 64-bit: values exceed the signed range")
        else:
            frame[column] = series.astype("int64")
    return table


def write_parquet(frame: pd.DataFrame, path: Path) -> list[ColumnSchema]:
    """Write the frame as Parquet once; return the Arrow schema as column descriptions."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, compression="zstd")
    return [ColumnSchema(name=f.name, dtype=str(f.type), nullable=f.nullable) for f in table.schema]


# ---- read model ---------------------------------------------------------------------------

STATUS_RANK = {
    "accepted": 0,
    "mapped": 1,
    "awaiting_confirmation": 1,
    "qualified": 2,
    "estimating": 3,
    "estimated": 4,
    "assessed": 5,
    "completed": 6,
    "rejected": 9,
    "failed": 9,
}
TERMINAL = {"completed", "rejected", "failed"}


def _advance(state: dict[str, Any], status: str) -> None:
    if (
        STATUS_RANK[status] >= STATUS_RANK.get(state.get("status", "accepted"), 0)
        and state.get("status") not in TERMINAL
    ):
        state["status"] = status


def _open(state: dict[str, Any]) -> bool:
    """Whether per-method results may still change the analysis (it has not been closed)."""
    return STATUS_RANK.get(state.get("status", "accepted"), 0) < STATUS_RANK["estimated"]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def summarize(event: Event) -> str:
    """One human line describing an event (shown in progress views)."""
    match event:
        case DatasetIngested():
            d = event.dataset
            return f"stored {d.name} v{d.version}: {d.n_rows} rows × {len(d.columns)} columns"
        case DatasetMapped():
            conf = {a.role: a.confidence for a in event.assignments}
            r = event.roles
            text = (
                f"treatment={r.treatment} ({conf.get('treatment', 0):.2f}), outcome={r.outcome} "
                f"({conf.get('outcome', 0):.2f}), unit={r.unit}, {len(r.covariates)} covariates; design {event.design}"
            )
            return text + ("; needs confirmation" if event.needs_confirmation else "")
        case DatasetQualified():
            return f"data gates passed ({sum(g.passed for g in event.gates)}/{len(event.gates)})"
        case DatasetRejected():
            return f"rejected: {event.reason}"
        case EstimateRequested():
            return f"{event.method} requested"
        case EstimateCompleted():
            r = event.result
            return (
                f"{event.method}: {r.estimand} {_fmt(r.estimate)} "
                f"({r.ci_level:.0%} CI {_fmt(r.ci_lower)} to {_fmt(r.ci_upper)}), n={r.n}"
            )
        case EstimateFailed():
            return f"{event.method} failed: {event.reason}"
        case AnalysisEstimated():
            extra = f", timed out: {', '.join(event.timed_out)}" if event.timed_out else ""
            return f"{len(event.estimates)} of {len(event.planned_methods)} methods estimated{extra}"
        case AnalysisAssessed():
            failed = [g.name for g in event.gates if not g.passed]
            return f"{len(event.gates) - len(failed)}/{len(event.gates)} gates passed" + (
                f"; failed: {', '.join(failed)}" if failed else ""
            )
        case ReportGenerated():
            return f"report ready: {event.headline}".strip()
        case AnalysisFailed():
            return f"failed in {event.stage}: {event.reason}"
        case NotificationDelivered():
            return f"webhook delivered to {event.target} (attempt {event.attempts})"
        case NotificationFailed():
            return f"webhook to {event.target} failed: {event.reason}"
    return event.event_type


def _upsert(items: list[dict[str, Any]], item: dict[str, Any], key: str = "method") -> list[dict[str, Any]]:
    return [i for i in items if i.get(key) != item.get(key)] + [item]


def project(state: dict[str, Any], event: Event) -> dict[str, Any]:
    """Apply one event to an analysis read-model row (a dict of its columns); returns the new state.

    Events may arrive out of order across streams: status only moves forward, terminal states stay.
    """
    state = dict(state)
    match event:
        case DatasetMapped():
            state.update(
                roles=event.roles.model_dump(mode="json"),
                assignments=[a.model_dump(mode="json") for a in event.assignments],
                design=event.design,
                needs_confirmation=event.needs_confirmation,
            )
            _advance(state, "awaiting_confirmation" if event.needs_confirmation else "mapped")
        case DatasetQualified():
            if STATUS_RANK.get(state.get("status", "accepted"), 0) < STATUS_RANK["assessed"]:
                state["gates"] = [g.model_dump(mode="json") for g in event.gates]
            _advance(state, "qualified")
        case DatasetRejected():
            state.update(gates=[g.model_dump(mode="json") for g in event.gates], error=event.reason)
            _advance(state, "rejected")
        case EstimateRequested():
            state["planned_methods"] = sorted({*state.get("planned_methods", []), event.method})
            _advance(state, "estimating")
        case EstimateCompleted() if _open(state):
            state["estimates"] = _upsert(state.get("estimates", []), event.result.model_dump(mode="json"))
            _advance(state, "estimating")
        case EstimateFailed() if _open(state):
            failure = {"method": event.method, "reason": event.reason, "error_type": event.error_type}
            state["failures"] = _upsert(state.get("failures", []), failure)
            _advance(state, "estimating")
        case AnalysisEstimated():
            state.update(
                planned_methods=event.planned_methods,
                estimates=[e.model_dump(mode="json") for e in event.estimates],
                failures=[f.model_dump(mode="json") for f in event.failures],
            )
            _advance(state, "estimated")
        case AnalysisAssessed():
            state.update(
                estimates=[e.model_dump(mode="json") for e in event.estimates],
                gates=[g.model_dump(mode="json") for g in event.gates],
            )
            _advance(state, "assessed")
        case ReportGenerated():
            state["report"] = {
                "uri": event.report_uri,
                "headline": event.headline,
                "artifacts": [a.model_dump(mode="json") for a in event.artifacts],
            }
            _advance(state, "completed")
        case AnalysisFailed():
            if state.get("status") not in TERMINAL:
                state["error"] = f"{event.stage}: {event.reason}"
            _advance(state, "failed")
        case NotificationDelivered() | NotificationFailed():
            note = {
                "subscription_id": event.subscription_id,
                "target": event.target,
                "attempts": event.attempts,
                "status": "delivered" if isinstance(event, NotificationDelivered) else "failed",
            }
            state["notifications"] = [*state.get("notifications", []), note]
    return state
