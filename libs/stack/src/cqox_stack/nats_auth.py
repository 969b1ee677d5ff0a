"""NATS users and their permissions, derived from the services' declared flows (ADR 0016).

The bus is a trust boundary (SECURITY.md): every service connects as its own user, which may publish
only the subjects its flows declare (`Subscription(publishes=...)`, the runtime's `publishes=`, and
the dead-letter events every consumer may say), plus the JetStream API calls a consumer makes. It
subscribes to reply inboxes only: pull consumers deliver there. An `admin` user (operators, tests)
has no limits.

    python -m cqox_stack.flows --write    # rewrites them with README's subject table (`make flows`)

The committed copies: `nats_permissions.json` beside this module (the embedded stack reads it),
`deploy/helm/cqox/files/nats-permissions.json` (the chart renders the nats-server authorization
block from it) and `deploy/nats/auth.conf` (docker-compose.yml's nats-server, passwords from the
environment). `libs/stack/tests/test_nats_auth.py` fails when one differs from the flows.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cqox_shared.bus import DEAD_LETTER_PUBLISHES

PERMISSIONS_PATH = Path(__file__).resolve().with_name("nats_permissions.json")
CHART_PERMISSIONS_PATH = (
    Path(__file__).resolve().parents[4] / "deploy" / "helm" / "cqox" / "files" / "nats-permissions.json"
)
COMPOSE_CONFIG_PATH = Path(__file__).resolve().parents[4] / "deploy" / "nats" / "auth.conf"
ADMIN = "admin"

# What a service's connection does besides publishing events: create/update the v1 streams and the
# advisory stream, add durable pull consumers and pull from them, read a message by sequence (the
# advisory listener), ack/nak/in-progress, flow control of ordered consumers. Deleting or purging a
# stream is not among them.
JETSTREAM_API = (
    "$JS.API.INFO",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.LIST",
    "$JS.API.STREAM.INFO.>",
    "$JS.API.STREAM.CREATE.>",
    "$JS.API.STREAM.UPDATE.>",
    "$JS.API.STREAM.MSG.GET.>",
    "$JS.API.DIRECT.GET.>",
    "$JS.API.CONSUMER.>",
    "$JS.ACK.>",
    "$JS.FC.>",
)
# Key-value buckets a service keeps besides its events (put and purge are publishes to $KV.<bucket>.>).
KV_BUCKETS = {"estimator": ("CQOX_ESTIMATOR_POOLS",)}
INBOXES = "_INBOX.>"


def publish_subjects(runtime: Any) -> list[str]:
    """Every subject `runtime` may publish: its declared events (a per-method subject for every
    method) and the dead-letter events, sorted."""
    classes = {cls for sub in runtime.subscriptions for cls in sub.publishes}
    classes |= {cls for said in runtime.publishes.values() for cls in said}
    classes |= set(DEAD_LETTER_PUBLISHES)
    return sorted({cls.subject_template.format(method="*") for cls in classes})


def permissions(runtimes: Sequence[Any]) -> dict[str, dict[str, dict[str, list[str]]]]:
    """{service user: nats-server permissions}, from each runtime's declared flows."""
    return {
        runtime.service: {
            "publish": {
                "allow": [
                    *publish_subjects(runtime),
                    *JETSTREAM_API,
                    *(f"$KV.{bucket}.>" for bucket in KV_BUCKETS.get(runtime.service, ())),
                ]
            },
            "subscribe": {"allow": [INBOXES]},
        }
        for runtime in sorted(runtimes, key=lambda r: r.service)
    }


def render(runtimes: Sequence[Any]) -> str:
    """The permissions as committed (sorted JSON, one trailing newline)."""
    return json.dumps(permissions(runtimes), indent=2, sort_keys=True) + "\n"


def load_permissions() -> dict[str, dict[str, dict[str, list[str]]]]:
    """The committed permissions of every service user."""
    return json.loads(PERMISSIONS_PATH.read_text())  # type: ignore[no-any-return]


def new_passwords(users: Sequence[str]) -> dict[str, str]:
    """A fresh random password for `admin` and each user."""
    return {user: secrets.token_urlsafe(24) for user in (ADMIN, *users)}


def authorization(passwords: dict[str, str], perms: dict[str, Any] | None = None) -> dict[str, Any]:
    """The nats-server `authorization` block: `admin` unlimited, each service user limited."""
    perms = load_permissions() if perms is None else perms
    users: list[dict[str, Any]] = [{"user": ADMIN, "password": passwords[ADMIN]}]
    users += [
        {"user": user, "password": passwords[user], "permissions": perms[user]}
        for user in sorted(perms)
        if user in passwords
    ]
    return {"users": users}


def password_variable(user: str) -> str:
    """The environment variable holding `user`'s password in docker-compose.yml."""
    if user == ADMIN:
        return "CQOX_NATS_ADMIN_PASSWORD"
    return "CQOX_NATS_PASSWORD_" + user.upper().replace("-", "_")


def compose_config(perms: dict[str, Any]) -> str:
    """The nats-server `authorization` block of docker-compose.yml: passwords from the environment
    (`$CQOX_NATS_PASSWORD_<USER>`, set by compose), permissions from the flows."""
    lines = [
        "# Generated by `make flows` (python -m cqox_stack.flows --write); do not edit.",
        "# Per-service users: each may publish only the subjects its declared flows say.",
        "authorization {",
        "  users = [",
        f'    {{user: "{ADMIN}", password: ${password_variable(ADMIN)}}}',
    ]
    lines += [
        f'    {{user: "{user}", password: ${password_variable(user)}, '
        f"permissions: {json.dumps(perms[user], sort_keys=True)}}}"
        for user in sorted(perms)
    ]
    return "\n".join([*lines, "  ]", "}"]) + "\n"


def write(runtimes: Sequence[Any]) -> None:
    """Rewrite the committed permission files from the services' runtimes (`make flows`)."""
    text = render(runtimes)
    PERMISSIONS_PATH.write_text(text)
    for path, content in (
        (CHART_PERMISSIONS_PATH, text),
        (COMPOSE_CONFIG_PATH, compose_config(json.loads(text))),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
