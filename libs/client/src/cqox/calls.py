"""Every API call as data — method, path, body and how to read the answer — so the sync and the
async client share one definition and differ only in how they send it."""

from __future__ import annotations

import io
import json
import mimetypes
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from cqox.errors import CqoxError
from cqox.models import (
    Analysis,
    AnalysisCreated,
    ArtifactLink,
    Dataset,
    DatasetSchema,
    DatasetSummary,
    Delivery,
    MappingConfirmed,
    Subscription,
    Upload,
    Versions,
)
from cqox_contracts.v1 import AnalysisSpec

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")
Api = Literal["ingest", "notification"]
Progress = Callable[[int, int | None], None]
ReportFormat = Literal["html", "pdf", "json"]
REPORT_ARTIFACTS = {"html": "report", "pdf": "report_pdf", "json": "report_json"}


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and the reading of its answer. `files` builds a fresh multipart body per try
    (a retried upload re-reads its file from the start)."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    api: Api = "ingest"
    params: Mapping[str, Any] | None = None
    json: Any = None
    files: Callable[[], dict[str, Any]] | None = None
    data: Mapping[str, str] | None = None
    retry_connect: bool = True  # safe to resend after a refused connection


def _model(cls: type[BaseModel]) -> Callable[[httpx.Response], Any]:
    return lambda response: cls.model_validate(response.json())


def _models(cls: type[BaseModel]) -> Callable[[httpx.Response], Any]:
    adapter: TypeAdapter[list[Any]] = TypeAdapter(list[cls])  # type: ignore[valid-type]
    return lambda response: adapter.validate_python(response.json())


def _content(response: httpx.Response) -> bytes:
    return response.content


# ---------------------------------------------------------------------------------------------
# Uploads


class ProgressReader(io.RawIOBase):
    """A readable file that reports bytes read so far; a seek to 0 starts the count again."""

    def __init__(self, raw: io.BufferedIOBase | io.RawIOBase, total: int | None, progress: Progress) -> None:
        self.raw, self.total, self.progress, self.sent = raw, total, progress, 0

    def readable(self) -> bool:
        """Always readable."""
        return True

    def seekable(self) -> bool:
        """Whether the wrapped file can seek."""
        return self.raw.seekable()

    def read(self, size: int = -1) -> bytes:
        """Read from the wrapped file and report progress."""
        chunk = self.raw.read(size) or b""
        self.sent += len(chunk)
        self.progress(self.sent, self.total)
        return chunk

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Seek the wrapped file (restarting the count at 0)."""
        position = self.raw.seek(offset, whence)
        if position == 0:
            self.sent = 0
        return position

    def tell(self) -> int:
        """Position in the wrapped file."""
        return self.raw.tell()

    def fileno(self) -> int:
        """The wrapped file's descriptor (httpx sizes the body from it)."""
        return self.raw.fileno()

    def close(self) -> None:
        """Close the wrapped file too."""
        self.raw.close()
        super().close()


@dataclass
class UploadSource:
    """What an upload sends: a file on disk or a DataFrame written to CSV in memory."""

    filename: str
    open: Callable[[], io.BufferedIOBase | io.RawIOBase]
    size: int | None
    media_type: str
    opened: list[io.IOBase] = field(default_factory=list)

    @classmethod
    def of(cls, source: str | os.PathLike[str] | pd.DataFrame, filename: str | None = None) -> UploadSource:
        """The upload of a path, or of a pandas DataFrame (sent as CSV, index kept when named)."""
        if isinstance(source, str | os.PathLike):
            path = Path(source)
            if not path.is_file():
                raise CqoxError(f"no such file: {path}")
            media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return cls(filename or path.name, lambda: path.open("rb"), path.stat().st_size, media)
        if hasattr(source, "to_csv"):
            keep_index = any(name is not None for name in source.index.names)
            body = source.to_csv(index=keep_index).encode()
            return cls(filename or "dataframe.csv", lambda: io.BytesIO(body), len(body), "text/csv")
        raise CqoxError(f"upload takes a path or a pandas DataFrame, not {type(source).__name__}")

    def multipart(self, progress: Progress | None) -> dict[str, Any]:
        """A fresh `files=` argument (closing what an earlier try opened)."""
        self.close()
        handle: io.IOBase = self.open()
        if progress is not None:
            handle = ProgressReader(handle, self.size, progress)  # type: ignore[arg-type]
        self.opened.append(handle)
        return {"file": (self.filename, handle, self.media_type)}

    def close(self) -> None:
        """Close every file handle opened for this upload."""
        while self.opened:
            self.opened.pop().close()


