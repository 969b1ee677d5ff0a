"""What the sync and the async client share: settings, retry policy, counters, URLs, and the
parts of following an analysis's event stream that do no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import httpx

import cqox.calls as calls
from cqox.config import Settings, resolve
from cqox.errors import ConfigError, ConnectError
from cqox.retry import RetryPolicy
from cqox.sse import AnalysisEvent, ServerEvent, end_status
from cqox_contracts.v1 import AnalysisSpec

SSE_READ_TIMEOUT_S = 60.0  # the API sends a keep-alive every 15 s
RECONNECT_BACKOFF_S = 0.25
MAX_RECONNECT_BACKOFF_S = 5.0


@dataclass
class Stats:
    """What the client did besides the calls themselves: retried requests, SSE reconnects."""

    retries: int = 0
    reconnects: int = 0


@dataclass(frozen=True)
class KeepAlive:
    """A keep-alive comment arrived on the event stream (a moment to look at the status)."""


@dataclass(frozen=True)
class StreamEnd:
    """The API ended the event stream: the analysis reached `status`."""

    status: str


StreamItem: TypeAlias = AnalysisEvent | KeepAlive | StreamEnd


class ClientBase:
    """Settings and the I/O-free half of both clients."""

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        token: str | None = None,
        notification_url: str | None = None,
        nats_url: str | None = None,
        timeout: float | None = None,
        config_file: str | Path | None = None,
        profile: str | None = None,
        retry: RetryPolicy | None = None,
        max_reconnects: int = 10,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or resolve(
            url=url,
            api_key=api_key,
            token=token,
            notification_url=notification_url,
            nats_url=nats_url,
            timeout=timeout,
            config_file=config_file,
            profile=profile,
        )
        self.retry = retry or RetryPolicy()
        self.max_reconnects = max_reconnects
        self.stats = Stats()

    @property
    def url(self) -> str:
        """The ingest API's base URL."""
        return self.settings.url

    def _base(self, api: calls.Api) -> str:
        if api == "ingest":
            return self.settings.url
        if not self.settings.notification_url:
            raise ConfigError(
                "the notification API's URL is not set: pass notification_url=, "
                "or set CQOX_NOTIFICATION_URL (make up writes it to .cqox/env)"
            )
        return self.settings.notification_url

    def _stream_request(self, analysis_id: str, last_event_id: int) -> tuple[str, dict[str, str]]:
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = str(last_event_id)
        return f"{self.settings.url}/v1/analyses/{analysis_id}/events", headers

    def _stream_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.settings.timeout, read=max(SSE_READ_TIMEOUT_S, self.settings.timeout))

    @staticmethod
    def _item(message: ServerEvent) -> StreamItem:
        if message.comment:
            return KeepAlive()
        status = end_status(message)
        if status is not None:
            return StreamEnd(status)
        return AnalysisEvent.of(message)

    def _reconnect_delay(self, failures: int, analysis_id: str, cause: str) -> float:
        """Count a lost stream; the wait before the next try (or give up past `max_reconnects`)."""
        self.stats.reconnects += 1
        if failures > self.max_reconnects:
            raise ConnectError(
                f"the event stream of analysis {analysis_id} was lost {failures} times in a row ({cause})"
            )
        return float(min(MAX_RECONNECT_BACKOFF_S, RECONNECT_BACKOFF_S * 2 ** (failures - 1)))

    @staticmethod
    def _spec(
        analysis: AnalysisSpec | Mapping[str, Any] | None,
        methods: str | Sequence[str] | None,
        roles: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        return calls.analysis_spec(analysis, methods, roles)
