"""Where a webhook may be sent: its URL is checked, its host resolved and every address it
resolves to must be public (unless an operator allows private targets). Checked when a
subscription is registered and again before every delivery attempt (DNS may have changed).

A delivery then connects to the very address that was checked (the host is "pinned"), so a DNS
server cannot answer a public address for the check and a private one for the connection (DNS
rebinding): the request keeps the original name in its `Host` header and, for https, as the TLS
server name (SNI and certificate-hostname verification)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field

import httpx

from cqox_notification.domain import refused_target, validate_target

RESOLVE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class TargetProblem:
    """Why a webhook target must not be called; `permanent` unless the host merely did not resolve."""

    reason: str
    permanent: bool = True


@dataclass(frozen=True)
class PinnedTarget:
    """The request to make for a webhook: URL to connect to, plus headers and httpx extensions."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, object] = field(default_factory=dict)


async def check_target(
    url: str, *, allow_private: bool, timeout_s: float = RESOLVE_TIMEOUT_S
) -> TargetProblem | PinnedTarget:
    """What stops `url` from being called, or the request that calls its checked address."""
    if problem := validate_target(url):
        return TargetProblem(problem)
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii")  # what httpx would connect to (IDNA-encoded)
    except (httpx.InvalidURL, UnicodeError) as exc:
        return TargetProblem(f"the webhook URL is malformed: {exc}")
    if allow_private:
        return PinnedTarget(url)
    if _is_ip_literal(host):
        # httpx connects to this very address: check it, no DNS involved and nothing to pin.
        # Only canonical literals count: forms like 2130706433 or 0x7f.1 are resolved below
        # (getaddrinfo turns them into 127.0.0.1) and pinned like any name.
        if reason := refused_target(host, [host]):
            return TargetProblem(reason)
        return PinnedTarget(url)
    try:
        addresses = await asyncio.wait_for(resolve(host), timeout_s)
    except TimeoutError:
        return TargetProblem(
            f"the webhook URL's host {host} did not resolve within {timeout_s:g} s", permanent=False
        )
    except (OSError, UnicodeError) as exc:
        detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return TargetProblem(f"the webhook URL's host {host} does not resolve: {detail}", permanent=False)
    if not addresses:
        return TargetProblem(f"the webhook URL's host {host} resolves to no address", permanent=False)
    if reason := refused_target(host, addresses):
        return TargetProblem(reason)
    # Connect to the first checked address (getaddrinfo's order is the system's preference);
    # httpx brackets an IPv6 host and keeps the scheme, port, userinfo, path and query.
    pinned = str(parsed.copy_with(host=addresses[0]))
    headers = {"Host": parsed.netloc.decode("ascii")}  # what httpx would have sent: name[:port]
    # httpcore passes `sni_hostname` to start_tls as `server_hostname` (httpcore/_async/
    # connection.py, AsyncHTTPConnection._connect), so SNI and certificate checks use the name.
    extensions: dict[str, object] = {"sni_hostname": host} if parsed.scheme == "https" else {}
    return PinnedTarget(pinned, headers, extensions)


async def target_problem(
    url: str, *, allow_private: bool, timeout_s: float = RESOLVE_TIMEOUT_S
) -> TargetProblem | None:
    """What stops `url` from being called, or None when it may be (registration-time check)."""
    target = await check_target(url, allow_private=allow_private, timeout_s=timeout_s)
    return target if isinstance(target, TargetProblem) else None


async def resolve(host: str) -> list[str]:
    """Every IP address `host` resolves to, in getaddrinfo's order (forms like 2130706433 too)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
