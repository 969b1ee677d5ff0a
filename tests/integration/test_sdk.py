"""The Python SDK against the running stack: every call, resume after a dropped event stream, a
real 429 retried after its Retry-After, signed webhooks, and result events from the bus.

The analysis read here (`run`, a session fixture of tests/integration/sdk_session.py that the
conftest offers) is also the one test_cli.py reads: the two modules run one full analysis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from cqox import (
    AnalysisEvent,
    AsyncClient,
    Client,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    RetryPolicy,
    SignatureError,
    verify_signature,
)

from cqox_contracts.v1 import EstimateResult, GateResult
from cqox_stack.stack import Stack
from tests.integration.sdk_session import SECRET, TRUE_EFFECT, Hook, Run

pytestmark = pytest.mark.integration


def test_upload_streams_the_file_and_reports_progress(run: Run) -> None:
    size = run.path.stat().st_size
    sent = [s for s, _ in run.progress]
    assert sent == sorted(sent) and sent[-1] == size and {t for _, t in run.progress} == {size}
    assert len(sent) >= 2  # more than one chunk went out
    assert run.upload.rows == 3000 and [c["name"] for c in run.upload.columns] == ["k", "a", "b", "c", "d"]


def test_wait_stops_for_a_confirmation_and_follows_to_the_end(run: Run, client: Client) -> None:
    assert run.waiting.awaiting_confirmation and run.waiting.needs_confirmation
    assert run.before[-1].event_type == "dataset.mapped" and "needs confirmation" in run.before[-1].summary
    assert run.confirmed.continues and run.confirmed.analysis_id == run.upload.analysis_id
    assert run.done.status == "completed", run.done.error
    assert run.done.roles and run.done.roles["treatment"] == "b"
    seen = [e.seq for e in run.before + run.after]
    assert seen == sorted(set(seen))  # in order, nothing twice
    kinds = [e.event_type for e in run.after]
    assert kinds[0] == "dataset.confirmed" and "report.generated" in kinds
    assert all(k.startswith("notification.") for k in kinds[kinds.index("report.generated") + 1 :])
    assert_same_stream(seen, list(client.events(run.upload.analysis_id)))  # nothing missed


def test_results_are_typed_and_estimates_are_a_frame(run: Run, client: Client) -> None:
    assert all(isinstance(e, EstimateResult) for e in run.done.estimates)
    frame = client.estimates(run.upload.analysis_id)
    ols = frame.set_index("method").loc["ols"]
    assert abs(ols["estimate"] - TRUE_EFFECT) < 0.15 and ols["ci_lower"] < ols["estimate"] < ols["ci_upper"]
    assert ols["n"] == 3000
    gates = client.gates(run.upload.analysis_id)
    assert gates and all(isinstance(g, GateResult) for g in gates)
    assert {g.name for g in gates} >= {"balance_smd", "propensity_overlap"}
    page = run.done._repr_html_()
    assert run.upload.analysis_id in page and "<td>ols</td>" in page and run.done.verdict is not None
    assert run.done.verdict.level in page


def test_reports_and_artifacts_download(run: Run, client: Client, tmp_path: Path) -> None:
    analysis_id = run.upload.analysis_id
    names = {a.name for a in client.artifacts(analysis_id)}
    assert "report" in names
    html = client.download_report(analysis_id)
    assert isinstance(html, bytes) and b"<html" in html[:2000].lower()
    as_json = client.download_report(analysis_id, "json", tmp_path / "analysis.json")
    assert isinstance(as_json, Path) and json.loads(as_json.read_text())["analysis_id"] == analysis_id
    if "report_pdf" in names:
        pdf = client.download_report(analysis_id, "pdf")
        assert isinstance(pdf, bytes) and pdf.startswith(b"%PDF")
    figure = next(a for a in client.artifacts(analysis_id) if a.media_type == "image/png")
    assert client.artifact(analysis_id, figure.name).startswith(b"\x89PNG")


def test_webhook_delivery_is_signed_and_listed(run: Run, client: Client) -> None:
    assert run.webhook.secret == SECRET
    deliveries = []
    for _ in range(100):
        deliveries = client.deliveries(run.webhook.id)
        if deliveries and deliveries[0].status == "delivered":
            break
        time.sleep(0.1)
    assert deliveries[0].status == "delivered" and deliveries[0].attempts[0].status_code == 200
    assert run.webhook.id in {s.id for s in client.webhooks()}
    delivered = next(d for d in Hook.received if run.upload.analysis_id.encode() in d["body"])
    # A receiver verifies on receipt (the session's delivery may be minutes old by now).
    event = verify_signature(SECRET, delivered["body"], delivered["headers"], now=delivered["at"])
    with pytest.raises(SignatureError, match="replay"):
        verify_signature(SECRET, delivered["body"], delivered["headers"], now=delivered["at"] + 301)
    assert event["event_type"] == "report.generated" and event["analysis_id"] == run.upload.analysis_id
    client.delete_webhook(run.webhook.id)
    assert not next(s for s in client.webhooks() if s.id == run.webhook.id).active


def test_dataframe_uploads_are_versions_of_one_dataset(run: Run, client: Client) -> None:
    frame = pd.read_csv(run.path)  # opaque names again: each analysis stops at the mapping, cheaply
    first = client.upload(frame.head(2000), name="sdk-frames", methods=["ols"])
    second = client.upload(frame.drop(columns=["a"]), name="sdk-frames", methods=["ols"], allow_breaking=True)
    assert (second.dataset_id, first.version, second.version) == (first.dataset_id, 1, 2)
    versions = client.versions(first.dataset_id).versions
    assert [v.rows for v in versions] == [2000, 3000] and versions[1].schema_diff
    assert versions[1].schema_diff["removed"] == ["a"]
    assert [c["name"] for c in client.schema(first.dataset_id, 1).columns] == ["k", "a", "b", "c", "d"]
    assert [c["name"] for c in client.schema(first.dataset_id).columns] == ["k", "b", "c", "d"]
    assert client.dataset(first.dataset_id).latest_version == 2
    listed = {d.dataset_id: d for d in client.datasets()}
    assert listed[first.dataset_id].latest_version == 2 and listed[first.dataset_id].name == "sdk-frames"
    assert listed[run.upload.dataset_id].name == "sdk-coupon-study"


def test_api_refusals_raise_with_the_api_detail(client: Client) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.get("no-such-analysis")
    assert missing.value.status_code == 404 and missing.value.detail == "no analysis no-such-analysis"
    with pytest.raises(InvalidRequestError) as bad:
        client.create_webhook("ftp://example.invalid/hook")
    assert bad.value.status_code == 422 and "http" in bad.value.detail


def assert_same_stream(seen: list[int], stream: list[AnalysisEvent]) -> None:
    """`seen` is the stream's sequence, except notifications the stream may have gained since."""
    assert [e.seq for e in stream[: len(seen)]] == seen
    assert all(e.event_type.startswith("notification.") for e in stream[len(seen) :])


