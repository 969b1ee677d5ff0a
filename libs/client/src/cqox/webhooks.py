"""Verify a webhook delivery: `X-Cqox-Signature` is `sha256=<hex>` of HMAC-SHA256 over
`"<X-Cqox-Timestamp>.<raw body>"` with the subscription's secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from cqox.errors import CqoxError

SIGNATURE_HEADER = "X-Cqox-Signature"
TIMESTAMP_HEADER = "X-Cqox-Timestamp"
DEFAULT_TOLERANCE_S = 300.0


class SignatureError(CqoxError):
    """A webhook delivery whose signature or timestamp does not check out."""


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """The signature the platform sends for this body at this timestamp."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def verify_signature(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance_s: float | None = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> dict[str, Any]:
    """The delivered event (parsed JSON) when the signature is valid and the timestamp recent;
    raises `SignatureError` otherwise. `headers` is looked up case-insensitively."""
    lowered = {k.lower(): v for k, v in headers.items()}
    given = lowered.get(SIGNATURE_HEADER.lower())
    stamp = lowered.get(TIMESTAMP_HEADER.lower())
    if not given or not stamp:
        raise SignatureError(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
    try:
        sent_at = int(stamp)
    except ValueError as exc:
        raise SignatureError(f"{TIMESTAMP_HEADER} is not a Unix time: {stamp!r}") from exc
    if tolerance_s is not None and abs((time.time() if now is None else now) - sent_at) > tolerance_s:
        raise SignatureError(f"timestamp {sent_at} is more than {tolerance_s:.0f} s away (a replay?)")
    if not hmac.compare_digest(signature(secret, sent_at, body).encode(), given.encode()):
        raise SignatureError("signature does not match: wrong secret or a changed body")
    payload: dict[str, Any] = json.loads(body)
    return payload
