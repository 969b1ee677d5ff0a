"""Load benchmark (on demand, not part of `make test`): the embedded stack under HTTP load.

    uv run --frozen python -m bench.load.run [--seconds 10] [--soak-minutes 0] [--dir DIR]

Starts the whole embedded stack (real nats-server, PostgreSQL and the six services, as `make demo`
does) on loopback, then drives the ingest API from this process: the open-loop status reads with a
minimal keep-alive HTTP/1.1 client on asyncio streams (`LeanGet`: httpx costs milliseconds of
client CPU per request, which on two shared cores would be counted as server latency), the rest
with httpx:

- status reads of `GET /v1/analyses/{id}` (a completed analysis with its estimates, gates and
  report) open-loop at 50 and then 200 requests per second for `--seconds` each; latency is
  counted from each request's scheduled start, so a stalled server or client cannot hide it
  (percentiles of the 200 answers; requests the server shed with 503 are counted in the note);
- 100 concurrent SSE streams of an analysis that waits for a mapping confirmation (time to the
  first event, every stream held open for `--seconds`) with 50 status reads per second alongside;
  and 100 concurrent replays of the completed analysis's stream to its `end`;
- 20 concurrent uploads of a 10 MB CSV (spool, convert to Parquet, register); their analyses name
  a role column the file lacks, so each fails at mapping at once instead of 20 estimations taking
  over the two cores afterwards;
- with `--soak-minutes N`: N minutes at a modest rate (10 status reads/s, one SSE stream and one
  small analysis every 30 s), with the memory (PSS and anonymous RSS, summed over each process and its
  children) of every process sampled every 15 s; the table shows first, peak, last and growth of
  PSS, and the growth and trend of anonymous RSS after a warm-up (from a quarter of the way in):
  it does not move when other processes map the same libraries, PSS and USS do (see `Memory`).

Every phase is bounded in count and in time. The stack runs with the per-key request rate limit
off and 128 SSE streams allowed per key (one client plays every user here). Prints the tables.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import signal
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

from cqox_stack.stack import Stack

ENV = {
    "CQOX_RATE_LIMIT_REQUESTS_PER_MINUTE": "0",
    "CQOX_RATE_LIMIT_UPLOADS_PER_MINUTE": "0",
    "CQOX_SSE_MAX_STREAMS_PER_KEY": "128",
    "CQOX_LOG_LEVEL": "WARNING",
}
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PHASE_TIMEOUT_S = 600.0


@dataclass
class Sample:
    """Latencies (seconds) and outcomes of one phase."""

    name: str
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0
    note: str = ""

    def row(self) -> str:
        """One line of the results table."""
        ok = sorted(self.latencies)
        if ok:
            q = statistics.quantiles(ok, n=100, method="inclusive") if len(ok) > 1 else ok * 99
            p50, p95, p99, worst = q[49] * 1e3, q[94] * 1e3, q[98] * 1e3, ok[-1] * 1e3
        else:
            p50 = p95 = p99 = worst = float("nan")
        total = sum(self.outcomes.values())
        rate = total / self.wall_s if self.wall_s else 0.0
        failed = total - self.outcomes.get("200", 0) - self.outcomes.get("202", 0)
        others = ", ".join(
            f"{n} × {what}" for what, n in sorted(self.outcomes.items()) if what not in ("200", "202")
        )
        note = "; ".join(part for part in (self.note, others and f"not 2xx: {others}") if part)
        return (
            f"| {self.name} | {total} | {rate:.1f} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {worst:.1f} "
            f"| {failed} | {note} |"
        )


HEADER = (
    "| phase | requests | achieved /s | P50 ms | P95 ms | P99 ms | max ms | not 2xx | note |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---|"
)


@dataclass
class Answer:
    """The status of one answer (what `open_loop` looks at)."""

    status_code: int


class LeanGet:
    """A minimal HTTP/1.1 keep-alive GET client on asyncio streams, for the open-loop status reads.

    httpx costs the client a few milliseconds of CPU per request: on two shared cores the driver
    itself then falls behind schedule at 200/s and its delay is counted as the server's. This one
    costs tens of microseconds: it writes the request line, reads the status line, the headers and
    `Content-Length` bytes, and keeps each connection for the next request (one per request in
    flight, at most `max_connections`)."""

    def __init__(self, base_url: str, max_connections: int = 512) -> None:
        url = httpx.URL(base_url)
        self.host, self.port = url.host, url.port or 80
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.open = 0
        self.max_connections = max_connections

    async def get(self, path: str) -> Answer:
        """GET `path`; the answer's status (the body is read and dropped). A kept connection the
        server closed meanwhile (its keep-alive timeout) is replaced once, as browsers do."""
        reused = bool(self.idle)
        try:
            return await self._get(path)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                raise
            return await self._get(path, fresh=True)

    async def _get(self, path: str, fresh: bool = False) -> Answer:
        if self.idle and not fresh:
            reader, writer = self.idle.pop()
        else:
            if self.open >= self.max_connections:
                raise ConnectionError(f"more than {self.max_connections} requests in flight")
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self.open += 1
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length, close = 0, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
                elif name.lower() == b"connection" and value.strip().lower() == b"close":
                    close = True
            await reader.readexactly(length)
        except BaseException:
            self.open -= 1
            writer.close()
            raise
        if close:
            self.open -= 1
            writer.close()
        else:
            self.idle.append((reader, writer))
        return Answer(status)

    async def aclose(self) -> None:
        """Close every idle connection."""
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def open_loop(
    client: httpx.AsyncClient | LeanGet | list[httpx.AsyncClient] | list[LeanGet],
    path: str,
    rps: float,
    seconds: float,
    name: str,
) -> Sample:
    """GET `path` at `rps` for `seconds`, each request started on schedule whatever the others do;
    spread round-robin over the clients (one per ingest replica) when given several."""
    clients = client if isinstance(client, list) else [client]
    sample = Sample(name)
    loop = asyncio.get_running_loop()
    count = int(rps * seconds)
    start = loop.time() + 0.05

    async def one(i: int) -> None:
        scheduled = start + i / rps
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        try:
            response = await clients[i % len(clients)].get(path)
            sample.outcomes[str(response.status_code)] += 1
            if response.status_code == 200:
                sample.latencies.append(loop.time() - scheduled)
        except (httpx.HTTPError, OSError, asyncio.IncompleteReadError) as exc:
            sample.outcomes[type(exc).__name__] += 1

    began = loop.time()
    tasks = [asyncio.create_task(one(i)) for i in range(count)]
    _, late = await asyncio.wait(tasks, timeout=seconds + 60)
    for task in late:  # bounded in time: what has not finished a minute after the end is counted
        task.cancel()
        sample.outcomes["unfinished"] += 1
    await asyncio.gather(*tasks, return_exceptions=True)
    sample.wall_s = loop.time() - began
    return sample


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its children so far."""
    total = 0.0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


