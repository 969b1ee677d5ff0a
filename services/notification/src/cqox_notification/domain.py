"""Webhook signing, retry policy and target policy (pure)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

DEFAULT_EVENT_TYPES = ("report.generated", "analysis.failed", "dataset.rejected")
SIGNATURE_HEADER = "X-Cqox-Signature"
TIMESTAMP_HEADER = "X-Cqox-Timestamp"
# The setting that lets webhooks reach private/loopback/link-local addresses (off by default).
ALLOW_PRIVATE_TARGETS_ENV = "CQOX_WEBHOOK_ALLOW_PRIVATE_TARGETS"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# A signing secret shorter than this is refused: HMAC keys should carry >= 128 bits, and a
# short human-chosen word is guessable offline from one signed delivery.
MIN_SECRET_LENGTH = 24
MAX_SECRET_LENGTH = 256

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def new_secret() -> str:
    """A random signing secret for a subscription."""
    return secrets.token_urlsafe(32)


def secret_problem(secret: str) -> str | None:
    """Why a caller-chosen signing secret is unacceptable, or None if fine."""
    if len(secret) < MIN_SECRET_LENGTH:
        return (
            f"the webhook secret has {len(secret)} characters; at least {MIN_SECRET_LENGTH} are "
            "needed (omit it to have a random one generated)"
        )
    if len(secret) > MAX_SECRET_LENGTH:
        return f"the webhook secret has {len(secret)} characters; at most {MAX_SECRET_LENGTH} are allowed"
    return None


def redact_url(url: str) -> str:
    """The webhook URL without what can carry a secret: user info, path, query and fragment.

    `https://user:token@hooks.example.com:8443/T0/B1?key=x` becomes
    `https://hooks.example.com:8443/…`; what cannot be parsed becomes `…`."""
    try:
        parsed = urlparse(url)
        host, port = parsed.hostname, parsed.port
    except ValueError:
        return "…"
    if not host or parsed.scheme not in ("http", "https"):
        return "…"
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return f"{parsed.scheme}://{netloc}/…"


def target_key(url: str) -> str:
    """The receiver a webhook URL reaches, for per-target limits: scheme, host and port."""
    try:
        parsed = urlparse(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        return f"{parsed.scheme}://{(parsed.hostname or '').lower()}:{port}"
    except ValueError:
        return url


@dataclass(frozen=True)
class DueDelivery:
    """A delivery that may be claimed: whose it is and which receiver it reaches."""

    delivery_id: str
    tenant_id: str
    target: str


@dataclass(frozen=True)
class DispatchLimits:
    """How many webhook calls one dispatcher runs at once: in all, per target, per tenant."""

    concurrency: int = 32
    per_target: int = 4
    per_tenant: int = 16


def fair_pick(
    due: Sequence[DueDelivery],
    *,
    busy_targets: Mapping[str, int],
    busy_tenants: Mapping[str, int],
    limits: DispatchLimits,
    free: int,
    first_tenant: int = 0,
) -> list[DueDelivery]:
    """Which of the due deliveries to start now: round-robin across tenants, and within a tenant
    across its targets, never above the per-target and per-tenant limits nor `free` in all.

    `due` is in each tenant's order of urgency; `first_tenant` rotates which tenant goes first,
    so no tenant is always served first. A receiver at its limit is skipped, not waited for."""
    queues: dict[str, dict[str, deque[DueDelivery]]] = defaultdict(dict)
    for item in due:
        queues[item.tenant_id].setdefault(item.target, deque()).append(item)
    tenants = list(queues)
    if tenants:
        shift = first_tenant % len(tenants)
        tenants = tenants[shift:] + tenants[:shift]
    targets = Counter(busy_targets)
    per_tenant = Counter(busy_tenants)
    picked: list[DueDelivery] = []
    while len(picked) < free:
        progressed = False
        for tenant in tenants:
            if len(picked) >= free:
                break
            if per_tenant[tenant] >= limits.per_tenant:
                continue
            ready = [t for t, q in queues[tenant].items() if q and targets[t] < limits.per_target]
            if not ready:
                continue
            target = ready[0]
            picked.append(queues[tenant][target].popleft())
            # Rotate: the target just served goes to the back of this tenant's order.
            queues[tenant][target] = queues[tenant].pop(target)
            targets[target] += 1
            per_tenant[tenant] += 1
            progressed = True
        if not progressed:
            break
    return picked


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
