"""The `cqox` command line against the running stack: the console script in real shell processes
(progress bar, live events, exit code 3 awaiting a confirmation, `report --open`), and every
command in process with its exit code. The completed analysis read here is the SDK session's (sdk_session.py)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import time
import webbrowser
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from cqox import cli

from cqox_stack.stack import Stack
from tests.integration.conftest import EXAMPLES
from tests.integration.sdk_session import SECRET, Run

pytestmark = pytest.mark.integration

CQOX = Path(sys.executable).with_name("cqox")


@pytest.fixture(scope="module")
def env(stack: Stack) -> Iterator[dict[str, str]]:
    """The shell environment a user would have: the URLs in CQOX_* variables."""
    values = {"CQOX_URL": stack.api_url, "CQOX_NOTIFICATION_URL": stack.services["notification"].url}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in values.items():
            patch.setenv(key, value)
        yield values


def cqox(*argv: str) -> tuple[int, str, str]:
    """Run `cqox ARGV` in process; (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run(list(argv))
    return code, out.getvalue(), err.getvalue()


def opaque(path: Path, n: int = 1500) -> Path:
    """A confounded study whose columns (k, a, b, c, d) the mapper cannot name."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=n)
    b = (rng.random(n) < 1 / (1 + np.exp(-x))).astype(int)
    c = 1 + 2 * b + x + rng.normal(0, 1, n)
    frame = pd.DataFrame(
        {"k": range(n), "a": rng.integers(0, 2, n), "b": b, "c": c.round(4), "d": x.round(4)}
    )
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def shell_upload(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`cqox upload opaque.csv --methods no_such_method --wait --open`, typed in a shell: the mapper
    cannot name the columns, so it stops for a confirmation (exit 3), with no report to open yet.
    (The method does not exist: once confirmed, the analysis fails at once, exit 2, and leaves no
    work running behind the tests.)"""
    folder = tmp_path_factory.mktemp("cli")
    done = subprocess.run(
        [
            str(CQOX),
            "upload",
            str(opaque(folder / "opaque.csv")),
            "--methods",
            "no_such_method",
            "--wait",
            "--open",
        ],
        env={**os.environ, **env},
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    ids = re.findall(r"dataset ([0-9a-f-]{36}) v1 .*analysis ([0-9a-f-]{36})", done.stdout)
    assert ids, done.stdout + done.stderr
    return {"done": done, "dataset_id": ids[0][0], "analysis_id": ids[0][1]}


def test_upload_in_a_shell_shows_progress_events_and_waits_for_a_confirmation(
    shell_upload: dict[str, Any],
) -> None:
    done = shell_upload["done"]
    assert done.returncode == 3, done.stdout + done.stderr
    assert re.search(r"uploading opaque\.csv .*kB", done.stderr)
    events = [line.split()[2] for line in done.stdout.splitlines() if re.match(r"\s+\d+\.\d\ds ", line)]
    assert events == ["dataset.ingested", "dataset.mapped"]
    assert "awaiting_confirmation" in done.stdout and "Inferred roles" in done.stdout
    assert f"cqox mapping confirm {shell_upload['dataset_id']}" in done.stdout
    assert "has no report to open (awaiting_confirmation)" in done.stderr


def test_status_estimates_gates_artifacts_report_and_watch(
    run: Run, env: dict[str, str], tmp_path: Path
) -> None:
    analysis_id = run.upload.analysis_id
    code, out, _ = cqox("status", analysis_id)
    assert code == 0 and f"Analysis {analysis_id}: completed" in out
    for section in (
        "Estimates",
        "Quality gates",
        "Refuters",
        "Sensitivity to hidden",
        "Verdict:",
        "Report: ",
    ):
        assert section in out
    assert re.search(r"ols\s+│ ATE\s+│\s+[12]\.\d\d\d", out)
    code, out, _ = cqox("estimates", analysis_id, "--json")
    assert code == 0 and [e["method"] for e in json.loads(out)] == ["ols"]
    code, out, _ = cqox("gates", analysis_id)
    assert code == 0 and "balance_smd" in out
    code, out, _ = cqox("artifacts", analysis_id, "--json")
    names = {a["name"] for a in json.loads(out)}
    assert code == 0 and "report" in names
    fmt, magic = ("pdf", b"%PDF") if "report_pdf" in names else ("json", b"{")
    target = tmp_path / f"report.{fmt}"
    code, out, _ = cqox("report", analysis_id, "--format", fmt, "--output", str(target))
    assert code == 0 and str(target) in out and target.read_bytes().startswith(magic)
    code, out, _ = cqox("watch", analysis_id)
    assert code == 0
    assert out.index("dataset.ingested") < out.index("report.generated") < out.index("Estimates")


def test_report_open(run: Run, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cqox report ID --open`: the HTML lands on disk and the browser gets its file URL."""
    opened, opener = tmp_path / "opened.txt", tmp_path / "open.sh"
    opener.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    opener.chmod(0o755)
    webbrowser.register(
        "cqox-test-browser", None, webbrowser.GenericBrowser([str(opener), "%s"]), preferred=True
    )
    monkeypatch.chdir(tmp_path)
    code, out, _ = cqox("report", run.upload.analysis_id, "--open")
    assert code == 0, out
    report = tmp_path / f"cqox-report-{run.upload.analysis_id[:8]}.html"
    assert report.read_bytes().lstrip().startswith(b"<") and report.name in out
    for _ in range(50):  # the browser command runs in the background
        if opened.exists() and opened.read_text().strip():
            break
        time.sleep(0.1)
    assert opened.read_text().strip() == report.resolve().as_uri()


def test_datasets_list_versions_schema(run: Run, env: dict[str, str]) -> None:
    dataset_id = run.upload.dataset_id
    code, out, _ = cqox("datasets", "list", "--json")
    assert (
        code == 0
        and next(d for d in json.loads(out) if d["dataset_id"] == dataset_id)["name"] == "sdk-coupon-study"
    )
    code, out, _ = cqox("datasets", "list")
    assert code == 0 and "sdk-coupon-study" in out
    code, out, _ = cqox("datasets", "versions", dataset_id)
    assert code == 0 and "coupon_study.csv" in out and "3000" in out
    code, out, _ = cqox("datasets", "versions", dataset_id, "--json")
    assert code == 0 and json.loads(out)["versions"][0]["rows"] == 3000
    code, out, _ = cqox("datasets", "schema", dataset_id)
    assert code == 0 and "int64" in out and "double" in out
    code, out, _ = cqox("datasets", "schema", dataset_id, "--version", "1", "--json")
    assert code == 0 and [c["name"] for c in json.loads(out)["columns"]] == ["k", "a", "b", "c", "d"]


def test_webhooks_add_list_deliveries_remove(
    run: Run, env: dict[str, str], shell_upload: dict[str, Any]
) -> None:
    hook_url = "http://127.0.0.1:9/cli-hook"  # never called: removed before its analysis reports
    code, out, _ = cqox(
        "webhooks", "add", hook_url, "--event", "report.generated", "--analysis", shell_upload["analysis_id"],
        "--secret", SECRET, "--json",
    )  # fmt: skip
    added = json.loads(out)
    assert code == 0 and added["secret"] == SECRET and added["analysis_id"] == shell_upload["analysis_id"]
    code, out, _ = cqox("webhooks", "add", hook_url)
    assert code == 0 and "secret (shown once)" in out
    plain_id = re.findall(r"webhook ([0-9a-f-]{36})", out)[0]
    code, out, _ = cqox("webhooks", "list", "--json")
    listed = {s["id"]: s for s in json.loads(out)}
    assert code == 0 and listed[added["id"]]["url"] == hook_url and listed[added["id"]]["active"]
    code, out, _ = cqox("webhooks", "list")
    assert code == 0 and added["id"] in out
    for subscription_id in (added["id"], plain_id):
        code, out, _ = cqox("webhooks", "remove", subscription_id)
        assert code == 0 and "removed" in out
    # The SDK's webhook saw the report of its analysis: its delivery, with every attempt.
    code, out, _ = cqox("webhooks", "deliveries", run.webhook.id, "--json")
    delivered = json.loads(out)
    assert (
        code == 0
        and delivered[0]["status"] == "delivered"
        and delivered[0]["attempts"][0]["status_code"] == 200
    )
    code, out, _ = cqox("webhooks", "deliveries", run.webhook.id)
    assert code == 0 and "delivered" in out and "200" in out


def test_refusals_exit_1_and_usage_errors_64(env: dict[str, str]) -> None:
    code, _, err = cqox("status", "no-such-analysis")
    assert code == 1 and "no analysis no-such-analysis" in err
    code, _, err = cqox("upload", str(EXAMPLES / "customers.csv"), "--roles", "treatment")
    assert code == 64 and "role=column" in err


def test_mapping_confirm_continues_the_waiting_analysis_to_its_end(shell_upload: dict[str, Any]) -> None:
    code, out, _ = cqox("status", shell_upload["analysis_id"], "--json")
    assert code == 3 and json.loads(out)["status"] == "awaiting_confirmation"
    code, out, _ = cqox(
        "mapping", "confirm", shell_upload["dataset_id"], "--treatment", "b", "--outcome", "c",
        "--covariates", "d", "--roles", "unit=k", "--analysis", shell_upload["analysis_id"],
    )  # fmt: skip
    assert code == 0 and "continues" in out and "treatment    b" in out
    code, out, _ = cqox("watch", shell_upload["analysis_id"], "--json")
    failed = json.loads(out)
    assert code == 2 and failed["status"] == "failed" and "no_such_method" in failed["error"]
    assert failed["mapping_confirmed"] is True and failed["roles"]["treatment"] == "b"