async def closed_loop(
    client: httpx.AsyncClient, path: str, count: int, name: str, cpu_of: dict[str, int]
) -> Sample:
    """GET `path` `count` times one after another: the latency of one request alone, and the CPU
    each request costs the processes in `cpu_of` (robust to other load on the machine)."""
    sample = Sample(name)
    loop = asyncio.get_running_loop()
    cpu_before = {name: cpu_seconds(pid) for name, pid in cpu_of.items()}
    began = loop.time()
    for _ in range(count):
        started = loop.time()
        response = await client.get(path)
        sample.outcomes[str(response.status_code)] += 1
        sample.latencies.append(loop.time() - started)
    sample.wall_s = loop.time() - began
    sample.note = "CPU per request: " + ", ".join(
        f"{name} {(cpu_seconds(pid) - cpu_before[name]) / count * 1e3:.1f} ms" for name, pid in cpu_of.items()
    )
    return sample


async def sse_streams(
    client: httpx.AsyncClient, path: str, streams: int, hold_s: float | None, name: str
) -> Sample:
    """`streams` concurrent event streams: time to the first event of each; held `hold_s`
    (or read to the `end` event when None)."""
    sample = Sample(name)
    loop = asyncio.get_running_loop()
    events = Counter[str]()

    async def one() -> None:
        began = loop.time()
        first: float | None = None
        try:
            async with client.stream("GET", path, timeout=httpx.Timeout(30, read=None)) as response:
                sample.outcomes[str(response.status_code)] += 1
                if response.status_code != 200:
                    return
                async for line in response.aiter_lines():
                    if line.startswith("event: ") and line != "event: end":
                        events["events"] += 1
                        if first is None and hold_s is not None:
                            first = loop.time() - began
                            sample.latencies.append(first)
                    if hold_s is None and line == "event: end":
                        events["ended"] += 1
                        sample.latencies.append(loop.time() - began)  # a replay: time to its end
                        return
                    if hold_s is not None and loop.time() - began > hold_s:
                        return
        except httpx.HTTPError as exc:
            sample.outcomes[type(exc).__name__] += 1

    began = loop.time()
    if hold_s is None:
        await asyncio.wait_for(asyncio.gather(*(one() for _ in range(streams))), PHASE_TIMEOUT_S)
    else:
        # An idle stream only speaks every few seconds (keep-alive): stop holding at the deadline.
        tasks = [asyncio.create_task(one()) for _ in range(streams)]
        await asyncio.wait(tasks, timeout=hold_s + 30)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    sample.wall_s = loop.time() - began
    sample.note = f"{events['events']} events" + (f", {events['ended']} ended" if hold_s is None else "")
    return sample


