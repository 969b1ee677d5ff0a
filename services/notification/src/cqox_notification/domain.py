"""Webhook signing and retry policy (pure)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlparse

DEFAULT_EVENT_TYPES = ("report.generated", "analysis.failed", "dataset.rejected")
SIGNATURE_HEADER = "X-Cqox-Signature"
TIMESTAMP_HEADER = "X-Cqox-Timestamp"


def new_secret() -> str:
    """A random signing secret for a subscription."""
    return secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>` HMAC-SHA256 of `"<timestamp>.<body>"` (the receiver recomputes it)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def verify(secret: str, timestamp: int, body: bytes, signature: str) -> bool:
    """Whether `signature` is the valid signature of this body and timestamp."""
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode())


def backoff_s(attempt: int, base_s: float, cap_s: float = 300.0) -> float:
    """Delay before retry number `attempt` (1-based): base, 2·base, 4·base … capped."""
    return float(min(base_s * (2 ** (attempt - 1)), cap_s))


def validate_target(url: str) -> str | None:
    """Why a webhook URL is unacceptable, or None if fine."""
    try:
        parsed = urlparse(url)
        host = parsed.hostname
    except ValueError as exc:
        return f"the webhook URL is malformed: {exc}"
    if parsed.scheme not in ("http", "https"):
        return "the webhook URL must start with http:// or https://"
    if not host:
        return "the webhook URL has no host"
    return None
