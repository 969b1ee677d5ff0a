"""The target check with real address resolution (IP literals only: no DNS server needed)."""

from __future__ import annotations

import pytest

from cqox_notification.targets import target_problem


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