async def uploads(client: httpx.AsyncClient, body: bytes, count: int) -> Sample:
    """`count` concurrent uploads of one file; latency is the whole request (202 when stored)."""
    sample = Sample(f"{count} concurrent uploads, {len(body) / 1e6:.1f} MB each")
    loop = asyncio.get_running_loop()
    spec = json.dumps({"methods": "auto", "roles": {"treatment": "no_such_column"}})

    async def one(i: int) -> None:
        began = loop.time()
        try:
            response = await client.post(
                "/v1/datasets",
                files={"file": (f"load-{i}.csv", body, "text/csv")},
                data={"analysis": spec, "name": f"load-{i}"},
                timeout=PHASE_TIMEOUT_S,
            )
            sample.outcomes[str(response.status_code)] += 1
            if response.status_code == 202:
                sample.latencies.append(loop.time() - began)
        except httpx.HTTPError as exc:
            sample.outcomes[type(exc).__name__] += 1

    began = loop.time()
    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(count))), PHASE_TIMEOUT_S)
    sample.wall_s = loop.time() - began
    megabytes = len(body) * sample.outcomes.get("202", 0) / 1e6
    sample.note = f"{megabytes / sample.wall_s:.1f} MB/s stored in all, wall {sample.wall_s:.1f} s"
    return sample


def load_csv(path: Path, megabytes: float) -> Path:
    """A CSV of about `megabytes` MB: unit id, treatment, outcome and ten covariates."""
    rng = random.Random(5)
    header = "customer_id,treated,spend," + ",".join(f"x{j}" for j in range(10)) + "\n"
    with path.open("w") as out:
        out.write(header)
        i = 0
        while out.tell() < megabytes * 1e6:
            rows = []
            for _ in range(5000):
                xs = ",".join(f"{rng.gauss(0, 1):.5f}" for _ in range(10))
                rows.append(f"C{i:08d},{i % 2},{rng.gauss(50, 10):.3f},{xs}\n")
                i += 1
            out.write("".join(rows))
    return path


def opaque_csv(n: int = 600) -> bytes:
    """Columns named k, a, b, c, d: the mapping cannot tell the roles and waits for a confirmation."""
    rng = random.Random(21)
    lines = ["k,a,b,c,d"]
    for i in range(n):
        x = rng.gauss(0, 1)
        b = int(rng.random() < 0.5)
        lines.append(f"K{i:04d},{rng.randint(0, 1)},{b},{3 + 2 * b + x + rng.gauss(0, 1):.3f},{x:.3f}")
    return ("\n".join(lines) + "\n").encode()


async def start_analysis(client: httpx.AsyncClient, name: str, body: bytes, spec: dict[str, Any]) -> str:
    """Upload a file with an analysis spec; the analysis id."""
    response = await client.post(
        "/v1/datasets",
        files={"file": (name, body, "text/csv")},
        data={"analysis": json.dumps(spec)},
        timeout=120,
    )
    response.raise_for_status()
    return str(response.json()["analysis_id"])


async def wait_status(
    client: httpx.AsyncClient, analysis_id: str, statuses: set[str], within_s: float
) -> str:
    """Poll until the analysis reaches one of `statuses`; the status reached."""
    deadline = time.monotonic() + within_s
    status = ""
    while time.monotonic() < deadline:
        status = (await client.get(f"/v1/analyses/{analysis_id}")).json()["status"]
        if status in statuses:
            return status
        await asyncio.sleep(0.3)
    raise TimeoutError(f"analysis {analysis_id} still {status!r} after {within_s:.0f} s")


