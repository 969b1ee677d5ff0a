"""Issued API keys: hashed at rest, checked against a key store, expiring and revocable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import HTTPException
from starlette.requests import Request

from cqox_shared.auth import AUTH_FAILURES, ApiKeyAuth, Principal, StoredKey, key_digest, new_key, split_key

PEPPER = b"p" * 32


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1/analyses/x",
        "raw_path": b"/v1/analyses/x",
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("10.1.2.3", 12345),
        "http_version": "1.1",
        "headers": raw,
        "state": {},
    }
    return Request(scope)


class MemoryStore:
    """A key store in a dict (the ingest database plays this part in production)."""

    def __init__(self) -> None:
        self.keys: dict[str, StoredKey] = {}
        self.lookups = 0

    async def find(self, key_id: str) -> StoredKey | None:
        self.lookups += 1
        return self.keys.get(key_id)


def _issue(store: MemoryStore, role: str = "analyst", **extra: object) -> str:
    issued = new_key()
    store.keys[issued.key_id] = StoredKey(
        issued.key_id,
        key_digest(PEPPER, issued.secret),
        "acme",
        role,
        **extra,  # type: ignore[arg-type]
    )
    return issued.token


def test_new_keys_are_random_and_parse_back() -> None:
    a, b = new_key(), new_key()
    assert a.key_id != b.key_id and a.secret != b.secret
    assert len(a.secret) >= 43  # 256 bits, base64url
    assert split_key(a.token) == (a.key_id, a.secret)
    assert split_key("cqox_nothex_" + a.secret) is None
    assert split_key("k-admin") is None


def test_digest_depends_on_the_pepper_and_is_not_the_secret() -> None:
    issued = new_key()
    digest = key_digest(PEPPER, issued.secret)
    assert issued.secret not in digest
    assert digest != key_digest(b"q" * 32, issued.secret)
    assert len(digest) == 64


def test_configured_keys_are_kept_only_as_digests() -> None:
    auth = ApiKeyAuth("plain-secret-key:acme:admin", pepper=PEPPER)
    assert "plain-secret-key" not in repr(auth.__dict__)
    principal = auth(_request({"X-API-Key": "plain-secret-key"}))
    assert principal == Principal("acme", "admin")
    assert principal.subject.startswith("config-") and principal.method == "key"


async def test_issued_key_found_in_the_store_then_cached() -> None:
    store = MemoryStore()
    token = _issue(store)
    auth = ApiKeyAuth("boot:acme:admin", pepper=PEPPER, store=store, service="t")
    with pytest.raises(HTTPException):  # the synchronous path does no I/O: not seen yet
        auth(_request({"X-API-Key": token}))
    principal = await auth.authenticate(_request({"Authorization": f"Bearer {token}"}))
    assert principal == Principal("acme", "analyst")
    assert principal.subject == split_key(token)[0]  # type: ignore[index]
    assert auth(_request({"X-API-Key": token})) == principal  # now cached
    await auth.authenticate(_request({"X-API-Key": token}))
    assert store.lookups == 1


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"revoked": True}, "revoked"),
        ({"expires_at": datetime.now(UTC) - timedelta(seconds=1)}, "expired"),
    ],
)
async def test_revoked_or_expired_keys_are_401(extra: dict[str, object], reason: str) -> None:
    store = MemoryStore()
    token = _issue(store, **extra)
    auth = ApiKeyAuth("boot:acme:admin", pepper=PEPPER, store=store, service="t")
    before = AUTH_FAILURES.labels("t", reason)._value.get()
    with pytest.raises(HTTPException) as info:
        await auth.authenticate(_request({"X-API-Key": token}))
    assert info.value.status_code == 401 and reason in str(info.value.detail)
    assert AUTH_FAILURES.labels("t", reason)._value.get() == before + 1


async def test_wrong_secret_with_a_known_key_id_is_401() -> None:
    store = MemoryStore()
    token = _issue(store)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    auth = ApiKeyAuth("boot:acme:admin", pepper=PEPPER, store=store, service="t")
    with pytest.raises(HTTPException) as info:
        await auth.authenticate(_request({"X-API-Key": forged}))
    assert info.value.status_code == 401


async def test_a_different_pepper_cannot_verify_a_stored_key() -> None:
    store = MemoryStore()
    token = _issue(store)
    auth = ApiKeyAuth("boot:acme:admin", pepper=b"other" * 8, store=store)
    with pytest.raises(HTTPException):
        await auth.authenticate(_request({"X-API-Key": token}))


async def test_forget_drops_a_revoked_key_from_the_cache() -> None:
    store = MemoryStore()
    token = _issue(store)
    key_id = split_key(token)[0]  # type: ignore[index]
    auth = ApiKeyAuth("boot:acme:admin", pepper=PEPPER, store=store)
    await auth.authenticate(_request({"X-API-Key": token}))
    old = store.keys[key_id]
    store.keys[key_id] = StoredKey(old.key_id, old.digest, old.tenant_id, old.role, revoked=True)
    auth.forget(key_id)
    with pytest.raises(HTTPException):
        await auth.authenticate(_request({"X-API-Key": token}))


async def test_missing_credentials_counted_and_logged(capsys: pytest.CaptureFixture[str]) -> None:
    auth = ApiKeyAuth("boot:acme:admin", pepper=PEPPER, service="t")
    before = AUTH_FAILURES.labels("t", "missing")._value.get()
    with pytest.raises(HTTPException) as info:
        await auth.authenticate(_request({}))
    assert info.value.status_code == 401
    assert info.value.headers == {"WWW-Authenticate": "Bearer"}
    assert AUTH_FAILURES.labels("t", "missing")._value.get() == before + 1


def test_without_a_configured_pepper_a_random_one_is_used() -> None:
    a = ApiKeyAuth("k:acme:admin")
    b = ApiKeyAuth("k:acme:admin")
    assert not a.pepper_configured and a.pepper != b.pepper
    assert a(_request({"X-API-Key": "k"})) == b(_request({"X-API-Key": "k"}))
