"""Webhook signing, retry backoff, target validation and the private-address policy."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from cqox_notification import domain
from cqox_notification.domain import (
    ALLOW_PRIVATE_TARGETS_ENV,
    DEFAULT_EVENT_TYPES,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    backoff_s,
    new_secret,
    non_public_kind,
    refused_target,
    sign,
    validate_target,
    verify,
)

SECRET = "s3cr3t-for-tests"
TS = 1_700_000_000
BODY = b'{"event_type":"report.generated","analysis_id":"a1","headline":"ATE 1.2"}'


def test_signature_format() -> None:
    signature = sign(SECRET, TS, BODY)
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", signature)


def test_signature_matches_independent_hmac() -> None:
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, TS, BODY) == f"sha256={expected}"


def test_signature_of_empty_body_and_unicode_secret() -> None:
    secret = "秘密-key"
    expected = hmac.new(secret.encode("utf-8"), b"42.", hashlib.sha256).hexdigest()
    assert sign(secret, 42, b"") == f"sha256={expected}"
    assert verify(secret, 42, b"", f"sha256={expected}")


def test_sign_verify_round_trip() -> None:
    signature = sign(SECRET, TS, BODY)
    assert verify(SECRET, TS, BODY, signature)
    assert sign(SECRET, TS, BODY) == signature  # deterministic


def test_tampering_is_detected() -> None:
    signature = sign(SECRET, TS, BODY)
    assert not verify(SECRET, TS, BODY + b" ", signature)
    assert not verify(SECRET, TS, BODY.replace(b"1.2", b"9.9"), signature)
    assert not verify(SECRET, TS + 1, BODY, signature)
    assert not verify(SECRET + "x", TS, BODY, signature)
    assert not verify(SECRET, TS, BODY, signature.upper())
    assert not verify(SECRET, TS, BODY, signature.removeprefix("sha256="))
    assert not verify(SECRET, TS, BODY, "")


def test_timestamp_and_body_are_separated() -> None:
    # "<ts>.<body>": moving digits between timestamp and body must change the signature
    assert sign(SECRET, 12, b"3") != sign(SECRET, 1, b"23")


def test_verify_non_ascii_signature_is_false() -> None:
    assert verify(SECRET, TS, BODY, "sha256=é") is False


def test_new_secret_is_random_and_long() -> None:
    secrets = {new_secret() for _ in range(20)}
    assert len(secrets) == 20
    assert all(len(s) >= 40 and re.fullmatch(r"[A-Za-z0-9_\-]+", s) for s in secrets)


def test_constants() -> None:
    assert SIGNATURE_HEADER == "X-Cqox-Signature"
    assert TIMESTAMP_HEADER == "X-Cqox-Timestamp"
    assert "report.generated" in DEFAULT_EVENT_TYPES


def test_backoff_doubles_from_base() -> None:
    assert [backoff_s(n, 2.0) for n in range(1, 6)] == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert [backoff_s(n, 0.5, cap_s=10.0) for n in range(1, 4)] == [0.5, 1.0, 2.0]


def test_backoff_is_capped() -> None:
    assert backoff_s(8, 2.0) == 256.0
    assert backoff_s(9, 2.0) == 300.0
    assert backoff_s(50, 2.0) == 300.0
    assert backoff_s(4, 5.0, cap_s=30.0) == 30.0
    assert isinstance(backoff_s(1, 1), float)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/cqox",
        "http://127.0.0.1:8080/hook?x=1",
        "HTTPS://Example.COM/path",
        "http://[::1]:9000/h",
    ],
)
def test_validate_target_accepts(url: str) -> None:
    assert validate_target(url) is None


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://example.com/hook", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("", "http:// or https://"),
        ("http://", "no host"),
        ("https:///path-only", "no host"),
        ("http://:8080/x", "no host"),
    ],
)
def test_validate_target_rejects(url: str, fragment: str) -> None:
    problem = validate_target(url)
    assert problem is not None
    assert fragment in problem


def test_validate_target_malformed_ipv6_returns_reason() -> None:
    assert validate_target("http://[::1/hook") is not None


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("10.0.0.5", "a private address"),
        ("172.16.3.4", "a private address"),
        ("192.168.1.10", "a private address"),
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("169.254.169.254", "a link-local address"),  # cloud metadata
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("100.100.100.200", "a non-public address"),  # shared address space (Alibaba metadata)
        ("::1", "a loopback address"),
        ("::", "an unspecified address"),
        ("fc00::1", "a private address"),
        ("fd12:3456::1", "a private address"),
        ("fe80::1", "a link-local address"),
        ("fe80::1%eth0", "a link-local address"),
        ("ff02::1", "a multicast address"),
        ("::ffff:10.0.0.1", "the IPv4-mapped form of 10.0.0.1, a private address"),
        ("::ffff:127.0.0.1", "the IPv4-mapped form of 127.0.0.1, a loopback address"),
        ("::ffff:169.254.169.254", "the IPv4-mapped form of 169.254.169.254, a link-local address"),
        ("64:ff9b::a00:1", "the NAT64 form of 10.0.0.1, a private address"),
        ("2002:a00:1::", "the 6to4 form of 10.0.0.1, a private address"),
        ("not-an-ip", "an unrecognised address"),
    ],
)
def test_non_public_addresses_are_named(address: str, kind: str) -> None:
    assert non_public_kind(address) == kind


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "8.8.8.8",
        "2606:2800:220:1:248:1893:25c8:1946",
        "::ffff:93.184.216.34",
        "64:ff9b::808:808",
    ],
)
def test_public_addresses_are_accepted(address: str) -> None:
    assert non_public_kind(address) is None
    assert refused_target("hooks.example.com", [address]) is None


def test_refusal_says_what_resolved_where_and_how_to_allow() -> None:
    reason = refused_target("example.internal", ["10.0.0.5"])
    assert reason == (
        "the webhook URL's host example.internal resolves to 10.0.0.5, a private address; webhooks must "
        "reach a public address (an operator can allow private targets with "
        f"{ALLOW_PRIVATE_TARGETS_ENV}=true)"
    )
    assert ALLOW_PRIVATE_TARGETS_ENV == "CQOX_WEBHOOK_ALLOW_PRIVATE_TARGETS"


def test_refusal_of_a_literal_address_host() -> None:
    assert refused_target("127.0.0.1", ["127.0.0.1"]).startswith(  # type: ignore[union-attr]
        "the webhook URL's host 127.0.0.1 is a loopback address;"
    )
    assert refused_target("::1", ["::1"]).startswith(  # type: ignore[union-attr]
        "the webhook URL's host ::1 is a loopback address;"
    )


def test_one_private_address_among_public_ones_refuses() -> None:
    reason = refused_target("mixed.example.com", ["93.184.216.34", "169.254.169.254"])
    assert reason is not None and "169.254.169.254, a link-local address" in reason
    assert refused_target("mixed.example.com", []) is None  # nothing to refuse; resolution decides


def test_short_and_overlong_secrets_are_refused_with_the_bounds() -> None:
    assert domain.secret_problem("x" * domain.MIN_SECRET_LENGTH) is None
    short = domain.secret_problem("s3cret")
    assert short is not None and f"at least {domain.MIN_SECRET_LENGTH}" in short and "6 characters" in short
    assert "at most" in (domain.secret_problem("x" * (domain.MAX_SECRET_LENGTH + 1)) or "")
    assert domain.secret_problem(domain.new_secret()) is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:tok@hooks.example.com:8443/T0/B1?key=x#f", "https://hooks.example.com:8443/…"),
        ("http://hooks.example.com/services/T0/B1/XYZ", "http://hooks.example.com/…"),
        ("http://[2001:db8::1]:9000/h?sig=abc", "http://[2001:db8::1]:9000/…"),
        ("ftp://x/y", "…"),
        ("http://[::1/h", "…"),
    ],
)
def test_redacted_urls_keep_only_scheme_host_and_port(url: str, shown: str) -> None:
    assert domain.redact_url(url) == shown


def test_target_key_is_the_receiver_not_the_path() -> None:
    assert domain.target_key("https://H.example/a?x") == domain.target_key("https://h.example:443/b")
    assert domain.target_key("http://h.example/a") != domain.target_key("http://h.example:8080/a")


def _due(tenant: str, target: str, n: int) -> list[domain.DueDelivery]:
    return [domain.DueDelivery(f"{tenant}-{target}-{i}", tenant, target) for i in range(n)]


def test_fair_pick_round_robins_tenants_and_skips_a_full_target() -> None:
    limits = domain.DispatchLimits(concurrency=8, per_target=2, per_tenant=5)
    due = _due("a", "slow", 10) + _due("a", "other", 1) + _due("b", "fast", 3)
    picked = domain.fair_pick(due, busy_targets={}, busy_tenants={}, limits=limits, free=8)
    assert [p.delivery_id for p in picked] == [
        "a-slow-0", "b-fast-0", "a-other-0", "b-fast-1", "a-slow-1",
    ]  # fmt: skip
    # The slow receiver already at its limit: it gets nothing, the others still go.
    busy = domain.fair_pick(due, busy_targets={"slow": 2}, busy_tenants={"a": 2}, limits=limits, free=8)
    assert {p.target for p in busy} == {"other", "fast"} and len(busy) == 1 + 2


def test_fair_pick_honours_the_tenant_limit_free_slots_and_rotation() -> None:
    limits = domain.DispatchLimits(concurrency=4, per_target=10, per_tenant=2)
    due = _due("a", "x", 5) + _due("b", "y", 5)
    picked = domain.fair_pick(due, busy_targets={}, busy_tenants={"a": 1}, limits=limits, free=10)
    assert [p.tenant_id for p in picked] == ["a", "b", "b"]
    assert domain.fair_pick(due, busy_targets={}, busy_tenants={}, limits=limits, free=1) == due[:1]
    rotated = domain.fair_pick(due, busy_targets={}, busy_tenants={}, limits=limits, free=1, first_tenant=1)
    assert [p.tenant_id for p in rotated] == ["b"]
    assert domain.fair_pick([], busy_targets={}, busy_tenants={}, limits=limits, free=3) == []