def _anonymous_rss(pid: int) -> float:
    """Bytes of a process's resident anonymous memory (`RssAnon` in /proc/PID/status; 0 if gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return 0.0


class Memory:
    """PSS and anonymous RSS of every process of the stack (each with its children), over time.

    PSS splits each shared page among the processes mapping it, so it falls when another process
    maps the same libraries (another clone's venv is hard-linked from uv's cache: the same files)
    and rises when one stops; USS, the pages no other process maps, rises then too. Anonymous RSS
    (`RssAnon`: heap and anonymous mappings, where a leak grows) counts no file pages, so other
    processes do not move it: the growth after warm-up and the trend are computed on it.
    """

    def __init__(self, roots: dict[str, int], every_s: float | None = None) -> None:
        """`every_s`: the sampling period when readings are regular (a soak), for the trend."""
        self.roots = dict(roots)
        self.every_s = every_s
        self.samples: dict[str, list[float]] = {name: [] for name in self.roots}
        self.anonymous: dict[str, list[float]] = {name: [] for name in self.roots}

    @classmethod
    def of(cls, stack: Stack) -> Memory:
        """Every service process, nats-server and PostgreSQL of the stack."""
        roots = {name: s.process.pid for name, s in stack.services.items()}
        assert stack.nats is not None and stack.postgres is not None and stack.postgres.process
        roots["nats-server"] = stack.nats.process.pid
        roots["postgres"] = stack.postgres.process.pid
        return cls(roots)

    def sample(self) -> None:
        """One reading of every process tree, in MB: PSS (shared pages split among sharers) and
        anonymous RSS."""
        for name, pid in self.roots.items():
            pss = anonymous = 0.0
            try:
                root = psutil.Process(pid)
                for proc in [root, *root.children(recursive=True)]:
                    try:
                        info = proc.memory_full_info()
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        continue
                    pss, anonymous = pss + info.pss, anonymous + _anonymous_rss(proc.pid)
            except psutil.NoSuchProcess:
                pass
            self.samples[name].append(pss / 1e6)
            self.anonymous[name].append(anonymous / 1e6)

    def table(self) -> str:
        """First, peak and last PSS per process and the growth from first to last; for regular
        readings also the anonymous RSS's growth after a warm-up (from the reading a quarter of the way in)
        and its least-squares trend, so caches filling at the start are not read as a leak."""
        regular = self.every_s is not None
        extra = " anon after warm-up MB | anon trend MB/h |" if regular else ""
        lines = [
            f"| process | first MB | peak MB | last MB | growth MB |{extra} samples |",
            "|---|---:|---:|---:|---:|" + ("---:|---:|" if regular else "") + "---:|",
        ]
        for name, values in self.samples.items():
            if not values:
                continue
            cells = f"| {name} | {values[0]:.0f} | {max(values):.0f} | {values[-1]:.0f} | {values[-1] - values[0]:+.0f} |"
            if self.every_s is not None:
                anonymous = self.anonymous[name]
                warm = anonymous[len(anonymous) // 4 :]
                hours = np.arange(len(warm)) * self.every_s / 3600
                trend = float(np.polyfit(hours, warm, 1)[0]) if len(warm) > 2 else float("nan")
                cells += f" {warm[-1] - warm[0]:+.0f} | {trend:+.0f} |"
            lines.append(f"{cells} {len(values)} |")
        return "\n".join(lines)


async def soak(client: httpx.AsyncClient, memory: Memory, minutes: float, status_path: str) -> Sample:
    """`minutes` at a modest rate: 10 status reads/s, an analysis and its stream every 30 s."""
    sample = Sample(f"soak {minutes:g} min: 10 status reads/s + an analysis every 30 s")
    followed: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    ends = loop.time() + minutes * 60
    began = loop.time()
    small = (EXAMPLES / "customers.csv").read_bytes()

    async def analyses() -> None:
        while loop.time() < ends:
            try:
                analysis_id = await start_analysis(client, "customers.csv", small, {"methods": ["ols"]})
                replay = await sse_streams(client, f"/v1/analyses/{analysis_id}/events", 1, None, "soak")
                followed["to their end" if replay.latencies else "not to their end"] += 1
            except (httpx.HTTPError, TimeoutError) as exc:
                followed[type(exc).__name__] += 1
            await asyncio.sleep(max(0.0, min(30.0, ends - loop.time())))

    async def sampler() -> None:
        while loop.time() < ends:
            memory.sample()
            await asyncio.sleep(min(15.0, max(0.0, ends - loop.time())))
        memory.sample()

    async def reads() -> None:
        while (remaining := ends - loop.time()) > 1:
            chunk = await open_loop(client, status_path, 10, min(60.0, remaining), "soak")
            sample.latencies += chunk.latencies
            sample.outcomes.update(chunk.outcomes)

    await asyncio.wait_for(asyncio.gather(analyses(), sampler(), reads()), minutes * 60 + PHASE_TIMEOUT_S)
    sample.wall_s = loop.time() - began
    sample.note = "analyses followed " + ", ".join(f"{n} {what}" for what, n in followed.items())
    return sample


def report(sample: Sample) -> None:
    """Print a phase's row as soon as it is done."""
    print(sample.row(), flush=True)


