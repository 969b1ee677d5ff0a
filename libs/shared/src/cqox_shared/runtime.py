"""One runtime for every service: migrate, connect, consume, relay, serve health and metrics.

A worker's `app.py` builds a `ServiceRuntime` with its subscriptions and calls `run_worker`;
an HTTP service starts the same runtime inside its FastAPI lifespan. The runtime's flows
(`subscriptions`, plus `publishes` for what HTTP routes and background tasks say) are the
service's whole declaration of what it hears and says (ADR 0016).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
import uvicorn
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cqox_contracts.v1 import Event
from cqox_shared.advisories import AdvisoryListener
from cqox_shared.allocator import cap_arenas
from cqox_shared.artifacts import ArtifactStore, store_from_settings
from cqox_shared.bus import Bus, Consumer, HandlerContext, OutboxRelay, Subscription
from cqox_shared.db import ConnectionLimits, create_engine, migrate, session_factory
from cqox_shared.logging import configure_logging, get_logger
from cqox_shared.metrics import render_metrics
from cqox_shared.retention import longest_stream_age_s, run_retention
from cqox_shared.settings import Settings
from cqox_shared.tracing import configure_tracing

log = get_logger("cqox.runtime")

BackgroundTask = Callable[["ServiceRuntime"], Awaitable[None]]


class ServiceRuntime:
    """Everything a service needs at run time, started and stopped in one place."""

    def __init__(
        self,
        service: str,
        *,
        settings: Settings,
        metadata: MetaData,
        migrations: Path,
        subscriptions: Sequence[Subscription] = (),
        publishes: Mapping[str, Sequence[type[Event]]] | None = None,
        background: Sequence[BackgroundTask] = (),
    ) -> None:
        """`publishes`: what the service says outside its subscriptions, by origin
        (`{"HTTP API": (DatasetIngested,)}`, `{"timeout sweeper": (AnalysisEstimated,)}`)."""
        self.service = service
        self.settings = settings
        self.metadata = metadata
        self.schema = metadata.schema or service
        self.migrations = migrations
        self.subscriptions = list(subscriptions)
        self.publishes = {origin: tuple(classes) for origin, classes in (publishes or {}).items()}
        durables = [sub.durable(service) for sub in self.subscriptions]
        if len(set(durables)) != len(durables):
            raise ValueError(f"{service}: two subscriptions share a durable: {sorted(durables)}")
        self.background = list(background)
        self.instance_id = settings.instance_id or f"{socket.gethostname()}-{os.getpid()}"
        self.bus = Bus(service)
        self.engine: AsyncEngine | None = None
        self.sessions = None  # type: ignore[var-annotated]
        self.store: ArtifactStore | None = None
        self.relay: OutboxRelay | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.ready = False

    @property
    def outbox(self) -> sa.Table:
        """The service's outbox table."""
        return self.metadata.tables[f"{self.schema}.outbox"]

    @property
    def processed(self) -> sa.Table:
        """The service's processed-events table."""
        return self.metadata.tables[f"{self.schema}.processed_events"]

    async def start(self) -> None:
        """Migrate the schema, connect to NATS and Postgres, start consumers and the relay."""
        cap_arenas()  # before the first worker thread: each would keep an arena of its own
        configure_logging(self.service, self.settings.log_level)
        configure_tracing(self.service)
        await asyncio.to_thread(migrate, self.settings.database_url, self.migrations, self.schema)
        self.engine = create_engine(
            self.settings.database_url, limits=ConnectionLimits.from_settings(self.settings, self.service)
        )
        self.sessions = session_factory(self.engine)
        self.store = await asyncio.to_thread(store_from_settings, self.settings)
        await self.bus.connect(self.settings.nats_url, self.settings.nats_user, self.settings.nats_password)
        await self.bus.ensure_streams()
        self.relay = OutboxRelay(self.bus, self.sessions, self.outbox)
        self._spawn(self.relay.run())
        for sub in self.subscriptions:
            self._spawn(self.consumer(sub).run())
        # whichever service is up turns JetStream's give-up advisories into failed analyses
        self._spawn(AdvisoryListener(self.bus, self.service).run())
        self._spawn(self._retention())
        for task in self.background:
            self._spawn(task(self))
        self.ready = True
        log.info(
            "service started",
            instance=self.instance_id,
            consumes=[s.subject for s in self.subscriptions],
        )

    def consumer(self, subscription: Subscription) -> Consumer:
        """The consumer running one of this runtime's subscriptions (after `start`, or in a harness)."""
        assert self.sessions is not None
        return Consumer(
            self.service,
            subscription,
            self.bus,
            self.sessions,
            self.processed,
            self.outbox,
            OutboxRelay(self.bus, self.sessions, self.outbox) if self.relay is None else self.relay,
            store=self.store,
            max_deliver=self.settings.max_deliver,
            ack_wait_s=self.settings.ack_wait_s,
            db_outage_wait_s=self.settings.db_outage_wait_s,
        )

    async def _retention(self) -> None:
        """Prune published outbox rows and old processed-event records on a schedule."""
        assert self.sessions is not None
        settings = self.settings
        replayable_s = longest_stream_age_s(sub.stream_name for sub in self.subscriptions)
        if settings.processed_events_retention_s < replayable_s:
            log.warning(
                "processed_events retention is shorter than the streams' max_age: a message "
                "redelivered or replayed after it would be handled again",
                retention_s=settings.processed_events_retention_s,
                max_age_s=replayable_s,
            )
        await run_retention(
            self.sessions,
            self.outbox,
            self.processed,
            outbox_retention_s=settings.outbox_retention_s,
            processed_retention_s=settings.processed_events_retention_s,
            interval_s=settings.retention_interval_s,
        )

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        task.add_done_callback(self._on_task_done)
        self._tasks.append(task)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("background task died", error=repr(task.exception()))
            self.ready = False

    async def stop(self) -> None:
        """Cancel consumers, close NATS and Postgres."""
        self.ready = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
        await self.bus.close()
        if self.engine is not None:
            await self.engine.dispose()
        log.info("service stopped", instance=self.instance_id)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[HandlerContext]:
        """A transaction whose emitted events (of the runtime's `publishes`) are published after
        commit: for HTTP routes and background tasks."""
        assert self.sessions is not None and self.relay is not None
        session: AsyncSession
        async with self.sessions() as session, session.begin():
            yield HandlerContext(
                session=session,
                outbox=self.outbox,
                producer=self.service,
                publishes=frozenset(cls for classes in self.publishes.values() for cls in classes),
                flow=f"{self.service} (outside a subscription)",
                store=self.store,
            )
        with contextlib.suppress(Exception):
            await self.relay.flush()

    async def check_ready(self) -> dict[str, bool]:
        """Readiness of each dependency."""
        db_ok = False
        if self.engine is not None:
            with contextlib.suppress(Exception):
                async with self.engine.connect() as conn:
                    await conn.execute(sa.text("SELECT 1"))
                db_ok = True
        return {"started": self.ready, "nats": self.bus.connected, "postgres": db_ok}

    def health_routes(self) -> list[Route]:
        """`/healthz`, `/readyz` and `/metrics` routes for this runtime."""

        async def healthz(_: Request) -> Response:
            return JSONResponse({"status": "ok", "service": self.service, "instance": self.instance_id})

        async def readyz(_: Request) -> Response:
            checks = await self.check_ready()
            ok = all(checks.values())
            return JSONResponse({"ready": ok, **checks}, status_code=200 if ok else 503)

        async def metrics(_: Request) -> Response:
            body, content_type = render_metrics()
            return Response(body, media_type=content_type)

        return [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]


def run_worker(runtime: ServiceRuntime) -> None:
    """Run a bus worker with its small health/metrics HTTP server until SIGTERM/SIGINT."""

    async def main() -> None:
        app = Starlette(routes=runtime.health_routes())
        config = uvicorn.Config(
            app,
            host=runtime.settings.http_host,
            port=runtime.settings.http_port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        server = uvicorn.Server(config)
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]  # we own SIGTERM
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await runtime.start()
        serve = asyncio.create_task(server.serve())
        await stop.wait()
        server.should_exit = True
        await runtime.stop()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(serve, 5)

    asyncio.run(main())
