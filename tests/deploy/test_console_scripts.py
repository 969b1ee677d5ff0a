"""Every service's console script exists, is the one the image, compose and the chart call, and runs.

The Dockerfile's CMD, docker-compose.yml and every Helm Deployment start the services by console
script (`cqox-ingest`, `cqox-estimator --roles ...`); a missing `[project.scripts]` entry means no
container can start, so each declared command is run here with `--help`.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICE_DIRS = sorted(p.parent for p in (ROOT / "services").glob("*/pyproject.toml"))
BIN = Path(sys.executable).parent


def declared_scripts() -> dict[str, str]:
    scripts: dict[str, str] = {}
    for directory in SERVICE_DIRS:
        project = tomllib.loads((directory / "pyproject.toml").read_text())["project"]
        for name, target in project.get("scripts", {}).items():
            assert name not in scripts, f"{name} declared twice"
            scripts[name] = target
    return scripts


def commands_called_by_deployments() -> set[str]:
    """First word of every command the Dockerfile, compose and the chart's values run."""
    commands: set[str] = set()
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = re.findall(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    assert cmd, "the Dockerfile has no exec-form CMD"
    commands.add(json.loads(cmd[-1])[0])
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        if str(service.get("image", "")).startswith("cqox:"):
            commands.add(service["command"][0])
            assert name
    chart = ROOT / "deploy" / "helm" / "cqox"
    for values_file in sorted(chart.glob("values*.yaml")):
        values = yaml.safe_load(values_file.read_text()) or {}
        for service in (values.get("services") or {}).values():
            if service and service.get("command"):
                commands.add(service["command"][0])
        if (values.get("estimator") or {}).get("command"):
            commands.add(values["estimator"]["command"][0])
    return commands


def test_every_service_declares_one_console_script():
    for directory in SERVICE_DIRS:
        project = tomllib.loads((directory / "pyproject.toml").read_text())["project"]
        scripts = project.get("scripts", {})
        expected = project["name"]  # cqox-ingest, cqox-quality-gate, ...
        assert expected in scripts, (
            f"{directory / 'pyproject.toml'} must declare [project.scripts] {expected}"
        )


def test_deployments_call_only_declared_scripts():
    called = commands_called_by_deployments()
    declared = declared_scripts()
    assert called, "no command found in Dockerfile, compose or chart"
    assert called <= set(declared), f"called but not declared: {sorted(called - set(declared))}"
    assert set(declared) <= called, f"declared but never deployed: {sorted(set(declared) - called)}"


@pytest.mark.parametrize("script", sorted(declared_scripts()))
def test_script_target_is_a_main_function(script):
    module_name, _, attribute = declared_scripts()[script].partition(":")
    assert attribute == "main", script
    assert callable(getattr(importlib.import_module(module_name), attribute))


@pytest.mark.parametrize("script", sorted(declared_scripts()))
def test_declared_command_runs_help(script):
    """The installed command (what a container runs) answers --help without starting anything."""
    executable = BIN / script
    assert executable.is_file(), f"{executable} missing: run `uv sync` after declaring it"
    result = subprocess.run([str(executable), "--help"], capture_output=True, text=True, timeout=120, cwd="/")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith(f"usage: {script}"), result.stdout[:300]
    assert "CQOX_" in result.stdout  # the environment it is configured by


def test_unknown_argument_is_refused():
    result = subprocess.run(
        [str(BIN / "cqox-mapping"), "--no-such-flag"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and "unrecognized arguments" in result.stderr


@pytest.mark.parametrize("script", ["cqox-ingest", "cqox-notification"])
def test_http_services_refuse_to_start_without_api_keys(script):
    """Secure by default: no keys and no explicit CQOX_AUTH=disabled is a clear refusal, not an
    open API."""
    env = {"PATH": str(BIN), "CQOX_NATS_URL": "nats://127.0.0.1:9", "HOME": "/tmp"}
    result = subprocess.run([str(BIN / script)], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert f"{script}: no API keys configured" in result.stderr
    assert "CQOX_AUTH=disabled" in result.stderr
