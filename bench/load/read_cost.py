"""What one status read costs the ingest process (on demand, not part of `make test`).

    uv run --frozen python -m bench.load.read_cost [--reads 300] [--rounds 5] [--old SRC] [--profile]

Starts the embedded stack, completes one analysis (`ols`, `ipw` on the customers example), then
reads `GET /v1/analyses/{id}` one request at a time over a kept connection and prints, per round,
the ingest process's CPU (user + system) per read and the median wall time per read, with the load
average. With `--old SRC` a second ingest process runs from an older tree (`SRC/services/ingest/src`
and `SRC/libs/shared/src`, e.g. from `git archive <commit> services/ingest libs/shared | tar -x -C
SRC`) on the same stack, and the rounds alternate between the two (paired, interleaved: A B A B …)
so drifting machine load hits both alike; the ratio is per pair. With `--profile` a third ingest
process runs under cProfile for the reads of one round and the top functions by own and by
cumulative time are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from bench.load.run import ENV, EXAMPLES, LeanGet, start_analysis, wait_status
from cqox_stack.processes import ManagedProcess, free_port
from cqox_stack.stack import RunningService, Stack


@dataclass
class Target:
    """One ingest process the rounds read from."""

    name: str
    service: RunningService
    cpu_ms: list[float]
    wall_ms: list[float]


def start_ingest(
    stack: Stack, key: str, argv: tuple[str, ...], pythonpath: str | None = None
) -> RunningService:
    """Start one more ingest process on the stack with its own argv (and source tree)."""
    assert stack.nats is not None
    port = free_port()
    env = {
        **stack.env(),
        **stack.nats.credentials("ingest"),
        "CQOX_HTTP_PORT": str(port),
        "CQOX_INSTANCE_ID": key,
    }
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    process = ManagedProcess(key, argv, stack.root / "logs" / f"{key}.log", env=env)
    process.start()
    service = RunningService(key, port, process)
    stack.services[key] = service
    stack.wait_ready(service)
    return service


def old_pythonpath(root: Path, src: Path) -> str:
    """PYTHONPATH running ingest from the older tree `src`, as it ran before the lock file had
    uvloop and httptools: uvicorn's "auto" falls back to asyncio and h11 when importing them fails."""
    blocked = root / "without-uvloop"
    blocked.mkdir(exist_ok=True)
    for module in ("uvloop", "httptools"):
        (blocked / f"{module}.py").write_text(f"raise ImportError('{module}: not in the old lock file')\n")
    return os.pathsep.join(str(p) for p in (blocked, src / "services/ingest/src", src / "libs/shared/src"))


async def one_round(target: Target, path: str, reads: int) -> None:
    """`reads` sequential reads; the process's CPU and the median wall time per read."""
    client = LeanGet(target.service.url, max_connections=1)
    try:
        await client.get(path)  # the connection, opened outside the measure
        proc = psutil.Process(target.service.process.pid)
        before = proc.cpu_times()
        walls = []
        for _ in range(reads):
            began = time.perf_counter()
            answer = await client.get(path)
            walls.append(time.perf_counter() - began)
            assert answer.status_code == 200, answer
        after = proc.cpu_times()
    finally:
        await client.aclose()
    cpu = (after.user - before.user) + (after.system - before.system)
    target.cpu_ms.append(cpu / reads * 1e3)
    target.wall_ms.append(statistics.median(walls) * 1e3)


async def drive(stack: Stack, args: argparse.Namespace) -> None:
    """Seed one completed analysis, then run the rounds (and the profile)."""
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as client:
        customers = (EXAMPLES / "customers.csv").read_bytes()
        analysis = await start_analysis(client, "customers.csv", customers, {"methods": ["ols", "ipw"]})
        status = await wait_status(client, analysis, {"completed", "failed", "rejected"}, 300)
        assert status == "completed", f"the seed analysis ended {status}"
        body = (await client.get(f"/v1/analyses/{analysis}")).content
    path = f"/v1/analyses/{analysis}"
    print(f"status read body: {len(body)} bytes")
    targets = [Target("current", stack.services["ingest"], [], [])]
    if args.old:
        pythonpath = old_pythonpath(stack.root, args.old)
        old = start_ingest(stack, "ingest-old", (sys.executable, "-m", "cqox_ingest"), pythonpath)
        targets.append(Target("old", old, [], []))
    for target in targets:  # warm-up round, not counted
        await one_round(target, path, args.reads)
        target.cpu_ms.clear()
        target.wall_ms.clear()
    for index in range(args.rounds):
        for target in targets if index % 2 == 0 else targets[::-1]:
            await one_round(target, path, args.reads)
            load = os.getloadavg()[0]
            print(
                f"round {index + 1} {target.name:>7}: ingest CPU {target.cpu_ms[-1]:.2f} ms/read, "
                f"median wall {target.wall_ms[-1]:.2f} ms/read (load average {load:.1f})"
            )
    for target in targets if args.rounds else ():
        print(
            f"{target.name:>7}: median over {args.rounds} rounds of {args.reads} reads: ingest CPU "
            f"{statistics.median(target.cpu_ms):.2f} ms/read (min {min(target.cpu_ms):.2f}, max "
            f"{max(target.cpu_ms):.2f}), wall {statistics.median(target.wall_ms):.2f} ms/read"
        )
    if len(targets) == 2:
        ratios = [a / b for a, b in zip(targets[0].cpu_ms, targets[1].cpu_ms, strict=True)]
        print(
            f"CPU per read, current/old per pair: median {statistics.median(ratios):.2f} "
            f"(min {min(ratios):.2f}, max {max(ratios):.2f})"
        )
    if args.profile:
        await profile(stack, path, args.reads * 4, args.profile_out)


async def profile(stack: Stack, path: str, reads: int, keep: Path | None = None) -> None:
    """Run `reads` reads against an ingest process under cProfile and print where its time goes."""
    out = stack.root / "ingest.prof"
    # uvicorn re-raises SIGTERM after its shutdown: a handler turns it into SystemExit, so the
    # profile is written (`python -m cProfile` would die with the signal and write nothing).
    code = (
        "import cProfile, runpy, signal, sys\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        "profiler = cProfile.Profile()\n"
        "profiler.enable()\n"
        "try:\n"
        "    runpy.run_module('cqox_ingest', run_name='__main__')\n"
        "finally:\n"
        f"    profiler.disable(); profiler.dump_stats({str(out)!r})\n"
    )
    argv = (sys.executable, "-c", code)
    service = start_ingest(stack, "ingest-profiled", argv)
    target = Target("profiled", service, [], [])
    await one_round(target, path, reads)
    service.process.stop(timeout=30)  # uvicorn exits on SIGTERM; cProfile writes on exit
    if keep is not None:
        shutil.copy(out, keep)
    stats = pstats.Stats(str(out))
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(45)


def main() -> None:
    """Start the stack, measure, print, stop the stack."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reads", type=int, default=300, help="reads per round")
    parser.add_argument("--rounds", type=int, default=5, help="counted rounds per ingest process")
    parser.add_argument("--old", type=Path, default=None, help="an older tree to compare against, paired")
    parser.add_argument("--profile", action="store_true", help="profile one process's reads with cProfile")
    parser.add_argument("--profile-out", type=Path, default=None, help="keep the profile in this file")
    args = parser.parse_args()
    args.old = args.old.resolve() if args.old else None
    workdir = Path(tempfile.mkdtemp(prefix="cqox-readcost-"))
    stack = Stack(workdir / "stack", env_overrides=ENV)
    try:
        stack.start()
        asyncio.run(drive(stack, args))
    finally:
        stack.remove()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
