"""The asyncio client: the same calls as `Client`, awaited, plus `subscribe()` to the bus.

async with AsyncClient() as cq:
    up = await cq.upload("customers.csv")
    run = await cq.wait(up.analysis_id)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from cqox import bus, calls
from cqox.base import ClientBase, KeepAlive, StreamEnd, StreamItem
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
from cqox_contracts.v1 import AnalysisSpec, Event, GateResult

if TYPE_CHECKING:
    import os

    import pandas as pd

T = TypeVar("T")
OnEvent = Callable[[AnalysisEvent], Any]


class AsyncClient(ClientBase):
    """An asyncio CQOx client (see `ClientBase` for the settings it takes)."""

    def __init__(
        self, url: str | None = None, *, http: httpx.AsyncClient | None = None, **options: Any
    ) -> None:
        super().__init__(url, **options)
        self._http = http or httpx.AsyncClient(timeout=self.settings.timeout)
        self._http.headers.update(self.settings.headers())  # a client handed in gets the credentials too

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def send(self, call: calls.Call[T]) -> T:
        """Send one call, retrying 429/503 (honouring Retry-After) and refused connections."""
        base = self._base(call.api)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(
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
                await asyncio.sleep(delay)
                continue
            except httpx.TransportError as exc:
                raise ConnectError(f"{call.method} {base}{call.path} failed: {exc}") from exc
            delay = self.retry.delay(attempt, response.status_code, response.headers.get("retry-after"))
            if delay is None:
                return call.read(raise_for_api(response))
            await response.aclose()
            self.stats.retries += 1
            await asyncio.sleep(delay)

    async def upload(
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
        """Upload a file (streamed) or a DataFrame and start an analysis (see `Client.upload`)."""
        body = calls.UploadSource.of(source, filename)
        spec = self._spec(analysis, methods, roles)
        try:
            return await self.send(
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

    async def analyze(
        self,
        dataset_id: str,
        *,
        version: int | None = None,
        analysis: AnalysisSpec | Mapping[str, Any] | None = None,
        methods: str | Sequence[str] | None = None,
        roles: Mapping[str, Any] | None = None,
    ) -> AnalysisCreated:
        """Start a new analysis of a stored dataset version (the latest by default)."""
        return await self.send(calls.analyze(dataset_id, version, self._spec(analysis, methods, roles)))

    async def get(self, analysis_id: str) -> Analysis:
        """The analysis now: status, roles, estimates, gates, verdict, report."""
        return await self.send(calls.get_analysis(analysis_id))

    async def events(self, analysis_id: str, *, last_event_id: int = 0) -> AsyncIterator[AnalysisEvent]:
        """Every event of the analysis after `last_event_id` until it ends, resumed across drops."""
        async for item in self._follow(analysis_id, last_event_id):
            if isinstance(item, AnalysisEvent):
                yield item

    async def wait(
        self,
        analysis_id: str,
        *,
        on_event: OnEvent | None = None,
        timeout: float | None = 900.0,  # noqa: ASYNC109 - one deadline across reconnects
        last_event_id: int = 0,
        raise_on_failure: bool = False,
    ) -> Analysis:
        """Follow the analysis until it ends or waits for a confirmation (see `Client.wait`);
        `on_event` may be a plain function or a coroutine function."""
        deadline = None if timeout is None else time.monotonic() + timeout
        analysis: Analysis | None = None
        stream = self._follow(analysis_id, last_event_id, deadline)
        try:
            async for item in stream:
                if isinstance(item, AnalysisEvent) and on_event is not None:
                    result = on_event(item)
                    if asyncio.iscoroutine(result):
                        await result
                if isinstance(item, StreamEnd):
                    analysis = await self.get(analysis_id)
                    break
                if isinstance(item, KeepAlive) or item.event_type == "dataset.mapped":
                    current = await self.get(analysis_id)
                    if current.awaiting_confirmation:
                        analysis = current
                        break
        finally:
            await stream.aclose()
        if analysis is None:  # pragma: no cover - _follow only stops at an end
            analysis = await self.get(analysis_id)
        if raise_on_failure and analysis.failed:
            raise AnalysisFailedError(analysis)
        return analysis

    async def _follow(
        self, analysis_id: str, last_event_id: int = 0, deadline: float | None = None
    ) -> AsyncGenerator[StreamItem, None]:
        failures, drained = 0, False
        while True:
            url, headers = self._stream_request(analysis_id, last_event_id)
            cause, again, asked = "the server closed the stream", False, 0.0
            try:
                async with self._http.stream(
                    "GET", url, headers=headers, timeout=self._stream_timeout()
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        delay = self.retry.delay(
                            failures + 1, response.status_code, response.headers.get("retry-after")
                        )
                        if delay is None:
                            raise_for_api(response)
                        cause, asked = f"HTTP {response.status_code}", delay or 0.0
                    else:
                        decoder = SSEDecoder()
                        async for line in response.aiter_lines():
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
            await asyncio.sleep(max(asked, self._reconnect_delay(failures, analysis_id, cause)))

    async def confirm_mapping(
        self,
        dataset_id: str,
        roles: Mapping[str, Any] | None = None,
        *,
        analysis_id: str | None = None,
        **role: Any,
    ) -> MappingConfirmed:
        """Confirm or correct the roles; the waiting analysis continues (see `Client.confirm_mapping`)."""
        return await self.send(calls.confirm_mapping(dataset_id, {**(roles or {}), **role}, analysis_id))

    async def estimates(self, analysis_id: str) -> pd.DataFrame:
        """The estimates as a pandas DataFrame."""
        return (await self.get(analysis_id)).estimates_frame()

    async def gates(self, analysis_id: str) -> list[GateResult]:
        """Every quality gate of the analysis."""
        return list((await self.get(analysis_id)).gates)

    async def artifacts(self, analysis_id: str) -> list[ArtifactLink]:
        """The report's artifacts by name and media type."""
        return calls.artifacts_of(await self.get(analysis_id))

    async def artifact(self, analysis_id: str, name: str) -> bytes:
        """One artifact's bytes, by name."""
        return await self.send(calls.artifact(analysis_id, name))

    async def download_report(
        self, analysis_id: str, fmt: calls.ReportFormat = "html", path: str | os.PathLike[str] | None = None
    ) -> bytes | Path:
        """The report as HTML, PDF or JSON (see `Client.download_report`)."""
        analysis = await self.get(analysis_id)
        if fmt == "json" and not calls.has_artifact(analysis, "report_json"):
            body: Any = await self.send(
                calls.Call[Any]("GET", f"/v1/analyses/{analysis_id}", lambda r: r.json())
            )
            content = (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode()
        else:
            content = await self.artifact(analysis_id, calls.report_artifact(analysis, fmt))
        if path is None:
            return content
        target = Path(path)
        await asyncio.to_thread(target.write_bytes, content)
        return target

    async def datasets(self, *, limit: int = 100) -> list[DatasetSummary]:
        """The caller's datasets, newest first."""
        return await self.send(calls.list_datasets(limit))

    async def dataset(self, dataset_id: str) -> Dataset:
        """A dataset with its versions and current mapping."""
        return await self.send(calls.get_dataset(dataset_id))

    async def versions(self, dataset_id: str) -> Versions:
        """Every version of a dataset."""
        return await self.send(calls.versions(dataset_id))

    async def schema(self, dataset_id: str, version: int | None = None) -> DatasetSchema:
        """The registered schema and profile of a version (the latest by default)."""
        return await self.send(calls.schema(dataset_id, version))

    async def create_webhook(
        self,
        url: str,
        *,
        event_types: Sequence[str] | None = None,
        analysis_id: str | None = None,
        secret: str | None = None,
    ) -> Subscription:
        """Register a signed webhook; keep the returned `secret` to verify deliveries."""
        return await self.send(calls.create_webhook(url, event_types, analysis_id, secret))

    async def webhooks(self) -> list[Subscription]:
        """The tenant's webhook subscriptions."""
        return await self.send(calls.list_webhooks())

    async def deliveries(self, subscription_id: str) -> list[Delivery]:
        """Deliveries of a webhook with every attempt."""
        return await self.send(calls.deliveries(subscription_id))

    async def delete_webhook(self, subscription_id: str) -> None:
        """Deactivate a webhook."""
        await self.send(calls.delete_webhook(subscription_id))

    def subscribe(
        self,
        event_types: Sequence[str] = bus.RESULT_EVENTS,
        *,
        analysis_id: str | None = None,
        durable: str | None = None,
        deliver: bus.Deliver = "new",
    ) -> AsyncIterator[Event]:
        """Result events straight from the bus (NATS JetStream), for server-side consumers; needs
        `nats_url` (or CQOX_NATS_URL) and the `nats-py` package."""
        return bus.subscribe(
            self.settings.nats_url,
            event_types,
            analysis_id=analysis_id,
            durable=durable,
            deliver=deliver,
        )
