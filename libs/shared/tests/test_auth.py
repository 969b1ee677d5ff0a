"""API-key parsing, the auth dependency and role checks."""

from __future__ import annotations

import pytest
from fastapi import HTTPException
from starlette.requests import Request

from cqox_shared.auth import ApiKeyAuth, AuthNotConfigured, Principal, parse_api_keys

SPEC = "k-admin:tenant-a:admin, k-analyst:tenant-a:analyst,k-viewer:tenant-b:viewer"


def _request(headers: dict[str, str] | list[tuple[bytes, bytes]] | None = None) -> Request:
    if isinstance(headers, dict):
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    else:
        raw = headers or []
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1/analyses",
        "raw_path": b"/v1/analyses",
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 12345),
        "http_version": "1.1",
        "headers": raw,
    }
    return Request(scope)


def test_parse_api_keys_good() -> None:
    keys = parse_api_keys(SPEC)
    assert keys == {
        "k-admin": Principal("tenant-a", "admin"),
        "k-analyst": Principal("tenant-a", "analyst"),
        "k-viewer": Principal("tenant-b", "viewer"),
    }


@pytest.mark.parametrize("spec", ["", "   ", ",", " , ,"])
def test_parse_api_keys_empty(spec: str) -> None:
    assert parse_api_keys(spec) == {}


@pytest.mark.parametrize(
    "entry",
    [
        "key-only",
        "key:tenant",
        "key:tenant:owner",
        "key:tenant:Admin",
        ":tenant:admin",
        "key::admin",
        "key:tenant:admin:extra",
    ],
)
def test_parse_api_keys_bad_entries(entry: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_api_keys(f"ok:t:viewer,{entry}")
    message = str(info.value)
    assert repr(entry) in message
    assert "key:tenant:viewer|analyst|admin" in message


def test_no_keys_refuses_to_start_unless_auth_is_disabled() -> None:
    with pytest.raises(AuthNotConfigured) as info:
        ApiKeyAuth("", default_tenant="acme")
    assert "CQOX_API_KEYS" in str(info.value) and "CQOX_AUTH=disabled" in str(info.value)
    with pytest.raises(AuthNotConfigured, match="both set"):
        ApiKeyAuth(SPEC, mode="disabled")
    with pytest.raises(AuthNotConfigured, match="not one of"):
        ApiKeyAuth(SPEC, mode="off")


def test_auth_disabled_explicitly_means_default_admin() -> None:
    auth = ApiKeyAuth("", default_tenant="acme", mode="disabled")
    assert not auth.enabled
    principal = auth(_request())
    assert principal == Principal("acme", "admin")
    # even a bogus key is accepted in embedded/dev mode
    assert auth(_request({"X-API-Key": "whatever"})) == Principal("acme", "admin")


def test_x_api_key_header() -> None:
    auth = ApiKeyAuth(SPEC)
    assert auth.enabled
    assert auth(_request({"X-API-Key": "k-analyst"})) == Principal("tenant-a", "analyst")
    assert auth(_request({"x-api-key": "k-viewer"})) == Principal("tenant-b", "viewer")


@pytest.mark.parametrize("value", ["Bearer k-admin", "bearer k-admin", "BEARER   k-admin  "])
def test_bearer_token(value: str) -> None:
    auth = ApiKeyAuth(SPEC)
    assert auth(_request({"Authorization": value})) == Principal("tenant-a", "admin")


def test_x_api_key_takes_precedence_over_bearer() -> None:
    auth = ApiKeyAuth(SPEC)
    request = _request({"X-API-Key": "k-viewer", "Authorization": "Bearer k-admin"})
    assert auth(request) == Principal("tenant-b", "viewer")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": ""},
        {"X-API-Key": "wrong"},
        {"X-API-Key": "k-admin "},  # no trimming of the X-API-Key value
        {"X-API-Key": "K-ADMIN"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic azphZG1pbg=="},
        {"Authorization": "k-admin"},
        {"Authorization": "Bearer "},
    ],
)
def test_wrong_or_missing_key_is_401(headers: dict[str, str]) -> None:
    auth = ApiKeyAuth(SPEC)
    with pytest.raises(HTTPException) as info:
        auth(_request(headers))
    assert info.value.status_code == 401
    assert "X-API-Key" in str(info.value.detail)


def test_non_ascii_key_is_401_not_500() -> None:
    auth = ApiKeyAuth(SPEC)
    with pytest.raises(HTTPException) as info:
        auth(_request([(b"x-api-key", "k-\xe9".encode("latin-1"))]))
    assert info.value.status_code == 401


@pytest.mark.parametrize(
    ("role", "needed", "allowed"),
    [
        ("viewer", "viewer", True),
        ("viewer", "analyst", False),
        ("viewer", "admin", False),
        ("analyst", "viewer", True),
        ("analyst", "analyst", True),
        ("analyst", "admin", False),
        ("admin", "viewer", True),
        ("admin", "analyst", True),
        ("admin", "admin", True),
    ],
)
def test_require_role_ranking(role: str, needed: str, allowed: bool) -> None:
    principal = Principal("t", role)  # type: ignore[arg-type]
    if allowed:
        principal.require(needed)  # type: ignore[arg-type]
        return
    with pytest.raises(HTTPException) as info:
        principal.require(needed)  # type: ignore[arg-type]
    assert info.value.status_code == 403
    assert f"'{role}'" in str(info.value.detail)
    assert f"'{needed}' or higher" in str(info.value.detail)


def _docs_app(auth: ApiKeyAuth):  # type: ignore[no-untyped-def]
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from cqox_shared.auth import install_docs

    app = FastAPI(title="t", docs_url=None, redoc_url=None, openapi_url=None)
    install_docs(app, auth)

    @app.get("/v1/thing")
    async def thing() -> dict[str, bool]:
        return {"ok": True}

    return TestClient(app)


def test_docs_follow_the_api_key_rule() -> None:
    client = _docs_app(ApiKeyAuth(SPEC))
    for path in ("/docs", "/openapi.json"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers={"X-API-Key": "k-viewer"}).status_code == 200, path
    assert client.get("/redoc").status_code == 404
    page = client.get("/docs", headers={"X-API-Key": "k-viewer"}).text
    assert "/v1/thing" in page  # the schema travels inline: the browser needs no second request


def test_docs_are_open_when_auth_is_disabled() -> None:
    client = _docs_app(ApiKeyAuth("", mode="disabled"))
    assert client.get("/docs").status_code == 200
    assert "/v1/thing" in client.get("/openapi.json").text
