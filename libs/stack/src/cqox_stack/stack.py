"""The whole embedded stack: infrastructure plus the six services, each its own process."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from cqox_stack.processes import ManagedProcess, NatsServer, Postgres, free_port, terminate, wait_until


@dataclass(frozen=True)
class ServiceDef:
    """How to run one service: its module and default arguments."""

    name: str
    module: str
    args: tuple[str, ...] = ()


SERVICES: tuple[ServiceDef, ...] = (
    ServiceDef("ingest", "cqox_ingest"),
    ServiceDef("mapping", "cqox_mapping"),
    ServiceDef("quality-gate", "cqox_quality_gate"),
    ServiceDef("estimator", "cqox_estimator"),
    ServiceDef("visualization", "cqox_visualization"),
    ServiceDef("notification", "cqox_notification"),
)


@dataclass
class RunningService:
    """A started service process and its HTTP port."""

    name: str
    port: int
    process: ManagedProcess
    args: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        """Base URL of the service's HTTP server."""
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Stack:
    """nats-server + PostgreSQL + services under one root folder."""

    root: Path
    detached: bool = False
    env_overrides: dict[str, str] = field(default_factory=dict)
    nats: NatsServer | None = None
    postgres: Postgres | None = None
    services: dict[str, RunningService] = field(default_factory=dict)
    _counter: int = 0

    @property
    def artifacts(self) -> Path:
        """Folder of the local artifact store."""
        return self.root / "artifacts"

    @property
    def database_url(self) -> str:
        """The platform database URL."""
        assert self.postgres is not None
        return self.postgres.url("cqox")

    def env(self) -> dict[str, str]:
        """Environment every service process gets."""
        assert self.nats is not None
        return {
            "CQOX_NATS_URL": self.nats.url,
            "CQOX_DATABASE_URL": self.database_url,
            "CQOX_ARTIFACT_URL": self.artifacts.resolve().as_uri(),
            "CQOX_HTTP_HOST": "127.0.0.1",
            # Local webhook receivers (demo, integration tests) listen on 127.0.0.1, which the
            # notification service refuses by default.
            "CQOX_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            # The services refuse to start without API keys unless told explicitly; this stack
            # listens on loopback only, so it runs open unless keys are given (CQOX_API_KEYS).
            **({} if self._api_keys() else {"CQOX_AUTH": "disabled"}),
            "PYTHONUNBUFFERED": "1",
            **self.env_overrides,
        }

    def _api_keys(self) -> str:
        return self.env_overrides.get("CQOX_API_KEYS", os.environ.get("CQOX_API_KEYS", ""))

    def start_infra(self) -> None:
        """Start nats-server and PostgreSQL and create the database."""
        from cqox_shared.db import ensure_database

        self.root = self.root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.nats = NatsServer(self.root / "nats", detached=self.detached)
        self.nats.start()
        self.postgres = Postgres(self.root / "postgres", detached=self.detached)
        self.postgres.start()
        ensure_database(self.database_url)

    def start_service(
        self, name: str, *args: str, wait: bool = True, env: dict[str, str] | None = None
    ) -> RunningService:
        """Start one more process of a service (e.g. a second estimator pool)."""
        definition = next(d for d in SERVICES if d.name == name)
        assert self.nats is not None
        self._counter += 1
        port = free_port()
        key = name if name not in self.services else f"{name}-{self._counter}"
        argv = (sys.executable, "-m", definition.module, *definition.args, *args)
        process = ManagedProcess(
            key,
            argv,
            self.root / "logs" / f"{key}.log",
            env={
                **self.env(),
                **self.nats.credentials(name),  # its own NATS user: publishes only its flows
                "CQOX_HTTP_PORT": str(port),
                "CQOX_INSTANCE_ID": key,
                **(env or {}),
            },
            detached=self.detached,
        )
        process.start()
        service = RunningService(key, port, process, tuple(args))
        self.services[key] = service
        if wait:
            self.wait_ready(service)
        return service

    def wait_ready(self, service: RunningService, timeout: float = 90) -> None:
        """Block until the service answers /readyz with 200 (or fail with its log)."""

        def ready() -> bool:
            if not service.process.running():
                raise RuntimeError(f"{service.name} exited:\n{service.process.log_tail()}")
            return httpx.get(f"{service.url}/readyz", timeout=2).status_code == 200

        try:
            wait_until(ready, timeout, service.name, interval=0.25)
        except (TimeoutError, RuntimeError) as exc:
            raise RuntimeError(f"{exc}\n--- log of {service.name} ---\n{service.process.log_tail()}") from exc

    def start(self, names: Sequence[str] | None = None) -> None:
        """Start infrastructure and the services (all by default), then wait for readiness."""
        self.start_infra()
        started = [
            self.start_service(d.name, wait=False) for d in SERVICES if names is None or d.name in names
        ]
        for service in started:
            self.wait_ready(service)
        self.write_state()

    @property
    def api_url(self) -> str:
        """Ingest API base URL."""
        return self.services["ingest"].url

    def write_state(self) -> None:
        """Record pids and URLs so `down` can stop a detached stack, and `.env` for shells."""
        assert self.nats is not None and self.postgres is not None
        state = {
            "pids": [s.process.pid for s in self.services.values()]
            + [self.nats.process.pid]
            + ([self.postgres.process.pid] if self.postgres.process else []),
            "api_url": self.api_url if "ingest" in self.services else None,
            "notification_url": self.services["notification"].url
            if "notification" in self.services
            else None,
            "nats_url": self.nats.url,
            "database_url": self.database_url,
            "artifacts": str(self.artifacts.resolve()),
        }
        (self.root / "stack.json").write_text(json.dumps(state, indent=2))

    def stop(self) -> None:
        """Stop services first (so they drain), then NATS and PostgreSQL."""
        for service in reversed(list(self.services.values())):
            service.process.stop()
        self.services.clear()
        if self.nats:
            self.nats.stop()
        if self.postgres:
            self.postgres.stop()
        with contextlib.suppress(FileNotFoundError):
            (self.root / "stack.json").unlink()

    def remove(self) -> None:
        """Stop, and delete PostgreSQL's runtime folder when it lives outside `root` (tests)."""
        postgres = self.postgres
        self.stop()
        if postgres:
            postgres.remove()


def stop_recorded(root: Path) -> bool:
    """Stop a stack recorded in `root/stack.json` (from `make up`); False if none."""
    state_file = root / "stack.json"
    if not state_file.exists():
        return False
    state = json.loads(state_file.read_text())
    for pid in state.get("pids", []):
        with contextlib.suppress(Exception):
            terminate(int(pid), timeout=15)
    state_file.unlink()
    with contextlib.suppress(FileNotFoundError):
        os.remove(root / "env")
    return True
