"""The C allocator's arenas: at most `ARENAS` per service process, unless the operator set
`MALLOC_ARENA_MAX` (ADR 0036).

glibc gives a thread its own malloc arena when another thread holds the one it would use, up to
eight per core. Every service runs its work in threads (`asyncio.to_thread`, the report's drawing
pool, the bus's executors), so a process collects arenas, and each keeps the memory its thread
freed in the holes between live chunks: a long-lived process's resident memory rises for hours
while the bytes it has in use stay flat. Python code holds the GIL for most of its allocations, so
more arenas buy almost no parallelism here. Measured on the visualization service's report path
(`bench.visualization.leak`): RSS 610 MB after 20 reports and 677 MB after 80 with glibc's
default, 467 and 470 MB with two arenas, the bytes in use the same 79-82 MB in both.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

ARENAS = 2
_M_ARENA_MAX = -8  # mallopt parameter number in glibc's malloc.h


def cap_arenas(arenas: int = ARENAS) -> int | None:
    """Limit glibc's malloc arenas for threads created from now on; return the limit in force
    (None: not glibc, or the operator's `MALLOC_ARENA_MAX`, which glibc read at start, is kept)."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version"):  # musl and others
        return None
    return arenas if libc.mallopt(_M_ARENA_MAX, arenas) == 1 else None
