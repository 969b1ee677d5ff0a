"""The SDK session fixtures that test_sdk.py and test_cli.py share, offered by the conftest so that
one analysis serves both: `client` (the SDK on the stack) and `run` (an analysis driven through
the SDK from upload to end)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from cqox import AnalysisEvent, Client
from cqox.models import Analysis, MappingConfirmed, Subscription, Upload

from cqox_stack.processes import free_port
from cqox_stack.stack import Stack

TRUE_EFFECT = 2.0
SECRET = "sdk-webhook-secret-0123456789abcdef"


def coupon_study(path: Path, n: int = 3000) -> Path:
    """A confounded coupon study with opaque column names (k, a, b, c, d): the mapper asks."""
    rng = np.random.default_rng(18)
    x = rng.normal(size=n)
    b = (rng.random(n) < 1 / (1 + np.exp(-x))).astype(int)
    pd.DataFrame(
        {
            "k": [f"K{i:05d}" for i in range(n)],
            "a": rng.integers(0, 2, n),
            "b": b,
            "c": np.round(3 + TRUE_EFFECT * b + x + rng.normal(0, 1, n), 4),
            "d": np.round(x, 4),
        }
    ).to_csv(path, index=False)
    return path


class Hook(BaseHTTPRequestHandler):
    """A webhook receiver: keeps each delivery, answers 200."""

    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append({"headers": dict(self.headers), "body": body, "at": time.time()})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@dataclass
class Run:
    """One analysis driven through the SDK, start to end, and what was seen on the way."""

    path: Path
    upload: Upload
    progress: list[tuple[int, int | None]]
    webhook: Subscription
    waiting: Analysis
    confirmed: MappingConfirmed
    done: Analysis
    before: list[AnalysisEvent] = field(default_factory=list)
    after: list[AnalysisEvent] = field(default_factory=list)


@pytest.fixture(scope="session", name="client")
def client_fixture(stack: Stack) -> Iterator[Client]:
    """The SDK client on the session's stack (both APIs and the bus)."""
    with Client(
        stack.api_url, notification_url=stack.services["notification"].url, nats_url=stack.nats.url
    ) as sdk:
        yield sdk


@pytest.fixture(scope="session", name="run")
def run_fixture(client: Client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Upload → wait (stops for confirmation) → webhook → confirm → wait to the end."""
    path = coupon_study(tmp_path_factory.mktemp("sdk") / "coupon_study.csv")
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    progress: list[tuple[int, int | None]] = []
    up = client.upload(
        path,
        name="sdk-coupon-study",
        methods=["ols"],
        progress=lambda sent, total: progress.append((sent, total)),
    )
    webhook = client.create_webhook(
        f"http://127.0.0.1:{server.server_port}/hook",
        event_types=["report.generated"],
        analysis_id=up.analysis_id,
        secret=SECRET,
    )
    before: list[AnalysisEvent] = []
    waiting = client.wait(up.analysis_id, on_event=before.append, timeout=60)
    confirmed = client.confirm_mapping(
        up.dataset_id, analysis_id=up.analysis_id, treatment="b", outcome="c", unit="k", covariates=["d"]
    )
    after: list[AnalysisEvent] = []
    done = client.wait(up.analysis_id, on_event=after.append, last_event_id=before[-1].seq, timeout=120)
    yield Run(path, up, progress, webhook, waiting, confirmed, done, before, after)
    server.shutdown()
