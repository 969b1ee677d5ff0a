"""Key states from ingest are applied only when their signature verifies under the shared pepper,
also after the JSON round trip the bus puts them through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cqox_contracts.v1 import KeyRevoked, parse_event
from cqox_notification.keys import signature_problem
from cqox_shared.auth import key_state_signature

PEPPER = b"p" * 32


def signed(**changes: object) -> KeyRevoked:
    state = {
        "key_id": "0123456789abcdef",
        "tenant_id": "acme",
        "role": "viewer",
        "digest": "ab" * 32,
        "expires_at": datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "revoked_at": datetime.now(UTC) - timedelta(seconds=1),
    }
    event = KeyRevoked(
        correlation_id="k", producer="ingest", signature=key_state_signature(PEPPER, **state), **state
    )  # type: ignore[arg-type]
    return event.model_copy(update=changes)


def test_a_signed_state_verifies_after_a_json_round_trip() -> None:
    event = parse_event(signed().model_dump_json())
    assert isinstance(event, KeyRevoked) and signature_problem(event, PEPPER) is None


@pytest.mark.parametrize(
    "change",
    [
        {"tenant_id": "globex"},
        {"role": "admin"},
        {"digest": "cd" * 32},
        {"expires_at": datetime(2031, 1, 1, tzinfo=UTC)},
        {"revoked_at": None},
        {"signature": ""},
    ],
)
def test_a_changed_state_does_not_verify(change: dict[str, object]) -> None:
    problem = signature_problem(signed(**change), PEPPER)
    assert problem is not None and "CQOX_AUTH_PEPPER" in problem


def test_another_pepper_does_not_verify() -> None:
    assert signature_problem(signed(), b"q" * 32) is not None
