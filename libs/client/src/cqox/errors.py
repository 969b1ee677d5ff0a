"""Exceptions of the CQOx client: every API refusal carries the API's own `detail`."""

from __future__ import annotations

from typing import Any

import httpx


class CqoxError(Exception):
    """Base class of every error the client raises."""


class ConfigError(CqoxError):
    """The client lacks a setting it needs (a URL, a key) or a config file is unreadable."""


class ConnectError(CqoxError):
    """The API could not be reached (after the retries the client allows)."""


class ApiError(CqoxError):
    """The API answered with an error status; `detail` is its explanation."""

    def __init__(self, status_code: int, detail: str, *, method: str = "", url: str = "") -> None:
        self.status_code = status_code
        self.detail = detail
        self.method = method
        self.url = url
        super().__init__(f"HTTP {status_code} {method} {url}: {detail}".replace("  ", " "))


class AuthError(ApiError):
    """401 or 403: no key, an unknown key, or a role too low for the action."""


class NotFoundError(ApiError):
    """404: no such dataset, analysis, artifact or subscription (for this tenant)."""


class InvalidRequestError(ApiError):
    """400, 409, 413, 415 or 422: the request itself must change."""


class RateLimitedError(ApiError):
    """429 still refused after the retries; `retry_after_s` says when to try again."""

    def __init__(self, status_code: int, detail: str, *, retry_after_s: float | None, **where: str) -> None:
        super().__init__(status_code, detail, **where)
        self.retry_after_s = retry_after_s


class ServerError(ApiError):
    """5xx: the platform failed (503 is retried first)."""


class AnalysisFailedError(CqoxError):
    """The analysis ended failed or rejected (raised by `wait(..., raise_on_failure=True)`)."""

    def __init__(self, analysis: Any) -> None:
        self.analysis = analysis
        super().__init__(
            f"analysis {analysis.analysis_id} {analysis.status}: {analysis.error or 'no reason'}"
        )


class WaitTimeoutError(CqoxError, TimeoutError):
    """The analysis did not reach an end (or a confirmation stop) in the time given."""


def detail_of(response: httpx.Response) -> str:
    """The API's `detail` as one readable line (FastAPI validation lists joined), or the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc", ()))
                parts.append(f"{where}: {item.get('msg', item)}" if where else str(item.get("msg", item)))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


def raise_for_api(response: httpx.Response) -> httpx.Response:
    """Return a successful response; raise the matching `ApiError` for any error status."""
    status = response.status_code
    if status < 400:
        return response
    where = {"method": response.request.method, "url": str(response.request.url)}
    detail = detail_of(response)
    if status in (401, 403):
        raise AuthError(status, detail, **where)
    if status == 404:
        raise NotFoundError(status, detail, **where)
    if status == 429:
        raise RateLimitedError(
            status, detail, retry_after_s=retry_after_seconds(response.headers.get("retry-after")), **where
        )
    if status >= 500:
        raise ServerError(status, detail, **where)
    if status in (400, 409, 413, 415, 422):
        raise InvalidRequestError(status, detail, **where)
    raise ApiError(status, detail, **where)


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or an HTTP date), None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
