"""How often an analysis's Server-Sent Events stream polls the read model."""

from __future__ import annotations

# Server-Sent Events poll the read model: quickly while events flow, backing off while idle.
SSE_POLL_S = 0.25
SSE_POLL_MAX_S = 2.0
SSE_KEEPALIVE_S = 15.0


def sse_poll_delay(empty_polls: int) -> float:
    """Seconds to wait after `empty_polls` polls in a row found nothing: 0.25 s, then 1.5x more
    each time up to 2 s, so an idle stream costs the database 8x fewer queries."""
    return float(min(SSE_POLL_MAX_S, SSE_POLL_S * 1.5 ** max(0, empty_polls - 1)))
