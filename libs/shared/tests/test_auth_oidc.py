"""OIDC bearer tokens verified against a JWKS served by a local issuer this test starts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import HTTPException
from starlette.requests import Request

from cqox_shared.auth import ApiKeyAuth, OidcConfig, Principal

ISSUER, AUDIENCE = "https://issuer.test", "cqox-api"


class LocalIssuer:
    """An RSA and an EC signing key, their JWKS served over HTTP on a free loopback port."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        keys = [
            {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key())), "kid": "rsa-1"},
            {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key())), "kid": "ec-1"},
        ]
        body = json.dumps({"keys": keys}).encode()
        self.fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.jwks_url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"

    def token(self, *, kid: str = "rsa-1", **claims: Any) -> str:
        """A token with sensible defaults; any claim can be overridden or set to None to drop it."""
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + 300}
        payload |= {"tenant": "acme", "roles": ["analyst"]}
        payload |= claims
        payload = {k: v for k, v in payload.items() if v is not None}
        key, alg = (self.rsa, "RS256") if kid.startswith("rsa") else (self.ec, "ES256")
        return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    running = LocalIssuer()
    yield running
    running.close()


def _auth(issuer: LocalIssuer, **overrides: Any) -> ApiKeyAuth:
    config = OidcConfig(jwks_url=issuer.jwks_url, issuer=ISSUER, audience=AUDIENCE, **overrides)
    return ApiKeyAuth("", pepper=b"x" * 32, oidc=config, service="t")


def _request(token: str) -> Request:
    headers = [(b"authorization", f"Bearer {token}".encode())]
    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers, "client": ("1.2.3.4", 1)}
    return Request(scope)


async def test_valid_tokens_of_both_key_types(issuer: LocalIssuer) -> None:
    auth = _auth(issuer)
    principal = await auth.authenticate(_request(issuer.token()))
    assert principal == Principal("acme", "analyst")
    assert principal.subject == "user-1" and principal.method == "token"
    ec_token = issuer.token(kid="ec-1", roles="viewer", tenant="globex")
    assert await auth.authenticate(_request(ec_token)) == Principal("globex", "viewer")
    # the synchronous path (rate limiter) verifies the same token
    assert auth(_request(issuer.token())) == Principal("acme", "analyst")


async def test_configurable_claim_names_and_highest_role(issuer: LocalIssuer) -> None:
    auth = _auth(issuer, tenant_claim="org", role_claim="cqox/roles")
    token = issuer.token(org="initech", tenant=None, roles=None, **{"cqox/roles": ["viewer", "admin", "x"]})
    assert await auth.authenticate(_request(token)) == Principal("initech", "admin")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"iss": "https://evil.test"}, "issuer"),
        ({"aud": "another-api"}, "audience"),
        ({"exp": None}, "exp"),
        ({"tenant": None}, "tenant"),
        ({"roles": ["owner"]}, "role"),
    ],
)
async def test_bad_tokens_are_401(issuer: LocalIssuer, claims: dict[str, Any], reason: str) -> None:
    with pytest.raises(HTTPException) as info:
        await _auth(issuer).authenticate(_request(issuer.token(**claims)))
    assert info.value.status_code == 401
    assert reason in str(info.value.detail).lower()


async def test_clock_skew_leeway(issuer: LocalIssuer) -> None:
    token = issuer.token(exp=int(time.time()) - 10)
    assert await _auth(issuer, leeway_s=60).authenticate(_request(token)) == Principal("acme", "analyst")
    with pytest.raises(HTTPException):
        await _auth(issuer, leeway_s=0).authenticate(_request(token))


async def test_a_token_signed_by_another_key_is_401(issuer: LocalIssuer) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": now + 60, "tenant": "acme", "roles": "admin"}
    forged = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "rsa-1"})
    with pytest.raises(HTTPException) as info:
        await _auth(issuer).authenticate(_request(forged))
    assert info.value.status_code == 401
    unknown_kid = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "nope"})
    with pytest.raises(HTTPException):
        await _auth(issuer).authenticate(_request(unknown_kid))


async def test_alg_none_and_hmac_confusion_are_refused(issuer: LocalIssuer) -> None:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": now + 60, "tenant": "acme", "roles": "admin"}
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": "rsa-1"})
    with pytest.raises(HTTPException):
        await _auth(issuer).authenticate(_request(unsigned))
    # HS256 "signed" with the issuer's public key as the shared secret (the classic confusion attack)
    public_pem = issuer.rsa.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    body = _b64(json.dumps(claims).encode())
    mac = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    confused = f"{header}.{body}.{_b64(mac)}"
    with pytest.raises(HTTPException) as info:
        await _auth(issuer).authenticate(_request(confused))
    assert info.value.status_code == 401


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_unreachable_jwks_is_401_not_500() -> None:
    config = OidcConfig(jwks_url="http://127.0.0.1:9/jwks.json", issuer=ISSUER, audience=AUDIENCE)
    auth = ApiKeyAuth("", oidc=config)
    token = jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256", headers={"kid": "a"})
    with pytest.raises(HTTPException) as info:
        await auth.authenticate(_request(token))
    assert info.value.status_code == 401


async def test_jwks_is_cached(issuer: LocalIssuer) -> None:
    auth = _auth(issuer)
    before = issuer.fetches
    for _ in range(5):
        await auth.authenticate(_request(issuer.token()))
    assert issuer.fetches - before == 1
