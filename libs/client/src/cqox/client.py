"""The synchronous client: upload, follow, confirm, read and download, and manage webhooks.

from cqox import Client
cq = Client()                              # URL and key from arguments, env or config file
run = cq.wait(cq.upload("customers.csv").analysis_id)
run                                        # a rich summary in Jupyter
run.estimates_frame()                      # a DataFrame
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

import cqox.calls as calls
from cqox.base import ClientBase, KeepAlive, StreamEnd, StreamItem
from cqox.calls import Call
from cqox.errors import AnalysisFailedError, ConnectError, WaitTimeoutError, raise_for_api
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
from cqox.sse import AnalysisEvent, SSEDecoder
from cqox_contracts.v1 import AnalysisSpec, GateResult

if TYPE_CHECKING:
    import os

    import pandas as pd

T = TypeVar("T")
OnEvent = Callable[[AnalysisEvent], None]


class Client(ClientBase):
    """A synchronous CQOx client (see `ClientBase` for the settings it takes)."""

    def __init__(self, url: str | None = None, *, http: httpx.Client | None = None, **options: Any) -> None:
        super().__init__(url, **options)
        self._http = http or httpx.Client(timeout=self.settings.timeout)
        self._http.headers.update(self.settings.headers())  # a client handed in gets the credentials too

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    # -- transport ------------------------------------------------------------------------------

    def send(self, call: Call[T]) -> T:
        """Send one call, retrying 429/503 (honouring Retry-After) and refused connections."""
        base = self._base(call.api)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(
                    call.method,
                    base + call.path,
                    params=call.params,
                    json=call.json,
                    data=call.data,
                    files=call.files() if call.files else None,
                )
            except httpx.ConnectError as exc:
                delay = self.retry.delay(attempt, None) if call.retry_connect else None
                if delay is None:
                    raise ConnectError(f"cannot reach {base}: {exc}") from exc
                self.stats.retries += 1
                time.sleep(delay)
                continue
            except httpx.TransportError as exc:
                raise ConnectError(f"{call.method} {base}{call.path} failed: {exc}") from exc
            delay = self.retry.delay(attempt, response.status_code, response.headers.get("retry-after"))
            if delay is None:
                return call.read(raise_for_api(response))
            response.close()
            self.stats.retries += 1
            time.sleep(delay)

    # -- datasets and analyses ----------------------------------------------------------------

    def upload(
        self,
        source: str | os.PathLike[str] | pd.DataFrame,
        *,
        name: str | None = None,
        analysis: AnalysisSpec | Mapping[str, Any] | None = None,
        methods: str | Sequence[str] | None = None,
        roles: Mapping[str, Any] | None = None,
        filename: str | None = None,
        encoding: str | None = None,
        sheet: str | int | None = None,
        allow_breaking: bool = False,
        progress: calls.Progress | None = None,
    ) -> Upload:
        """Upload a file (streamed from disk) or a DataFrame; starts an analysis with `analysis`
        (a spec: methods, roles, ci_level, seed, ...) or `methods`/`roles`. `progress(sent, total)`
        is called as the bytes go out."""
        body = calls.UploadSource.of(source, filename)
        spec = self._spec(analysis, methods, roles)
        try:
            return self.send(
                calls.upload(
                    body,
                    name=name,
                    spec=spec,
                    progress=progress,
                    encoding=encoding,
                    sheet=None if sheet is None else str(sheet),
                    allow_breaking=allow_breaking,
                )
            )
        finally:
            body.close()

    def analyze(
        self,
        dataset_id: str,
        *,
        version: int | None = None,
        analysis: AnalysisSpec | Mapping[str, Any] | None = None,
        methods: str | Sequence[str] | None = None,
        roles: Mapping[str, Any] | None = None,
    ) -> AnalysisCreated:
        """Start a new analysis of a stored dataset version (the latest by default)."""
        return self.send(calls.analyze(dataset_id, version, self._spec(analysis, methods, roles)))

    def get(self, analysis_id: str) -> Analysis:
        """The analysis now: status, roles, estimates, gates, verdict, report."""
        return self.send(calls.get_analysis(analysis_id))

    def events(self, analysis_id: str, *, last_event_id: int = 0) -> Iterator[AnalysisEvent]:
        """Every event of the analysis after `last_event_id`, as it happens, until it ends.

        A dropped connection is resumed where it stopped (`Last-Event-ID`); nothing is repeated."""
        for item in self._follow(analysis_id, last_event_id):
            if isinstance(item, AnalysisEvent):
                yield item

    def wait(
        self,
        analysis_id: str,
        *,
        on_event: OnEvent | None = None,
        timeout: float | None = 900.0,
        last_event_id: int = 0,
        raise_on_failure: bool = False,
    ) -> Analysis:
        """Follow the analysis until it is completed, failed or rejected — or stops to wait for a
        person to confirm its roles (then `analysis.awaiting_confirmation` is True)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        analysis: Analysis | None = None
        for item in self._follow(analysis_id, last_event_id, deadline):
            if isinstance(item, AnalysisEvent) and on_event is not None:
                on_event(item)
            if isinstance(item, StreamEnd):
                analysis = self.get(analysis_id)
                break
            if isinstance(item, KeepAlive) or item.event_type == "dataset.mapped":
                current = self.get(analysis_id)
                if current.awaiting_confirmation:
                    analysis = current
                    break
        if analysis is None:  # pragma: no cover - _follow only stops at an end
            analysis = self.get(analysis_id)
        if raise_on_failure and analysis.failed:
            raise AnalysisFailedError(analysis)
        return analysis

    def _follow(
        self, analysis_id: str, last_event_id: int = 0, deadline: float | None = None
    ) -> Iterator[StreamItem]:
        failures, drained = 0, False
        while True:
            url, headers = self._stream_request(analysis_id, last_event_id)
            cause, again, asked = "the server closed the stream", False, 0.0
            try:
                with self._http.stream(
                    "GET", url, headers=headers, timeout=self._stream_timeout()
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        delay = self.retry.delay(
                            failures + 1, response.status_code, response.headers.get("retry-after")
                        )
                        if delay is None:
                            raise_for_api(response)
                        cause, asked = f"HTTP {response.status_code}", delay or 0.0
                    else:
                        decoder = SSEDecoder()
                        for line in response.iter_lines():
                            message = decoder.feed(line)
                            if message is not None:
                                item = self._item(message)
                                if isinstance(item, AnalysisEvent):
                                    last_event_id, failures = item.seq, 0
                                if isinstance(item, StreamEnd):
                                    if drained:
                                        yield item
                                        return
                                    # The API may end the stream in the instant between its last
                                    # event and the status it reads: ask once more for the rest.
                                    drained = again = True
                                    break
                                yield item
                            if deadline is not None and time.monotonic() > deadline:
                                raise WaitTimeoutError(f"analysis {analysis_id} is still running")
            except httpx.TransportError as exc:
                cause = f"{type(exc).__name__}: {exc}"
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimeoutError(f"analysis {analysis_id} is still running")
            if again:
                continue  # the end was announced: read what is left, at once
            failures += 1
            time.sleep(max(asked, self._reconnect_delay(failures, analysis_id, cause)))

    def confirm_mapping(
        self,
        dataset_id: str,
        roles: Mapping[str, Any] | None = None,
        *,
        analysis_id: str | None = None,
        **role: Any,
    ) -> MappingConfirmed:
        """Confirm the inferred roles (none given) or correct them (`treatment="b"`, ...); the
        waiting analysis continues, a finished one re-runs."""
        return self.send(calls.confirm_mapping(dataset_id, {**(roles or {}), **role}, analysis_id))

    def estimates(self, analysis_id: str) -> pd.DataFrame:
        """The estimates as a pandas DataFrame (one row per method; `flagged_by` lists doubting gates)."""
        return self.get(analysis_id).estimates_frame()

    def gates(self, analysis_id: str) -> list[GateResult]:
        """Every quality gate: name, category, value, threshold, passed, severity."""
        return list(self.get(analysis_id).gates)

    def artifacts(self, analysis_id: str) -> list[ArtifactLink]:
        """The report's artifacts (figures, HTML, PDF) by name and media type."""
        return calls.artifacts_of(self.get(analysis_id))

    def artifact(self, analysis_id: str, name: str) -> bytes:
        """One artifact's bytes, by name."""
        return self.send(calls.artifact(analysis_id, name))

    def download_report(
        self, analysis_id: str, fmt: calls.ReportFormat = "html", path: str | os.PathLike[str] | None = None
    ) -> bytes | Path:
        """The report as HTML, PDF or JSON (the report's JSON artifact, else the analysis itself);
        written to `path` (then returned) if given."""
        analysis = self.get(analysis_id)
        if fmt == "json" and not calls.has_artifact(analysis, "report_json"):
            body: Any = self.send(calls.Call[Any]("GET", f"/v1/analyses/{analysis_id}", lambda r: r.json()))
            content = (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode()
        else:
            content = self.artifact(analysis_id, calls.report_artifact(analysis, fmt))
        if path is None:
            return content
        target = Path(path)
        target.write_bytes(content)
        return target

    def datasets(self, *, limit: int = 100) -> list[DatasetSummary]:
        """The caller's datasets, newest first."""
        return self.send(calls.list_datasets(limit))

    def dataset(self, dataset_id: str) -> Dataset:
        """A dataset with its versions and current mapping."""
        return self.send(calls.get_dataset(dataset_id))

    def versions(self, dataset_id: str) -> Versions:
        """Every version of a dataset with its schema change."""
        return self.send(calls.versions(dataset_id))

    def schema(self, dataset_id: str, version: int | None = None) -> DatasetSchema:
        """The registered schema and profile of a version (the latest by default)."""
        return self.send(calls.schema(dataset_id, version))

    # -- webhooks -----------------------------------------------------------------------------

    def create_webhook(
        self,
        url: str,
        *,
        event_types: Sequence[str] | None = None,
        analysis_id: str | None = None,
        secret: str | None = None,
    ) -> Subscription:
        """Register a signed webhook; keep the returned `secret` to verify deliveries."""
        return self.send(calls.create_webhook(url, event_types, analysis_id, secret))

    def webhooks(self) -> list[Subscription]:
        """The tenant's webhook subscriptions."""
        return self.send(calls.list_webhooks())

    def deliveries(self, subscription_id: str) -> list[Delivery]:
        """Deliveries of a webhook, each with every attempt."""
        return self.send(calls.deliveries(subscription_id))

    def delete_webhook(self, subscription_id: str) -> None:
        """Deactivate a webhook."""
        self.send(calls.delete_webhook(subscription_id))
