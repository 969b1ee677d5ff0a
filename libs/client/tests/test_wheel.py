"""The SDK builds as a publishable wheel without a network, and the wheel alone runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def uv() -> str:
    """The uv the Makefile uses (PATH or ~/.local/bin)."""
    found = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    assert Path(found).exists(), "uv is needed to build the wheel (make setup installs it)"
    return found


def test_the_sdk_builds_as_a_wheel_offline_and_runs_from_it(tmp_path: Path) -> None:
    env = {**os.environ, "UV_OFFLINE": "1", "UV_PYTHON_DOWNLOADS": "never"}
    done = subprocess.run(
        [uv(), "build", "--package", "cqox", "--wheel", "--offline", "--out-dir", str(tmp_path / "dist")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("cqox-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(info).decode()
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
        archive.extractall(tmp_path / "site")
    assert {"cqox/__init__.py", "cqox/client.py", "cqox/aio.py", "cqox/cli.py", "cqox/py.typed"} <= names
    assert not any(n.startswith(("tests/", "cqox_")) for n in names)  # only the SDK itself
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert any(r.startswith("Requires-Dist: httpx") for r in requires)
    assert any(r.startswith("Requires-Dist: cqox-contracts") for r in requires)
    assert any("typer" in r and "extra == 'cli'" in r.replace('"', "'") for r in requires)
    assert all("extra ==" in r for r in requires if "pandas" in r or "rich" in r)  # optional
    assert "cqox = cqox.cli:main" in entry_points
    # The unpacked wheel comes first on the path: the package and its command run from it.
    run_env = {**env, "PYTHONPATH": str(tmp_path / "site")}
    script = "import sys, cqox, cqox.cli; print(cqox.__file__); sys.exit(cqox.cli.run(['--help']))"
    done = subprocess.run(
        [sys.executable, "-c", script], env=run_env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(str(tmp_path / "site")), done.stdout
    assert "upload" in done.stdout and "mapping" in done.stdout
