"""The chart carries per-service NATS credentials (SECURITY.md: the bus is a trust boundary): a
Secret with one password per service user and the nats-server authorization block, each pod
reading only its own user's password."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python
import pytest

from tests.deploy.test_helm import CHART_DIR, container, of_kind, render

CHART_FILES = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "cqox" / "files"
PERMISSIONS = json.loads((CHART_FILES / "nats-permissions.json").read_text())
PASSWORDS = {user: f"{user}-nats-password-0123456789" for user in [*PERMISSIONS, "admin"]}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm_python.Chart]:
    with helm_python.Chart.load(CHART_DIR) as loaded:
        yield loaded


def _auth(**values: Any) -> dict[str, Any]:
    return {"nats": {"auth": {"enabled": True, **values}}}


def test_pods_connect_as_their_services_user_with_its_password_only(chart):  # type: ignore[no-untyped-def]
    docs = render(chart, _auth(passwords=PASSWORDS))
    secret = of_kind(docs, "Secret")["cqox-nats"]
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert {k: v for k, v in data.items() if k != "authorization.conf"} == {
        u: PASSWORDS[u] for u in PERMISSIONS
    }
    deployments = of_kind(docs, "Deployment")
    assert deployments
    for name, deployment in deployments.items():
        ctr = container(deployment)
        env = {e["name"]: e for e in ctr["env"]}
        user = "estimator" if name.startswith("cqox-estimator") else name.removeprefix("cqox-")
        assert env["CQOX_NATS_USER"]["value"] == user, name
        ref = env["CQOX_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "cqox-nats", "key": user}, name
        # the NATS Secret is never loaded whole: a pod cannot read another service's password
        assert {"secretRef": {"name": "cqox-nats"}} not in ctr["envFrom"], name
        assert "checksum/nats" in deployment["spec"]["template"]["metadata"]["annotations"]
        for password in PASSWORDS.values():
            assert password not in json.dumps(deployment)


def test_the_authorization_block_limits_each_user_to_its_declared_flows(chart):  # type: ignore[no-untyped-def]
    docs = render(chart, _auth(passwords=PASSWORDS))
    conf = base64.b64decode(of_kind(docs, "Secret")["cqox-nats"]["data"]["authorization.conf"]).decode()
    match = re.fullmatch(r"authorization: (.*)\n", conf, re.DOTALL)
    assert match is not None, conf
    users = {u["user"]: u for u in json.loads(match.group(1))["users"]}
    assert set(users) == {*PERMISSIONS, "admin"}
    assert "permissions" not in users["admin"]
    for user, perms in PERMISSIONS.items():
        assert users[user] == {"user": user, "password": PASSWORDS[user], "permissions": perms}


def test_a_missing_password_fails_rendering_with_the_users_named(chart):  # type: ignore[no-untyped-def]
    partial = {k: v for k, v in PASSWORDS.items() if k not in ("mapping", "estimator")}
    with pytest.raises(Exception, match="missing: estimator, mapping"):
        render(chart, _auth(passwords=partial))


def test_an_existing_secret_replaces_the_rendered_one(chart):  # type: ignore[no-untyped-def]
    docs = render(chart, _auth(existingSecret="managed-nats"))
    assert "cqox-nats" not in of_kind(docs, "Secret")
    for deployment in of_kind(docs, "Deployment").values():
        env = {e["name"]: e for e in container(deployment)["env"]}
        assert env["CQOX_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "managed-nats"
        assert "checksum/nats" not in deployment["spec"]["template"]["metadata"]["annotations"]


def test_auth_off_renders_no_nats_credentials(chart):  # type: ignore[no-untyped-def]
    docs = render(chart, {})
    assert "cqox-nats" not in of_kind(docs, "Secret")
    for deployment in of_kind(docs, "Deployment").values():
        assert "CQOX_NATS_USER" not in {e["name"] for e in container(deployment)["env"]}


def test_a_short_password_is_refused_by_the_schema(chart):  # type: ignore[no-untyped-def]
    with pytest.raises(Exception, match=r"minLength|at least 16|too short"):
        render(chart, _auth(passwords={**PASSWORDS, "ingest": "short"}))
