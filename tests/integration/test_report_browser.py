"""The report a person reads, opened in a real browser: every demo sample, English and Japanese.

Runs only when asked (`CQOX_BROWSER=1`, its own make target): it analyses the three demo samples
through the whole stack, opens each HTML report in Debian's headless Chromium over the DevTools
protocol, fails on any console error, uncaught exception or network request, checks that every
figure rendered (a Plotly SVG with marks in it), and stores a full-page screenshot; then it renders
each PDF report to PNG pages with pdftoppm and checks them for the figures and the Japanese glyphs.
Screenshots and pages land in .cqox/test-artifacts/report/ (or $CQOX_TEST_ARTIFACTS).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import EXAMPLES, REPO, upload, wait_done

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.environ.get("CQOX_BROWSER") != "1", reason="browser tests: CQOX_BROWSER=1"),
]

SAMPLES = {"customers.csv": "en", "grant_rd.csv": "en", "store_panel_sjis.csv": "ja"}
ARTEFACTS = Path(os.environ.get("CQOX_TEST_ARTIFACTS", REPO / ".cqox" / "test-artifacts")) / "report"
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
# The strictest policy the report must live under: inline scripts and styles, data: images and
# fonts, nothing else (no eval, no connections). The served report's own CSP is used when it has one.
STRICT_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "font-src data:; connect-src 'none'"
)


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError(
        f"{names[0]} not found: apt-get install -y chromium poppler-utils fonts-ipafont-gothic"
    )


@dataclass
class Page:
    """What the browser saw while one page loaded and ran."""

    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    figures: list[dict[str, Any]] = field(default_factory=list)
    screenshot: bytes = b""


class Chromium:
    """Headless Chromium driven over the DevTools protocol (websocket-client, synchronous)."""

    def __init__(self) -> None:
        import websocket

        self.profile = tempfile.mkdtemp(prefix="cqox-chromium-")
        self.process = subprocess.Popen(
            [_binary("chromium", "chromium-browser"), "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", "--disable-extensions", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", "about:blank"],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stderr is not None
        deadline = time.monotonic() + 30
        url = None
        while url is None and time.monotonic() < deadline:
            line = self.process.stderr.readline()
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            url = match.group(1) if match else None
        assert url, "Chromium did not open its DevTools port"
        self.socket = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        message_id = next(self.ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(self.socket.recv())
            if reply.get("id") == message_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply.get("result", {})  # type: ignore[no-any-return]
            self.events.append(reply)

    def open(self, path: Path, expected_plots: int) -> Page:
        """Load a local file, let its scripts run, and report what happened."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            session,
            width=1200,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.events.clear()
        url = path.resolve().as_uri()
        self.call("Page.navigate", session, url=url)
        page = Page()
        deadline = time.monotonic() + 60
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = self.call(
                "Runtime.evaluate", session, returnByValue=True,
                expression="""(() => {
                  const plots = [...document.querySelectorAll('div.plot')];
                  return {ready: document.readyState, total: plots.length,
                    rendered: plots.filter(p => p.dataset.rendered === 'true').length,
                    figures: plots.map(p => { const svg = p.querySelector('svg.main-svg');
                      const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
                      return {id: p.id, width: box.width, height: box.height,
                        marks: p.querySelectorAll('g.trace, g.point, path.js-line, g.hm, g.contourlevel, g.box').length}; })};
                })()""",
            )["result"]["value"]  # fmt: skip
            if state["ready"] == "complete" and state["rendered"] == state["total"] == expected_plots:
                break
            time.sleep(0.25)
        page.figures = state.get("figures", [])
        height = self.call(
            "Runtime.evaluate",
            session,
            expression="document.documentElement.scrollHeight",
            returnByValue=True,
        )
        full = int(height["result"]["value"])
        shot = self.call("Page.captureScreenshot", session, format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": 1200, "height": min(full, 16000), "scale": 1})  # fmt: skip
        page.screenshot = base64.b64decode(shot["data"])
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                page.console_errors.append(json.dumps(params.get("args"))[:300])
            elif method == "Runtime.exceptionThrown":
                page.console_errors.append(json.dumps(params.get("exceptionDetails"))[:300])
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                page.console_errors.append(params["entry"].get("text", "")[:300])
            elif method == "Network.requestWillBeSent":
                requested = params["request"]["url"]
                if requested != url and not requested.startswith("data:"):
                    page.requests.append(requested)
        self.call("Target.closeTarget", targetId=target)
        return page

    def close(self) -> None:
        """Stop the browser this test started."""
        try:
            self.socket.close()
        finally:
            self.process.terminate()
            self.process.wait(timeout=20)
            shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    chromium = Chromium()
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture(scope="module")
def reports(api: httpx.Client) -> dict[str, dict[str, Any]]:
    """Each demo sample analysed through the stack: its report HTML, PDF and report.generated figures."""
    started = {name: upload(api, EXAMPLES / name)["analysis_id"] for name in SAMPLES}
    out = {}
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for name, analysis_id in started.items():
        body = wait_done(api, analysis_id, timeout=900)
        assert body["status"] == "completed", body
        html = api.get(f"/v1/analyses/{analysis_id}/report")
        assert html.status_code == 200, html.text[:300]
        pdf = api.get(f"/v1/analyses/{analysis_id}/artifacts/report_pdf")
        assert pdf.status_code == 200, pdf.text[:300]
        document = api.get(f"/v1/analyses/{analysis_id}/artifacts/report_json")
        assert document.status_code == 200, document.text[:300]
        stem = Path(name).stem
        (ARTEFACTS / f"{stem}.html").write_bytes(html.content)
        # The same page under the report route's CSP (or the strict one) as a meta element, since
        # a file:// page has no response headers: a violation is a console error below.
        served = html.headers.get("content-security-policy") or STRICT_CSP
        # Directives a <meta> policy cannot carry (Chromium logs an error for each) are left out.
        policy = "; ".join(
            d.strip()
            for d in served.split(";")
            if d.strip() and d.split()[0] not in ("frame-ancestors", "report-uri", "report-to", "sandbox")
        )
        guarded = html.text.replace(
            '<meta charset="utf-8">',
            f'<meta charset="utf-8">\n<meta http-equiv="Content-Security-Policy" content="{policy}">',
            1,
        )
        (ARTEFACTS / f"{stem}.csp.html").write_text(guarded, encoding="utf-8")
        (ARTEFACTS / f"{stem}.pdf").write_bytes(pdf.content)
        out[name] = {
            "html": ARTEFACTS / f"{stem}.html",
            "csp_html": ARTEFACTS / f"{stem}.csp.html",
            "pdf": ARTEFACTS / f"{stem}.pdf",
            "json": document.json(),
        }
    return out


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_the_html_report_renders_every_figure_offline_without_errors(
    sample: str, reports: dict[str, dict[str, Any]], browser: Chromium
) -> None:
    report = reports[sample]
    figures = report["json"]["figures"]
    plots = [f for f in figures if "plotly" in f["formats"]]
    assert len(plots) >= 5, f"{sample}: only {len(plots)} figures"
    page = browser.open(report["csp_html"], expected_plots=len(plots))
    (ARTEFACTS / f"{Path(sample).stem}.png").write_bytes(page.screenshot)
    assert page.console_errors == []
    assert page.requests == [], "the report must load nothing"
    assert [f["id"] for f in page.figures] == [f"plot-{f['name']}" for f in plots]
    empty = [f["id"] for f in page.figures if not (f["width"] > 100 and f["height"] > 100 and f["marks"] > 0)]
    assert empty == [], f"figures drawn empty: {empty}"
    html = report["html"].read_text(encoding="utf-8")
    assert f'<html lang="{SAMPLES[sample]}">' in html
    assert report["json"]["language"] == SAMPLES[sample]


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_the_pdf_pages_hold_the_figures_and_the_japanese_glyphs(
    sample: str, reports: dict[str, dict[str, Any]]
) -> None:
    report = reports[sample]
    stem = Path(sample).stem
    pages = ARTEFACTS / f"{stem}-page"
    subprocess.run([_binary("pdftoppm"), "-r", "40", "-png", str(report["pdf"]), str(pages)], check=True)
    pngs = sorted(ARTEFACTS.glob(f"{stem}-page-*.png"))
    assert len(pngs) >= 2
    images = subprocess.run(
        [_binary("pdfimages"), "-list", str(report["pdf"])], capture_output=True, text=True, check=True
    )
    n_images = len([line for line in images.stdout.splitlines()[2:] if line.strip()])
    static = [f for f in report["json"]["figures"] if "png" in f["formats"]]
    assert n_images >= len(static), f"{n_images} images in the PDF for {len(static)} figures"
    text = subprocess.run(
        [_binary("pdftotext"), str(report["pdf"]), "-"], capture_output=True, text=True, check=True
    ).stdout
    for figure in static:
        assert figure["title"].split("(")[0].strip()[:20] in text.replace("\n", " "), figure["name"]
    fonts = subprocess.run(
        [_binary("pdffonts"), str(report["pdf"])], capture_output=True, text=True, check=True
    ).stdout
    if SAMPLES[sample] == "ja":
        assert "要約" in text and "IPAexGothic" in fonts and len(JAPANESE.findall(text)) > 500
    else:
        assert "Summary" in text
    if sample == "store_panel_sjis.csv":  # Japanese column names in an English-free report
        assert "売上高" in text
