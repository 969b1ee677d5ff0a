"""The C allocator: at most `ARENAS` malloc arenas per service process, unless the operator set
`MALLOC_ARENA_MAX` (ADR 0036); and the bytes malloc has in use, which leak benches and tests read.

glibc gives a thread its own malloc arena when another thread holds the one it would use, up to
eight per core. Every service runs its work in threads (`asyncio.to_thread`, the report's drawing
pool, the bus's executors), so a process collects arenas, and each keeps the memory its thread
freed in the holes between live chunks: a long-lived process's resident memory rises for hours
while the bytes it has in use stay flat. Python code holds the GIL for most of its allocations, so
more arenas buy almost no parallelism here. Measured on the visualization service's report path
(`bench.visualization.leak`): RSS 610 MB after 20 reports and 677 MB after 80 with glibc's
default, 453 and 468 MB with two arenas, the bytes in use the same 79-82 MB in both.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

ARENAS = 2
_M_ARENA_MAX = -8  # mallopt parameter number in glibc's malloc.h


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    return None if name is None else ctypes.CDLL(name)


def malloc_in_use() -> int | None:
    """Bytes malloc has handed out (heap chunks and mmapped ones) and not had back; None without
    glibc's `mallinfo2` (2.33+). Native memory such as Pango's, which tracemalloc cannot see."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        return None
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


def cap_arenas(arenas: int = ARENAS) -> int | None:
    """Limit glibc's malloc arenas for threads created from now on; return the limit in force
    (None: not glibc, or the operator's `MALLOC_ARENA_MAX`, which glibc read at start, is kept)."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return None
    libc = _libc()
    if (
        libc is None or not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version")
    ):  # musl and others
        return None
    return arenas if libc.mallopt(_M_ARENA_MAX, arenas) == 1 else None