async def drive(stack: Stack, workdir: Path, seconds: float, soak_minutes: float) -> None:
    """Run every phase against the stack and print the tables."""
    memory = Memory.of(stack)
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    replicas = [s.url for name, s in stack.services.items() if name.startswith("ingest-")]
    async with contextlib.AsyncExitStack() as clients:
        client = await clients.enter_async_context(
            httpx.AsyncClient(base_url=stack.api_url, limits=limits, timeout=60)
        )
        more = [
            await clients.enter_async_context(httpx.AsyncClient(base_url=url, limits=limits, timeout=60))
            for url in replicas
        ]
        lean = [LeanGet(stack.api_url), *(LeanGet(url) for url in replicas)]
        try:
            await _phases(client, more, lean, memory, workdir, seconds, soak_minutes)
        finally:
            for reads in lean:
                await reads.aclose()
    print()
    print(memory.table())


async def _phases(
    client: httpx.AsyncClient,
    replicas: list[httpx.AsyncClient],
    lean: list[LeanGet],
    memory: Memory,
    workdir: Path,
    seconds: float,
    soak_minutes: float,
) -> None:
    """The phases in order: seed analyses, status reads, SSE, uploads, the optional soak."""
    memory.sample()
    customers = (EXAMPLES / "customers.csv").read_bytes()
    completed = await start_analysis(client, "customers.csv", customers, {"methods": ["ols", "ipw"]})
    waiting = await start_analysis(client, "opaque.csv", opaque_csv(), {"methods": "auto"})
    status = await wait_status(client, completed, {"completed", "failed", "rejected"}, 300)
    assert status == "completed", f"the seed analysis ended {status}"
    await wait_status(client, waiting, {"awaiting_confirmation"}, 120)
    status_path = f"/v1/analyses/{completed}"
    for _ in range(20):  # warm the connection pool and the server's caches
        await client.get(status_path)
    print(HEADER, flush=True)
    cpu_of = {"ingest": memory.roots["ingest"], "postgres": memory.roots["postgres"]}
    report(await closed_loop(client, status_path, 300, "GET /v1/analyses/{id} one at a time", cpu_of))
    for rps in (50, 200):
        report(await open_loop(lean[0], status_path, rps, seconds, f"GET /v1/analyses/{{id}} at {rps}/s"))
    if replicas:
        spread = lean
        for rps in (50, 200):
            report(
                await open_loop(
                    spread,
                    status_path,
                    rps,
                    seconds,
                    f"GET at {rps}/s over {len(spread)} ingest replicas",
                )
            )
    memory.sample()

    held = asyncio.create_task(
        sse_streams(
            client, f"/v1/analyses/{waiting}/events", 100, seconds, "100 SSE streams held (first event)"
        )
    )
    await asyncio.sleep(2.0)  # all streams open before the reads start
    alongside = await open_loop(
        lean[0], status_path, 50, max(1.0, seconds - 3), "GET at 50/s with 100 streams open"
    )
    report(await held)
    report(alongside)
    report(
        await sse_streams(
            client,
            f"/v1/analyses/{completed}/events",
            100,
            None,
            "100 SSE replays to `end` (whole stream)",
        )
    )
    memory.sample()
    big = load_csv(workdir / "load.csv", 10).read_bytes()
    report(await uploads(client, big, 20))
    memory.sample()
    if soak_minutes:
        during = Memory(memory.roots, every_s=15.0)  # the soak's own window: growth from its start
        report(await soak(client, during, soak_minutes, status_path))
        print()
        print(f"memory during the soak ({soak_minutes:g} min, every 15 s):")
        print(during.table())
        print()
        print("memory before the soak (at the start and after each group of phases):")


def main() -> None:
    """Start the stack, run the phases, print the tables, stop the stack."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each rate phase")
    parser.add_argument("--soak-minutes", type=float, default=0.0, help="add a soak of this many minutes")
    parser.add_argument(
        "--ingest-replicas",
        type=int,
        default=1,
        help="ingest processes; status reads also run spread over them",
    )
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="cqox-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stack = Stack(workdir / "stack", env_overrides=ENV)

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # stop the stack on any of them
        signal.signal(signum, interrupted)
    started = time.perf_counter()
    try:
        stack.start()
        for _ in range(args.ingest_replicas - 1):
            stack.start_service("ingest")
        print(f"stack up in {time.perf_counter() - started:.1f} s ({psutil.cpu_count()} CPUs)")
        asyncio.run(drive(stack, workdir, args.seconds, args.soak_minutes))
    finally:
        stack.remove()
        if args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
