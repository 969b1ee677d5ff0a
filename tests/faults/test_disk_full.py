"""A full artifact store: the embedded (file) store on a small tmpfs, filled for real.

An upload then gets 507 with Retry-After and what to do, and leaves nothing behind (no object, no
partial file, no row); an analysis whose report cannot be written fails at once (parked on its
first delivery, no back-off and redraw) with the stage and the reason (artifact store full, no
space left), leaves none of its report behind, and its SSE stream ends; once space is freed the
stack serves again."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from cqox_contracts.v1 import MessageDeadLettered, parse_event
from cqox_stack.stack import Stack
from tests.faults.conftest import (
    FAULT_ENV,
    SAMPLE,
    assert_ended_whole,
    assert_serves,
    client,
    upload,
    wait_status,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

DISK = "24m"  # the stack's whole artifact store: a few analyses of the sample fit, a filler does not


@pytest.fixture(scope="module")
def small_disk_stack() -> Iterator[Stack]:
    """A stack of its own whose artifact store is a 24 MB tmpfs (mounting needs root)."""
    root = Path(tempfile.mkdtemp(prefix="cqox-disk-full-")).resolve()
    artifacts = root / "stack" / "artifacts"
    artifacts.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(artifacts)], capture_output=True
    )
    if mounted.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    # The report fails on its first delivery; the visualization deadline stays generous so that on
    # a loaded machine it cannot end the analysis first: the reason must be the disk's.
    deadlines = {**json.loads(FAULT_ENV["CQOX_STAGE_DEADLINES_S"]), "visualization": 900}
    env = {**FAULT_ENV, "CQOX_STAGE_DEADLINES_S": json.dumps(deadlines), "CQOX_ANALYSIS_DEADLINE_S": "1200"}
    stack = Stack(root / "stack", env_overrides=env)
    try:
        stack.start()
        yield stack
    finally:
        stack.remove()
        subprocess.run(["umount", "-l", str(artifacts)], check=False)
        shutil.rmtree(root, ignore_errors=True)


def _fill(folder: Path) -> Path:
    """Write a filler file until the disk is full; the filler (delete it to free the space)."""
    filler = folder / "filler"
    chunk = b"\0" * (256 * 1024)
    with filler.open("wb") as out:
        try:
            while True:
                out.write(chunk)
                out.flush()
        except OSError:
            pass
    return filler


def _parked(stack: Stack, analysis_id: str) -> list[MessageDeadLettered]:
    """The dead letters of one analysis, read from their stream."""

    async def read() -> list[MessageDeadLettered]:
        nc = await nats.connect(stack.nats.url)  # type: ignore[union-attr]
        sub = await nc.jetstream().subscribe(
            "cqox.v1.message.deadlettered",
            ordered_consumer=True,
            deliver_policy=nats.js.api.DeliverPolicy.ALL,
        )
        out: list[MessageDeadLettered] = []
        try:
            while True:
                try:
                    event = parse_event((await sub.next_msg(timeout=1.5)).data)
                except nats.errors.TimeoutError:
                    return out
                if isinstance(event, MessageDeadLettered) and event.correlation_id == analysis_id:
                    out.append(event)
        finally:
            await nc.close()

    return asyncio.run(read())


def test_a_full_store_refuses_uploads_fails_the_report_with_the_reason_and_recovers(
    small_disk_stack: Stack,
) -> None:
    stack = small_disk_stack
    # An analysis that reaches its report while the disk is full: the visualization service is
    # stopped until the analysis is assessed, the disk is filled, then it comes back.
    drawer = stack.services.pop("visualization")
    drawer.process.stop()
    stuck = upload(stack, "disk-full-report")
    assert wait_status(stack, stuck, ("assessed",), timeout=180) == "assessed"
    filler = _fill(stack.artifacts)
    try:
        stack.start_service("visualization")
        with client(stack) as api, SAMPLE.open("rb") as handle:
            refused = api.post(
                "/v1/datasets",
                files={"file": ("disk-full-upload.csv", handle, "text/csv")},
                data={"analysis": json.dumps({"methods": ["ols"]}), "name": "disk-full-upload"},
            )
            versions = api.get("/v1/datasets").json()
        assert refused.status_code == 507, refused.text
        assert int(refused.headers["retry-after"]) > 0
        assert (
            "no space left" in refused.json()["detail"] and "nothing was stored" in refused.json()["detail"]
        )
        assert not list(stack.artifacts.rglob("disk-full-upload.csv*")), "the refused upload left a file"
        assert not list(stack.artifacts.rglob("*.part")), "a partial file was left in the store"
        assert "disk-full-upload" not in json.dumps(versions), "the refused upload was registered"
        failed = assert_ended_whole(stack, stuck, timeout=600)  # failed once, stage and reason, SSE end
        assert failed["status"] == "failed", failed
        assert failed["error"].startswith("visualization: storing the report: artifact store full ("), failed
        assert "No space left" in failed["error"], failed
        # Promptly: parked on the first delivery, not after four redrawn retries and 15 s of back-off.
        (parked,) = _parked(stack, stuck)
        assert (parked.consumer, parked.deliveries) == ("visualization-analysis-assessed", 1), parked
        left = [
            p
            for p in stack.artifacts.rglob("*")
            if stuck in p.parts and (p.parent.name == "figures" or p.name.startswith("report."))
        ]
        assert not left, f"the failed report left files: {left}"
    finally:
        filler.unlink(missing_ok=True)
    assert_serves(stack, "after-disk-full")
