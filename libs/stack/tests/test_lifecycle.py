"""`python -m cqox_stack up|down|demo` as a user runs them: real processes, and none left behind.

Each test starts the whole stack (nats-server, PostgreSQL, six services) once, under its own root.
A stray is any process that names the root in its command line, environment (services get the
artifact folder in `CQOX_ARTIFACT_URL`) or working directory (PostgreSQL's auxiliary processes
rename themselves but keep the data folder as cwd), or that still belongs to the session of a
recorded pid (every managed process is a session leader).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Collection, Iterator
from pathlib import Path

import httpx
import pytest

from cqox_stack.processes import Postgres, remove_runtime
from cqox_stack.stack import stop_recorded

REPO = Path(__file__).resolve().parents[3]
STOP_GRACE_S = 10.0


@pytest.fixture(autouse=True)
def _forget_postgres_runtimes(tmp_path: Path) -> Iterator[None]:
    """As root, PostgreSQL's data may live outside tmp_path (see Postgres): delete it afterwards."""
    yield
    for kind in ("up", "demo"):
        remove_runtime(tmp_path / "cqox" / kind / "postgres")


def _stack_root(tmp_path: Path) -> Path:
    """A short root of this test's own: PostgreSQL puts its Unix socket under the root, and a
    socket path longer than 107 bytes once stopped it from starting (regression test below)."""
    return (tmp_path / "cqox").resolve()


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, session id) of a process, or None if it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[3])


def _gone(pid: int) -> bool:
    """No such process (a zombie awaiting its reaper counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = _stat(pid)
    return stat is None or stat[0] in ("Z", "X")


def _strays(root: Path, sessions: Collection[int] = ()) -> list[str]:
    """Live processes that belong to the stack under `root` (see the module docstring)."""
    needle = str(root).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        stat = _stat(pid)
        if stat is None or stat[0] in ("Z", "X"):
            continue
        cmdline = b""
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
        mentions = needle in cmdline
        with contextlib.suppress(OSError):
            mentions = mentions or needle in (entry / "environ").read_bytes()
        with contextlib.suppress(OSError):
            mentions = mentions or os.readlink(entry / "cwd").startswith(str(root))
        if mentions or stat[1] in sessions:
            argv = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{pid} (sid {stat[1]}): {argv}")
    return found


def _wait_no_strays(root: Path, sessions: Collection[int] = ()) -> list[str]:
    """Strays still alive after a short grace period (empty when the stack stopped cleanly)."""
    deadline = time.monotonic() + STOP_GRACE_S
    while True:
        strays = _strays(root, sessions)
        if not strays or time.monotonic() > deadline:
            return strays
        time.sleep(0.2)


def _cli(command: str, root: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cqox_stack", command, "--root", str(root)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _env_file(path: Path) -> dict[str, str]:
    """`export K=V` lines as a dict."""
    pairs = {}
    for line in path.read_text().splitlines():
        assert line.startswith("export "), line
        key, _, value = line.removeprefix("export ").partition("=")
        pairs[key] = value
    return pairs


def test_stop_recorded_without_a_stack_is_false(tmp_path: Path) -> None:
    assert stop_recorded(tmp_path / "absent") is False
    assert stop_recorded(tmp_path) is False


@pytest.mark.integration
def test_postgres_starts_under_a_deep_root(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 40) / "cqox" / "demo" / "postgres"
    postgres = Postgres(deep)
    try:
        postgres.start()
    finally:
        postgres.remove()


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_up_then_down_leaves_no_process(tmp_path: Path) -> None:
    root = _stack_root(tmp_path)
    try:
        started = _cli("up", root, timeout=180)
        assert started.returncode == 0, started.stdout + started.stderr

        env = _env_file(root / "env")
        assert {"CQOX_API_URL", "NATS_URL", "DATABASE_URL"} <= env.keys()
        assert env["NATS_URL"].startswith("nats://")
        assert env["DATABASE_URL"].startswith("postgresql")
        assert httpx.get(f"{env['CQOX_API_URL']}/healthz", timeout=5).status_code == 200

        pids = [int(p) for p in json.loads((root / "up" / "stack.json").read_text())["pids"]]
        assert len(pids) == 8  # six services, nats-server, postgres
        assert not [pid for pid in pids if _gone(pid)], "a recorded process is not running"
        sessions = {stat[1] for pid in pids if (stat := _stat(pid))}
        assert _strays(root, sessions), "the scan must see the running stack"
        assert json.loads(_cli("status", root, timeout=30).stdout)["api_url"] == env["CQOX_API_URL"]

        stopped = _cli("down", root, timeout=120)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        deadline = time.monotonic() + STOP_GRACE_S
        while [pid for pid in pids if not _gone(pid)] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [pid for pid in pids if not _gone(pid)] == []
        assert _wait_no_strays(root, sessions) == []
        assert not (root / "env").exists()
        assert not (root / "up" / "stack.json").exists()
        assert _cli("status", root, timeout=30).stdout.strip() == "not running"
    finally:
        if _strays(root):
            stop_recorded(root / "up")


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_ctrl_c_during_demo_stops_every_process(tmp_path: Path) -> None:
    root = _stack_root(tmp_path)
    root.mkdir(parents=True)
    log_path = tmp_path / "demo.log"
    with log_path.open("wb") as log:
        demo = subprocess.Popen(
            [sys.executable, "-m", "cqox_stack", "demo", "--root", str(root)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 150
        while "ready in" not in log_path.read_text(errors="replace"):
            assert demo.poll() is None, f"demo exited early:\n{log_path.read_text(errors='replace')}"
            assert time.monotonic() < deadline, f"stack not ready:\n{log_path.read_text(errors='replace')}"
            time.sleep(0.1)
        state = json.loads((root / "demo" / "stack.json").read_text())
        sessions = set(state["pids"])  # every managed process leads its own session
        assert _strays(root, sessions), "the scan must see the running stack"

        demo.send_signal(signal.SIGINT)
        code = demo.wait(timeout=60)
        output = log_path.read_text(errors="replace")
        assert code == 130, output
        assert "interrupted" in output and "all processes stopped" in output, output
        assert [pid for pid in state["pids"] if not _gone(pid)] == []
        assert _wait_no_strays(root, sessions) == [], output
        assert not (root / "demo" / "stack.json").exists()
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(timeout=10)
        stop_recorded(root / "demo")
