"""Where a webhook may be sent: its URL is checked, its host resolved and every address it
resolves to must be public (unless an operator allows private targets). Checked when a
subscription is registered and again before every delivery attempt (DNS may have changed)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

from cqox_notification.domain import refused_target, validate_target

RESOLVE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class TargetProblem:
    """Why a webhook target must not be called; `permanent` unless the host merely did not resolve."""

    reason: str
    permanent: bool = True


async def target_problem(
    url: str, *, allow_private: bool, timeout_s: float = RESOLVE_TIMEOUT_S
) -> TargetProblem | None:
    """What stops `url` from being called, or None when it may be."""
    if problem := validate_target(url):
        return TargetProblem(problem)
    if allow_private:
        return None
    host = urlparse(url).hostname or ""
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
    return None


async def resolve(host: str) -> list[str]:
    """Every IP address `host` resolves to (IP literals, including forms like 2130706433, too)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})
