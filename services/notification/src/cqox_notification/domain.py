"""Webhook signing, retry policy and target policy (pure)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Iterable
from urllib.parse import urlparse

DEFAULT_EVENT_TYPES = ("report.generated", "analysis.failed", "dataset.rejected")
SIGNATURE_HEADER = "X-Cqox-Signature"
TIMESTAMP_HEADER = "X-Cqox-Timestamp"
# The setting that lets webhooks reach private/loopback/link-local addresses (off by default).
ALLOW_PRIVATE_TARGETS_ENV = "CQOX_WEBHOOK_ALLOW_PRIVATE_TARGETS"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


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


def non_public_kind(address: str) -> str | None:
    """What kind of non-public address this is ("a private address", ...), or None if public.

    IPv6 forms that carry an IPv4 address (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4)
    are judged by the IPv4 address they carry. Anything unparsable counts as non-public.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "an unrecognised address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None or ip in _NAT64:  # judged only by the IPv4 address inside
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
            inner = _kind(embedded)
            form = "IPv4-mapped" if ip.ipv4_mapped is not None else "NAT64"
            return f"the {form} form of {embedded}, {inner}" if inner else None
        if ip.sixtofour is not None and (inner := _kind(ip.sixtofour)):
            return f"the 6to4 form of {ip.sixtofour}, {inner}"
    return _kind(ip)


def _kind(ip: IPAddress) -> str | None:
    # Most specific first: 127/8, 169.254/16 and 0.0.0.0 are also "private" to ipaddress.
    checks = (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    )
    for attribute, kind in checks:
        if getattr(ip, attribute):
            return kind
    if not ip.is_global:  # e.g. shared address space 100.64.0.0/10
        return "a non-public address"
    return None


def refused_target(host: str, addresses: Iterable[str]) -> str | None:
    """Why a webhook whose host resolved to `addresses` must not be called, or None if fine.

    Every address must be public: a host with one public and one private address is refused,
    since the connection could go to either.
    """
    for address in addresses:
        if kind := non_public_kind(address):
            where = "is" if _same_address(host, address) else f"resolves to {address},"
            return (
                f"the webhook URL's host {host} {where} {kind}; webhooks must reach a public "
                f"address (an operator can allow private targets with {ALLOW_PRIVATE_TARGETS_ENV}=true)"
            )
    return None


def _same_address(host: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")) == ipaddress.ip_address(address)
    except ValueError:
        return False
