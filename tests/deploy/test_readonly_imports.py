"""Every lazily imported dependency imports on a read-only tree, with the image's cache variables.

The pods run with a read-only root filesystem and a writable /tmp only. rdrobust compiles with
numba ``cache=True``: without NUMBA_CACHE_DIR on a writable path, importing it raises "cannot
cache function" there, and every RD analysis fails. This test reads the cache variables from the
Dockerfile, maps /tmp to a temporary folder and imports, in a child process whose project tree,
virtual environment and home are mounted read-only (a private mount namespace), every third-party
module the services import inside functions, then warms up every registered method.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*ROOT.glob("services/*/src"), ROOT / "libs" / "shared" / "src"]
CACHE_VARIABLES = ("HOME", "XDG_CACHE_HOME", "NUMBA_CACHE_DIR", "MPLCONFIGDIR")


def image_env() -> dict[str, str]:
    """ENV of the Dockerfile's last (runtime) stage."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    runtime = text.rsplit("\nFROM ", 1)[1]
    env: dict[str, str] = {}
    for line in runtime.splitlines():
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"([A-Z_][A-Z0-9_]*)=(\S+)", line)))
    return env


def lazy_imports() -> set[str]:
    """Third-party modules imported inside a function anywhere in the services and shared code."""
    found: set[str] = set()
    for source in SOURCES:
        for path in source.rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            for func in ast.walk(tree):
                if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(func):
                    names: list[str] = []
                    if isinstance(node, ast.Import):
                        names = [alias.name for alias in node.names]
                    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                        names = [node.module]
                    for name in names:
                        top = name.split(".")[0]
                        if top in sys.stdlib_module_names or top.startswith("cqox_"):
                            continue
                        found.add(name)
    return found


def test_the_runtime_caches_point_at_the_writable_tmp():
    env = image_env()
    for name in CACHE_VARIABLES:
        assert env.get(name, "").startswith("/tmp"), f"Dockerfile must set {name} under /tmp"


def test_compose_and_chart_set_the_same_cache_variables():
    env = image_env()
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    anchor = compose["x-cqox-env"]
    for name in CACHE_VARIABLES:
        assert anchor.get(name) == env[name], f"docker-compose.yml x-cqox-env {name}"
    template = (ROOT / "deploy/helm/cqox/templates/_helpers.tpl").read_text()
    for name in CACHE_VARIABLES:
        assert re.search(rf"- name: {name}\s+value: {re.escape(env[name])}", template), f"chart pods' {name}"


def test_lazy_imports_are_found():
    assert {"rdrobust.rdrobust", "rddensity.rddensity", "econml.dml", "lightgbm"} <= lazy_imports()


CHILD = r"""
import importlib, json, os, sys
failures = {}
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except Exception as exc:
        failures[name] = repr(exc)
if sys.argv[2] == "warm":
    from cqox_estimator.estimators import REGISTRY
    for method, spec in REGISTRY.items():
        try:
            spec.estimator.warm_up()
        except Exception as exc:
            failures["warm_up:" + method] = repr(exc)
print(json.dumps(failures))
"""


def run_read_only(
    modules: list[str], env: dict[str, str], warm: bool, also_read_only: tuple[Path, ...] = ()
) -> dict[str, str]:
    """Run CHILD with the project, the venv (and `also_read_only`) bind-mounted read-only."""
    import json

    read_only = {ROOT, Path(sys.prefix).resolve(), *also_read_only}
    mounts = " && ".join(
        f"mount --bind '{p}' '{p}' && mount -o remount,bind,ro '{p}'" for p in sorted(read_only)
    )
    unshare = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--mount", "--map-root-user"]
    script = f"{mounts} && exec '{sys.executable}' -c \"$CHILD\" '{json.dumps(modules)}' {'warm' if warm else 'nowarm'}"
    result = subprocess.run(
        [*unshare, "sh", "-c", script],
        env={"PATH": os.environ["PATH"], "CHILD": CHILD, "PYTHONDONTWRITEBYTECODE": "1", **env},
        capture_output=True,
        text=True,
        timeout=240,
        cwd="/",
    )
    if result.returncode != 0 and "mount" in result.stderr and "denied" in result.stderr.lower():
        pytest.skip(f"no private mount namespace here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def tmp_mount() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="cqox-tmp-mount-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_every_lazy_import_and_warm_up_works_on_a_read_only_tree(tmp_mount):
    """The image's variables with /tmp mapped to a writable folder, everything else read-only."""
    image = image_env()
    env = {name: str(tmp_mount / image[name].removeprefix("/tmp").lstrip("/")) for name in CACHE_VARIABLES}
    failures = run_read_only(sorted(lazy_imports()), env, warm=True)
    assert failures == {}


def test_without_a_numba_cache_dir_rdrobust_cannot_import(tmp_mount):
    """The check above can fail: with no writable numba cache the import breaks as in the pods."""
    home = tmp_mount / "read-only-home"
    home.mkdir()
    failures = run_read_only(["rdrobust.rdrobust"], {"HOME": str(home)}, warm=False, also_read_only=(home,))
    assert "cannot cache function" in failures.get("rdrobust.rdrobust", ""), failures
