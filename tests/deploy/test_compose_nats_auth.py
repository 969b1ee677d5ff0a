"""docker-compose.yml runs nats-server with per-service users (SECURITY.md: the bus is a trust
boundary): the committed authorization block is the declared flows', and every CQOX service
connects as its own user with the password the server expects."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from cqox_stack import nats_auth
from tests.deploy.test_compose import CQOX_SERVICES, INTERPOLATION, env_of

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def test_the_servers_authorization_block_is_generated_from_the_flows() -> None:
    perms = nats_auth.load_permissions()
    assert nats_auth.COMPOSE_CONFIG_PATH.read_text() == nats_auth.compose_config(perms), "run `make flows`"
    conf = nats_auth.COMPOSE_CONFIG_PATH.read_text()
    for user, allowed in perms.items():
        line = next(x for x in conf.splitlines() if f'user: "{user}"' in x)
        assert json.loads(re.search(r"permissions: (\{.*\})\}$", line).group(1)) == allowed  # type: ignore[union-attr]


def test_every_service_connects_as_its_own_user_with_the_servers_password_variable() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    nats = services["nats"]
    assert "./deploy/nats/auth.conf:/etc/nats/auth.conf:ro" in nats["volumes"]
    assert nats["command"][:2] == ["-c", "/etc/nats/auth.conf"]
    server_env = env_of(nats)
    for name in CQOX_SERVICES:
        env = env_of(services[name])
        user = env["CQOX_NATS_USER"]
        assert user == ("estimator" if name.startswith("estimator") else name), name
        variable = nats_auth.password_variable(user)
        match = INTERPOLATION.fullmatch(env["CQOX_NATS_PASSWORD"])
        assert match is not None and match.group("var") == variable, name
        # the server reads the same variable, with the same development default
        assert server_env[variable] == env["CQOX_NATS_PASSWORD"], name
        assert "@" not in env["CQOX_NATS_URL"]  # no credentials in the URL
    assert set(nats_auth.load_permissions()) == {
        env_of(services[name])["CQOX_NATS_USER"] for name in CQOX_SERVICES
    }
