"""Webhook secrets at rest: sealed with the configured Fernet keys, opened by any of them."""

from __future__ import annotations

import pytest

from cqox_notification.sealing import SecretKeysInvalid, SecretSealer, generate_key


def test_a_sealed_secret_is_not_the_secret_and_opens_again() -> None:
    sealer = SecretSealer(generate_key())
    stored = sealer.seal("a-signing-secret-of-some-length")
    assert "a-signing-secret" not in stored and stored.startswith("fernet:")
    assert sealer.open(stored) == "a-signing-secret-of-some-length"
    assert sealer.seal("x" * 24) != sealer.seal("x" * 24)  # random IV: equal secrets look different


def test_rotation_old_key_still_opens_and_reseal_moves_to_the_new_key() -> None:
    old, new = generate_key(), generate_key()
    stored = SecretSealer(old).seal("rotated-secret-rotated-secret")
    rotated = SecretSealer(f"{new},{old}")
    assert rotated.open(stored) == "rotated-secret-rotated-secret"
    resealed = rotated.reseal(stored)
    assert SecretSealer(new).open(resealed) == "rotated-secret-rotated-secret"
    with pytest.raises(ValueError, match="no key in CQOX_WEBHOOK_SECRET_KEYS opens"):
        SecretSealer(generate_key()).open(stored)


def test_rows_sealed_without_keys_stay_readable_once_keys_are_set() -> None:
    stored = SecretSealer("").seal("local-secret-local-secret")
    assert SecretSealer(generate_key()).open(stored) == "local-secret-local-secret"


def test_plain_text_and_bad_keys_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="not sealed"):
        SecretSealer("").open("plain-text-secret")
    with pytest.raises(SecretKeysInvalid, match="entry 2 is not a Fernet key"):
        SecretSealer(f"{generate_key()},short")