class DroppingProxy:
    """A TCP proxy to the API that cuts the first connection partway through its `cut_after + 1`th
    event (a real dropped connection, half an event delivered) and passes later ones through."""

    def __init__(self, upstream: int, cut_after: int) -> None:
        self.upstream, self.cut_after = upstream, cut_after
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests = b""
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._requests, args=(downstream, upstream), daemon=True).start()
            threading.Thread(
                target=self._responses, args=(upstream, downstream, self.connections == 1), daemon=True
            ).start()

    def _requests(self, downstream: socket.socket, upstream: socket.socket) -> None:
        while chunk := _recv(downstream):
            self.requests += chunk
            upstream.sendall(chunk)

    def _responses(self, upstream: socket.socket, downstream: socket.socket, cut: bool) -> None:
        seen = b""
        while chunk := _recv(upstream):
            if not cut:
                downstream.sendall(chunk)
                continue
            seen += chunk
            starts = [i for i in range(len(seen)) if seen.startswith(b"id: ", i)]
            if len(starts) > self.cut_after:
                downstream.sendall(seen[: starts[self.cut_after] + 12])  # half of the next event
                break
        for sock in (downstream, upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the other thread's recv; the peer sees the close
            sock.close()

    def close(self) -> None:
        self.listener.close()


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def test_a_dropped_event_stream_resumes_where_it_stopped(run: Run, client: Client, stack: Stack) -> None:
    proxy = DroppingProxy(stack.services["ingest"].port, cut_after=3)
    try:
        with Client(f"http://127.0.0.1:{proxy.port}") as via_proxy:
            seen = [e.seq for e in via_proxy.events(run.upload.analysis_id)]
            assert via_proxy.stats.reconnects >= 1
    finally:
        proxy.close()
    direct = list(client.events(run.upload.analysis_id))
    assert_same_stream(seen, direct)
    resumed_after = direct[2].seq  # the third event, the last one the cut connection delivered whole
    assert proxy.connections >= 2 and f"last-event-id: {resumed_after}\r\n".encode() in proxy.requests.lower()


# With auth off the rate limit keys a caller by address: a client on 127.0.0.2 has buckets of its
# own, so emptying one disturbs no other test. The upload bucket is the small one (60 a minute,
# refilled at one a second), and the middleware spends a token before the route reads anything.
OWN_ADDRESS = "127.0.0.2"


def _from_own_address(url: str, retry: RetryPolicy | None = None) -> Client:
    transport = httpx.HTTPTransport(local_address=OWN_ADDRESS)
    return Client(url, retry=retry, http=httpx.Client(transport=transport, timeout=30))


def _exhaust_uploads(url: str) -> None:
    """Spend this address's upload tokens on empty uploads (each a 422, each a token)."""
    transport = httpx.HTTPTransport(local_address=OWN_ADDRESS)
    with httpx.Client(base_url=url, timeout=10, transport=transport) as raw:
        for _ in range(200):
            response = raw.post("/v1/datasets")
            if response.status_code == 429:
                assert response.headers["retry-after"] == "1" and "uploads" in response.json()["detail"]
                return
    raise AssertionError("the upload rate limit never answered 429")


def test_a_real_429_is_retried_after_retry_after(run: Run, stack: Stack) -> None:
    """The stack's own upload limit (CQOX_RATE_LIMIT_UPLOADS_PER_MINUTE) refuses; an SDK allowed
    one attempt raises with the API's detail, the default one waits `Retry-After`, sends the file
    again from its start, and gets the route's own answer (here a 422 naming the bad spec key)."""
    spec = {"methods": ["ols"], "budget": 1}  # refused by the route (422) once a token lets it in
    _exhaust_uploads(stack.api_url)
    with (
        _from_own_address(stack.api_url, RetryPolicy(attempts=1)) as impatient,
        pytest.raises(RateLimitedError) as refused,
    ):
        for _ in range(5):  # a token may trickle back in (one a second); the next call is refused
            with contextlib.suppress(InvalidRequestError):
                impatient.upload(run.path, analysis=spec)
    assert "rate limit of 60 uploads per minute" in refused.value.detail and refused.value.retry_after_s == 1
    # The refusal just above left the bucket empty; it refills at one token a second.
    sent: list[int] = []
    answers = []
    with _from_own_address(stack.api_url) as patient:
        started = time.monotonic()
        for _ in range(2):  # two in a row outrun one token a second: one at least waits
            with pytest.raises(InvalidRequestError) as answered:
                patient.upload(run.path, analysis=spec, progress=lambda n, _: sent.append(n))
            answers.append(answered.value)
        waited = time.monotonic() - started
    assert patient.stats.retries >= 1 and waited >= 0.9
    assert all(a.status_code == 422 and "unknown key(s) in 'analysis': budget" in a.detail for a in answers)
    assert sent.count(run.path.stat().st_size) >= 2  # the whole file went out on each answered try


async def test_async_client_and_result_events_from_the_bus(run: Run, stack: Stack) -> None:
    analysis_id, dataset_id = run.upload.analysis_id, run.upload.dataset_id
    notification = stack.services["notification"].url
    async with AsyncClient(stack.api_url, notification_url=notification, nats_url=stack.nats.url) as sdk:
        assert (await sdk.get(analysis_id)).status == "completed"
        streamed = [e async for e in sdk.events(analysis_id)]
        assert_same_stream([e.seq for e in run.before + run.after], streamed)
        seen: list[int] = []

        async def note(event: AnalysisEvent) -> None:
            seen.append(event.seq)

        assert (await sdk.wait(analysis_id, on_event=note, timeout=30)).status == "completed"
        assert seen == [e.seq for e in streamed][: len(seen)] and seen
        assert (await sdk.estimates(analysis_id)).loc[0, "method"] == "ols"
        assert {g.name for g in await sdk.gates(analysis_id)} == {g.name for g in run.done.gates}
        names = {a.name for a in await sdk.artifacts(analysis_id)}
        assert "report" in names and (await sdk.artifact(analysis_id, "report")).lstrip().startswith(b"<")
        report = await sdk.download_report(analysis_id, "json")
        assert isinstance(report, bytes) and analysis_id.encode() in report
        assert (await sdk.dataset(dataset_id)).name == "sdk-coupon-study"
        assert [v.version for v in (await sdk.versions(dataset_id)).versions] == [1]
        assert [c["name"] for c in (await sdk.schema(dataset_id)).columns] == ["k", "a", "b", "c", "d"]
        assert dataset_id in {d.dataset_id for d in await sdk.datasets()}
        frame = pd.read_csv(run.path).head(500)
        up = await sdk.upload(frame, name="sdk-async-frame", methods=["ols"])
        assert (up.version, up.rows) == (1, 500)
        with pytest.raises(NotFoundError):
            await sdk.confirm_mapping("no-such-dataset", treatment="b")
        created = await sdk.create_webhook("http://127.0.0.1:9/async", event_types=["analysis.failed"])
        assert created.secret and created.id in {w.id for w in await sdk.webhooks()}
        assert await sdk.deliveries(created.id) == []
        await sdk.delete_webhook(created.id)
        events = sdk.subscribe(
            ["analysis.assessed", "report.generated"], analysis_id=analysis_id, deliver="all"
        )
        try:
            first = await asyncio.wait_for(anext(events), timeout=15)
            second = await asyncio.wait_for(anext(events), timeout=15)
        finally:
            await events.aclose()  # type: ignore[attr-defined]
    assert {first.event_type, second.event_type} == {"analysis.assessed", "report.generated"}
    assert first.correlation_id == second.correlation_id == analysis_id
