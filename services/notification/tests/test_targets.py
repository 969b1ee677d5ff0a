"""The target check: real address resolution for IP literals (no DNS server needed), and a fake
resolver at the DNS boundary for names (what the check pins the request to)."""

from __future__ import annotations

import pytest

from cqox_notification import targets
from cqox_notification.targets import PinnedTarget, TargetProblem, check_target, target_problem


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://127.0.0.1:9/hook", "host 127.0.0.1 is a loopback address"),
        ("http://[::1]:9000/h", "host ::1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
        ("http://10.0.0.5/hook", "a private address"),
        ("http://[::ffff:10.0.0.1]/hook", "the IPv4-mapped form of 10.0.0.1, a private address"),
        ("http://2130706433/hook", "host 2130706433 resolves to 127.0.0.1, a loopback address"),
        ("http://0x7f.1/hook", "resolves to 127.0.0.1, a loopback address"),
    ],
)
async def test_private_targets_are_refused_for_good(url: str, fragment: str) -> None:
    problem = await target_problem(url, allow_private=False)
    assert problem is not None and problem.permanent
    assert fragment in problem.reason
    assert "CQOX_WEBHOOK_ALLOW_PRIVATE_TARGETS=true" in problem.reason


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://[::1]/", "http://169.254.169.254/"])
async def test_operator_may_allow_private_targets(url: str) -> None:
    assert await target_problem(url, allow_private=True) is None


async def test_public_literal_is_accepted() -> None:
    assert await target_problem("https://93.184.216.34/hook", allow_private=False) is None


async def test_malformed_url_is_refused_before_resolving() -> None:
    problem = await target_problem("ftp://127.0.0.1/", allow_private=True)
    assert problem is not None and problem.permanent and "http:// or https://" in problem.reason


async def test_unresolvable_host_is_a_transient_problem() -> None:
    problem = await target_problem("http://no-such-host.invalid/hook", allow_private=False, timeout_s=3)
    assert problem is not None and not problem.permanent
    assert "no-such-host.invalid" in problem.reason
    assert "resolve" in problem.reason


def _fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Make `targets.resolve` answer from `answers`; returns the hosts it was asked about."""
    asked: list[str] = []

    async def resolve(host: str) -> list[str]:
        asked.append(host)
        if host not in answers:
            raise OSError(f"no fake answer for {host}")
        return answers[host]

    monkeypatch.setattr(targets, "resolve", resolve)
    return asked


async def test_https_name_is_pinned_to_its_first_checked_address(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dns(monkeypatch, {"hooks.example.com": ["93.184.216.34", "93.184.216.35"]})
    target = await check_target("https://Hooks.Example.com/hook?x=1", allow_private=False)
    assert target == PinnedTarget(
        "https://93.184.216.34/hook?x=1",
        {"Host": "hooks.example.com"},
        {"sni_hostname": "hooks.example.com"},
    )


async def test_http_name_keeps_its_explicit_port_and_has_no_tls_name(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dns(monkeypatch, {"hooks.example.com": ["93.184.216.34"]})
    target = await check_target("http://user:pw@hooks.example.com:8080/h", allow_private=False)
    assert target == PinnedTarget(
        "http://user:pw@93.184.216.34:8080/h", {"Host": "hooks.example.com:8080"}, {}
    )


async def test_ipv6_address_is_bracketed(monkeypatch: pytest.MonkeyPatch) -> None:
    # getaddrinfo's order is kept (the system's preference), not sorted.
    _fake_dns(monkeypatch, {"v6.example.com": ["2606:2800:220:1::1", "93.184.216.34"]})
    target = await check_target("https://v6.example.com:8443/h", allow_private=False)
    assert target == PinnedTarget(
        "https://[2606:2800:220:1::1]:8443/h",
        {"Host": "v6.example.com:8443"},
        {"sni_hostname": "v6.example.com"},
    )


async def test_default_port_is_not_added_to_the_host_header(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dns(monkeypatch, {"hooks.example.com": ["93.184.216.34"]})
    target = await check_target("https://hooks.example.com:443/", allow_private=False)
    assert isinstance(target, PinnedTarget)
    assert target.url == "https://93.184.216.34/" and target.headers == {"Host": "hooks.example.com"}


async def test_name_with_one_public_and_one_private_address_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fake_dns(monkeypatch, {"mixed.example.com": ["93.184.216.34", "10.0.0.5"]})
    target = await check_target("https://mixed.example.com/hook", allow_private=False)
    assert isinstance(target, TargetProblem) and target.permanent
    assert "host mixed.example.com resolves to 10.0.0.5, a private address" in target.reason


async def test_numeric_host_forms_are_resolved_and_pinned_not_trusted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 1572395042 is not an IP literal to httpx, which would hand it to getaddrinfo when
    # connecting: it is checked and pinned like a name, never used as is.
    asked = _fake_dns(monkeypatch, {"1572395042": ["93.184.216.34"]})
    target = await check_target("http://1572395042/hook", allow_private=False)
    assert target == PinnedTarget("http://93.184.216.34/hook", {"Host": "1572395042"}, {})
    assert asked == ["1572395042"]


async def test_ip_literal_is_used_as_is_without_a_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _fake_dns(monkeypatch, {})
    assert await check_target("https://93.184.216.34/hook", allow_private=False) == PinnedTarget(
        "https://93.184.216.34/hook"
    )
    assert await check_target("http://[2606:2800:220:1::1]:81/", allow_private=False) == PinnedTarget(
        "http://[2606:2800:220:1::1]:81/"
    )
    assert asked == []


async def test_allowed_private_targets_are_neither_resolved_nor_pinned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = _fake_dns(monkeypatch, {})
    url = "https://internal.example.com/hook"
    assert await check_target(url, allow_private=True) == PinnedTarget(url)
    assert asked == []
