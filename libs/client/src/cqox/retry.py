"""When to try a request again: 429 and 503 (and a refused connection), with exponential back-off
that honours the server's `Retry-After`."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from cqox.errors import retry_after_seconds

RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries in all; waits `backoff_s`·2ⁿ (± `jitter`), or what `Retry-After` asks,
    and gives up rather than wait longer than `max_wait_s` at once."""

    attempts: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 20.0
    max_wait_s: float = 120.0
    jitter: float = 0.1
    statuses: frozenset[int] = field(default=RETRY_STATUSES)

    def delay(self, attempt: int, status_code: int | None, retry_after: str | None = None) -> float | None:
        """Seconds to wait before try `attempt + 1`, or None when the answer stands.

        `status_code` None means the connection itself failed."""
        if attempt >= self.attempts:
            return None
        if status_code is not None and status_code not in self.statuses:
            return None
        asked = retry_after_seconds(retry_after)
        if asked is not None:
            return asked if asked <= self.max_wait_s else None
        base = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        return base * (1 + random.uniform(-self.jitter, self.jitter))


NO_RETRY = RetryPolicy(attempts=1)
