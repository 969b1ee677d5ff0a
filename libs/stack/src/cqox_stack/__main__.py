"""`python -m cqox_stack demo|up|down|status`: run the embedded CQOx stack.

demo  start everything in the foreground, run the sample analysis, print results, shut down
up    start everything in the background; URLs go to .cqox/env (source it from a shell)
down  stop what `up` started
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import warnings
from pathlib import Path

from cqox_stack.stack import SERVICES, Stack, stop_recorded

ROOT = Path(".cqox")


def _banner(text: str) -> None:
    print(f"\n\033[1m{text}\033[0m" if sys.stdout.isatty() else f"\n{text}", flush=True)


def _start(stack: Stack) -> None:
    t0 = time.monotonic()
    stack.start_infra()
    assert stack.nats is not None and stack.postgres is not None
    print(f"  nats-server (JetStream)  {stack.nats.url}", flush=True)
    print(f"  PostgreSQL               127.0.0.1:{stack.postgres.port}", flush=True)
    started = [stack.start_service(d.name, wait=False) for d in SERVICES]
    for service in started:
        stack.wait_ready(service)
        print(f"  {service.name:<24} {service.url}  (pid {service.process.pid})", flush=True)
    stack.write_state()
    print(f"  ready in {time.monotonic() - t0:.1f}s; logs in {stack.root / 'logs'}", flush=True)


def demo(root: Path) -> int:
    """Foreground demo; Ctrl-C (or any error) stops every process it started."""
    from cqox_stack.demo import report_line, run_demo

    stop_recorded(root / "demo")  # leftovers of an interrupted earlier run
    stack = Stack(root / "demo")

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell starts background jobs with SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler, so Ctrl-C (or a test's SIGINT) would leave the demo running.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupted)
    code = 0
    try:
        _banner("Starting the embedded CQOx stack")
        _start(stack)
        examples = Path("examples")
        # An observational customer file, a Japanese Shift-JIS store panel and a regression
        # discontinuity (no spec for any of them: the mapper works out the roles and the design).
        samples = ("customers", "store_panel_sjis", "grant_rd")
        analyses = {
            name: run_demo(stack.api_url, examples / f"{name}.csv", examples / f"{name}.meta.json")
            for name in samples
        }
        _banner("Reports")
        for name, analysis in analyses.items():
            summary = analysis.get("demo_report")
            print(report_line(name, summary).strip() if summary else f"{name}: no report", flush=True)
        code = 0 if all(analysis.get("status") == "completed" for analysis in analyses.values()) else 1
    except KeyboardInterrupt:
        print("\ninterrupted", flush=True)
        code = 130
    finally:
        _banner("Stopping")
        stack.stop()
        print("  all processes stopped", flush=True)
    return code


def up(root: Path) -> int:
    """Start a detached stack and write .cqox/env."""
    stop_recorded(root / "up")
    stack = Stack(root / "up", detached=True)
    _banner("Starting the embedded CQOx stack in the background")
    try:
        _start(stack)
    except BaseException:
        stack.stop()
        raise
    env = {
        "CQOX_API_URL": stack.api_url,
        "CQOX_NOTIFICATION_URL": stack.services["notification"].url,
        "NATS_URL": stack.nats.url if stack.nats else "",
        "DATABASE_URL": stack.database_url,
        "CQOX_ARTIFACTS": str(stack.artifacts.resolve()),
    }
    keys = os.environ.get("CQOX_API_KEYS", "")
    if keys:  # auth is on: hand the shell the first key
        env["CQOX_API_KEY"] = keys.split(",")[0].split(":")[0]
    env_file = root / "env"
    env_file.write_text("".join(f"export {k}={v}\n" for k, v in env.items()))
    print(f"\n  API: {stack.api_url}/docs   ·   source {env_file} ·   make down to stop")
    return 0


def down(root: Path) -> int:
    """Stop a stack started by `up`."""
    if stop_recorded(root / "up"):
        (root / "env").unlink(missing_ok=True)
        print("stopped")
    else:
        print("no stack recorded in .cqox/up (nothing to stop)")
    return 0


def status(root: Path) -> int:
    """Print the recorded stack, if any."""
    state = root / "up" / "stack.json"
    print(json.dumps(json.loads(state.read_text()), indent=2) if state.exists() else "not running")
    return 0


def main() -> None:
    """CLI entry point."""
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    parser = argparse.ArgumentParser(
        prog="cqox-stack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["demo", "up", "down", "status"])
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    sys.exit({"demo": demo, "up": up, "down": down, "status": status}[args.command](args.root))


if __name__ == "__main__":
    main()