def analysis_spec(
    analysis: AnalysisSpec | Mapping[str, Any] | None,
    methods: str | Sequence[str] | None,
    roles: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The JSON analysis spec of an upload: `analysis` overlaid by `methods` and `roles`."""
    if isinstance(analysis, AnalysisSpec):
        spec: dict[str, Any] = analysis.model_dump(mode="json", exclude_defaults=True)
    else:
        spec = dict(analysis or {})
    if methods is not None:
        spec["methods"] = methods if isinstance(methods, str) else list(methods)
    if roles:
        spec["roles"] = {**spec.get("roles", {}), **roles}
    spec.setdefault("methods", "auto")
    return spec


def upload(
    source: UploadSource,
    *,
    name: str | None,
    spec: Mapping[str, Any],
    progress: Progress | None,
    encoding: str | None = None,
    sheet: str | None = None,
    allow_breaking: bool = False,
) -> Call[Upload]:
    """POST /v1/datasets: store a file as a new dataset version and start an analysis."""
    data = {"analysis": json.dumps(spec)}
    if name:
        data["name"] = name
    if encoding:
        data["encoding"] = encoding
    if sheet is not None:
        data["sheet"] = str(sheet)
    if allow_breaking:
        data["allow_breaking"] = "true"
    return Call(
        "POST",
        "/v1/datasets",
        _model(Upload),
        files=lambda: source.multipart(progress),
        data=data,
        retry_connect=False,
    )


# ---------------------------------------------------------------------------------------------
# Analyses


def analyze(dataset_id: str, version: int | None, spec: Mapping[str, Any]) -> Call[AnalysisCreated]:
    """POST /v1/analyses: a new analysis of a stored dataset version."""
    body = {"dataset_id": dataset_id, **({"version": version} if version is not None else {}), **spec}
    return Call("POST", "/v1/analyses", _model(AnalysisCreated), json=body, retry_connect=False)


def get_analysis(analysis_id: str) -> Call[Analysis]:
    """GET /v1/analyses/{id}: the read model."""
    return Call("GET", f"/v1/analyses/{analysis_id}", _model(Analysis))


def artifact(analysis_id: str, name: str) -> Call[bytes]:
    """GET one artifact's bytes (`report` is the HTML report)."""
    path = (
        f"/v1/analyses/{analysis_id}/report"
        if name == "report"
        else f"/v1/analyses/{analysis_id}/artifacts/{name}"
    )
    return Call("GET", path, _content)


def confirm_mapping(
    dataset_id: str, roles: Mapping[str, Any], analysis_id: str | None
) -> Call[MappingConfirmed]:
    """PUT /v1/datasets/{id}/mapping: confirm or correct the roles; the analysis continues."""
    body: dict[str, Any] = {"roles": dict(roles)}
    if analysis_id:
        body["analysis_id"] = analysis_id
    return Call("PUT", f"/v1/datasets/{dataset_id}/mapping", _model(MappingConfirmed), json=body)


# ---------------------------------------------------------------------------------------------
# Datasets


def list_datasets(limit: int = 100) -> Call[list[DatasetSummary]]:
    """GET /v1/datasets: the caller's datasets, newest first."""
    adapter = TypeAdapter(list[DatasetSummary])
    return Call(
        "GET",
        "/v1/datasets",
        lambda response: adapter.validate_python(response.json()["datasets"]),
        params={"limit": limit},
    )


def get_dataset(dataset_id: str) -> Call[Dataset]:
    """GET /v1/datasets/{id}: versions and current mapping."""
    return Call("GET", f"/v1/datasets/{dataset_id}", _model(Dataset))


def versions(dataset_id: str) -> Call[Versions]:
    """GET /v1/datasets/{id}/versions."""
    return Call("GET", f"/v1/datasets/{dataset_id}/versions", _model(Versions))


def schema(dataset_id: str, version: int | None) -> Call[DatasetSchema]:
    """The registered schema of a version (the latest when None)."""
    path = f"/v1/datasets/{dataset_id}/schema"
    if version is not None:
        path = f"/v1/datasets/{dataset_id}/versions/{version}/schema"
    return Call("GET", path, _model(DatasetSchema))


# ---------------------------------------------------------------------------------------------
# Webhooks (the notification API)


def create_webhook(
    url: str, event_types: Sequence[str] | None, analysis_id: str | None, secret: str | None
) -> Call[Subscription]:
    """POST /v1/subscriptions: a signed webhook; the answer shows the secret once."""
    body: dict[str, Any] = {"url": url}
    if event_types:
        body["event_types"] = list(event_types)
    if analysis_id:
        body["analysis_id"] = analysis_id
    if secret:
        body["secret"] = secret
    return Call(
        "POST", "/v1/subscriptions", _model(Subscription), api="notification", json=body, retry_connect=False
    )


def list_webhooks() -> Call[list[Subscription]]:
    """GET /v1/subscriptions: the tenant's webhooks."""
    return Call("GET", "/v1/subscriptions", _models(Subscription), api="notification")


def deliveries(subscription_id: str) -> Call[list[Delivery]]:
    """GET /v1/subscriptions/{id}/deliveries: each delivery with every attempt."""
    return Call(
        "GET", f"/v1/subscriptions/{subscription_id}/deliveries", _models(Delivery), api="notification"
    )


def delete_webhook(subscription_id: str) -> Call[None]:
    """DELETE /v1/subscriptions/{id}: deactivate it."""
    return Call("DELETE", f"/v1/subscriptions/{subscription_id}", lambda _: None, api="notification")


def report_artifact(analysis: Analysis, fmt: ReportFormat) -> str:
    """The artifact name of the report in `fmt` (html/pdf), or a readable error."""
    if fmt not in REPORT_ARTIFACTS:
        raise CqoxError(f"report format must be html, pdf or json, not {fmt!r}")
    name = REPORT_ARTIFACTS[fmt]
    available = [a.name for a in (analysis.report.artifacts if analysis.report else [])]
    if analysis.report is None:
        raise CqoxError(f"analysis {analysis.analysis_id} has no report yet (status {analysis.status})")
    if name not in available:
        raise CqoxError(
            f"analysis {analysis.analysis_id} has no {fmt} report; artifacts: {', '.join(available)}"
        )
    return name


def has_artifact(analysis: Analysis, name: str) -> bool:
    """Whether the analysis's report has an artifact of this name."""
    return any(a.name == name for a in artifacts_of(analysis))


def artifacts_of(analysis: Analysis) -> list[ArtifactLink]:
    """The report's artifacts (figures, HTML, PDF), empty before the report exists."""
    return list(analysis.report.artifacts) if analysis.report else []
