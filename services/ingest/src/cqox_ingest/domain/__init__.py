"""Pure ingest logic, no I/O: the analyses read model (`projection`) and the pacing of its event
stream (`streaming`). File reading lives in `readers`."""

from cqox_ingest.domain.projection import (
    AWAITED_STAGE,
    STATUS_RANK,
    TERMINAL,
    Deadlines,
    overdue,
    project,
    summarize,
)
from cqox_ingest.domain.streaming import SSE_KEEPALIVE_S, SSE_POLL_MAX_S, SSE_POLL_S, sse_poll_delay

__all__ = [
    "AWAITED_STAGE",
    "SSE_KEEPALIVE_S",
    "SSE_POLL_MAX_S",
    "SSE_POLL_S",
    "STATUS_RANK",
    "TERMINAL",
    "Deadlines",
    "overdue",
    "project",
    "sse_poll_delay",
    "summarize",
]
