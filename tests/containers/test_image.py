"""The image: built from the Dockerfile, non-root, read-only root, every lazy import works there."""

from __future__ import annotations

import json

import pytest

from tests.containers.runner import Docker
from tests.deploy.test_console_scripts import declared_scripts
from tests.deploy.test_readonly_imports import lazy_imports

pytestmark = pytest.mark.containers


def test_image_runs_as_non_root_with_a_read_only_root(docker: Docker, image: str) -> None:
    config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"].split(":")[0] not in {"", "0", "root"}
    assert not any(e.startswith(("SSL_CERT_FILE=", "PIP_CERT=")) for e in config["Env"])  # build-only
    script = "id -u; touch /app/probe 2>/dev/null && echo writable-app; touch /tmp/probe && echo writable-tmp; ls /run/secrets 2>/dev/null | wc -l"
    result = docker(
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--network",
        "host",
        "--entrypoint",
        "sh",
        image,
        "-c",
        script,
    )
    uid, *rest = result.stdout.split()
    assert uid == "10001"
    assert rest == ["writable-tmp", "0"], result.stdout


def test_every_console_script_answers_help_in_the_image(docker: Docker, image: str) -> None:
    for script in declared_scripts():
        result = docker(
            "run", "--rm", "--read-only", "--tmpfs", "/tmp", "--entrypoint", script, image, "--help"
        )
        assert result.stdout.startswith(f"usage: {script}"), result.stdout[:200]


def test_lazy_imports_and_warm_ups_work_on_the_read_only_root(docker: Docker, image: str) -> None:
    """rdrobust (numba cache=True), rddensity, econml, lightgbm (libgomp), weasyprint (pango)...
    with nothing but the image's own environment and the writable /tmp."""
    child = (
        "import importlib, json, sys\n"
        "failures = {}\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    try: importlib.import_module(name)\n"
        "    except Exception as exc: failures[name] = repr(exc)\n"
        "from cqox_estimator.estimators import REGISTRY\n"
        "for method, spec in REGISTRY.items():\n"
        "    try: spec.estimator.warm_up()\n"
        "    except Exception as exc: failures['warm_up:' + method] = repr(exc)\n"
        "print(json.dumps(failures))\n"
    )
    result = docker(
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--network",
        "host",
        "--entrypoint",
        "python",
        image,
        "-c",
        child,
        json.dumps(sorted(lazy_imports())),
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {}
