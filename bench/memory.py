"""Memory probes the in-process leak benches share: RSS, PSS with children, malloc's bytes in use."""

from __future__ import annotations

import gc
from dataclasses import dataclass

import psutil

from cqox_shared.allocator import malloc_in_use


def malloc_in_use_mb() -> float:
    """MB malloc has handed out and not had back (NaN without glibc's mallinfo2)."""
    in_use = malloc_in_use()
    return float("nan") if in_use is None else in_use / 1e6


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
