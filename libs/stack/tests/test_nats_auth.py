"""The bus as a trust boundary: the embedded nats-server requires credentials, and each service's
user may publish only the subjects its declared flows say (on a real nats-server)."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.errors import NoServersError

from cqox_shared.bus import Bus
from cqox_stack import nats_auth
from cqox_stack.flows import runtimes
from cqox_stack.processes import NatsServer


def test_committed_permissions_are_the_declared_flows() -> None:
    expected = nats_auth.render(runtimes())
    assert nats_auth.PERMISSIONS_PATH.read_text() == expected, "stale: run `make flows`"
    assert nats_auth.CHART_PERMISSIONS_PATH.read_text() == expected, "stale: run `make flows`"


def test_a_service_may_publish_its_own_events_and_never_anothers() -> None:
    perms = nats_auth.load_permissions()
    mapping = perms["mapping"]["publish"]["allow"]
    assert "cqox.v1.dataset.mapped" in mapping and "cqox.v1.dataset.qualified" not in mapping
    assert "cqox.v1.estimate.completed.*" in perms["estimator"]["publish"]["allow"]
    assert "cqox.v1.estimate.completed.*" not in perms["visualization"]["publish"]["allow"]
    for user, allowed in perms.items():
        assert not any(s in ("cqox.v1.>", ">", "$JS.API.>") for s in allowed["publish"]["allow"]), user
        assert allowed["subscribe"]["allow"] == ["_INBOX.>"], user


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    root = Path(tempfile.mkdtemp(prefix="nats-auth-"))
    nats_server = NatsServer(root)
    try:
        nats_server.start()
        yield nats_server
    finally:
        nats_server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_the_config_file_is_readable_by_its_owner_only(server: NatsServer) -> None:
    assert server.config_path.stat().st_mode & 0o077 == 0
    users = {u["user"] for u in json.loads(server.config_path.read_text())["authorization"]["users"]}
    assert users == {"admin", *nats_auth.load_permissions()}


async def test_a_client_without_credentials_or_with_a_wrong_password_is_refused(server: NatsServer) -> None:
    for kwargs in ({}, {"user": "mapping", "password": "not-the-password"}):
        errors: list[Exception] = []

        async def collect(exc: Exception, errors: list[Exception] = errors) -> None:
            errors.append(exc)

        with pytest.raises((NoServersError, nats.errors.Error, OSError)):
            await nats.connect(
                server.address, allow_reconnect=False, connect_timeout=2, error_cb=collect, **kwargs
            )
        assert any("authorization violation" in str(e).lower() for e in errors), errors


async def test_a_service_cannot_publish_to_a_subject_it_does_not_own(server: NatsServer) -> None:
    admin = Bus("admin")
    await admin.connect(server.url)
    await admin.ensure_streams()
    errors: list[Exception] = []

    async def collect(exc: Exception) -> None:
        errors.append(exc)

    creds = server.credentials("mapping")
    nc = await nats.connect(
        creds["CQOX_NATS_URL"],
        user=creds["CQOX_NATS_USER"],
        password=creds["CQOX_NATS_PASSWORD"],
        error_cb=collect,
        allow_reconnect=False,
    )
    js = nc.jetstream(timeout=1)
    try:
        ack = await js.publish("cqox.v1.dataset.mapped", b"{}")  # its own subject: stored
        assert ack.stream == "CQOX_DATASETS"
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await js.publish("cqox.v1.dataset.qualified", b"{}")  # quality-gate's: refused
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await js.publish("cqox.v1.estimate.completed.ols", b"{}")  # the estimator's
        await asyncio.sleep(0.2)
        assert sum("permissions violation for publish" in str(e).lower() for e in errors) >= 2, errors
        # nothing reached the streams: the refused subjects hold no message
        assert admin.js is not None
        for stream, subject in (
            ("CQOX_DATASETS", "cqox.v1.dataset.qualified"),
            ("CQOX_ESTIMATES", "cqox.v1.estimate.completed.ols"),
        ):
            with pytest.raises(nats.js.errors.NotFoundError):
                await admin.js.get_last_msg(stream, subject)
        # nor may it tap another service's traffic, or delete a stream
        await nc.subscribe("cqox.v1.>")
        await asyncio.sleep(0.2)
        assert any("permissions violation for subscription" in str(e).lower() for e in errors), errors
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await js.delete_stream("CQOX_DATASETS")
        assert (await admin.js.stream_info("CQOX_DATASETS")).config.name == "CQOX_DATASETS"
    finally:
        await nc.close()
        await admin.close()
