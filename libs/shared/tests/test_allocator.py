"""The malloc arena cap: threads contending for malloc get at most two arenas, and an operator's
MALLOC_ARENA_MAX is left in force."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from cqox_shared.allocator import cap_arenas

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="glibc's arenas",
)

# Eight threads call malloc/free through ctypes (the GIL is released around each call) until
# they have contended; then glibc's own report (malloc_info) is counted for its arenas.
CONTEND = textwrap.dedent(
    """
    import ctypes, ctypes.util, re, sys, tempfile, threading
    from cqox_shared.allocator import cap_arenas
    if sys.argv[1] == "capped":
        assert cap_arenas() == 2
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    libc.fopen.restype = ctypes.c_void_p
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    start = threading.Barrier(8)
    def churn():
        start.wait()
        for _ in range(20000):
            libc.free(libc.malloc(256))
    threads = [threading.Thread(target=churn) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    with tempfile.NamedTemporaryFile(suffix=".xml") as out:
        handle = libc.fopen(out.name.encode(), b"w")
        libc.malloc_info(0, handle)
        libc.fclose(handle)
        print(len(re.findall(r'<heap nr="', open(out.name).read())))
    """
)


def _arenas(mode: str, **env: str) -> int:
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    done = subprocess.run(
        [sys.executable, "-c", CONTEND, mode], env=environ, capture_output=True, text=True, check=True
    )
    return int(done.stdout.split()[-1])


@glibc
def test_contending_threads_share_two_arenas_once_capped() -> None:
    assert _arenas("default") > 2  # the check can fail: glibc's default gives contending threads more
    assert _arenas("capped") <= 2


@glibc
def test_an_operators_malloc_arena_max_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert cap_arenas() is None
    assert _arenas("default", MALLOC_ARENA_MAX="1") == 1  # glibc read it at start
