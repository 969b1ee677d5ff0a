"""Memory probes the in-process leak benches share: RSS, PSS with children, malloc's bytes in use."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from dataclasses import dataclass

import psutil


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost",
        )
    ]  # fmt: skip


_LIBC = ctypes.CDLL(ctypes.util.find_library("c"))
if hasattr(_LIBC, "mallinfo2"):
    _LIBC.mallinfo2.restype = _MallInfo2


def malloc_in_use_mb() -> float:
    """MB malloc has handed out and not had back (NaN without glibc's mallinfo2): native memory
    such as Pango's or Arrow's, which tracemalloc cannot see."""
    if not hasattr(_LIBC, "mallinfo2"):
        return float("nan")
    info = _LIBC.mallinfo2()
    return (info.uordblks + info.hblkhd) / 1e6


@dataclass
class Usage:
    """This process's memory at one moment, after a garbage collection."""

    rss_mb: float
    pss_mb: float  # with its children: a renderer or worker process would count
    malloc_mb: float
    objects: int
    children: int


def usage() -> Usage:
    """RSS and PSS of this process (PSS with its children), malloc's bytes in use, live objects."""
    gc.collect()
    me = psutil.Process()
    children = me.children(recursive=True)
    pss = 0.0
    for proc in [me, *children]:
        try:
            pss += proc.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return Usage(
        me.memory_info().rss / 1e6, pss / 1e6, malloc_in_use_mb(), len(gc.get_objects()), len(children)
    )
