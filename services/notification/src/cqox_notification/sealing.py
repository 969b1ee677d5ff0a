"""Webhook signing secrets encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256, from the
`cryptography` package) under keys from the environment.

`CQOX_WEBHOOK_SECRET_KEYS` lists Fernet keys separated by commas: the first encrypts, every one
decrypts, so a key is rotated by putting a new one first and re-sealing (`SecretSealer.reseal`).
Without keys the service runs with a fixed local-only key and says so in its log: a database dump
then reveals the secrets, so set the variable anywhere but a laptop.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

SECRET_KEYS_ENV = "CQOX_WEBHOOK_SECRET_KEYS"
SEALED_PREFIX = "fernet:"
# Public by construction (derived from a constant): only for a stack run without keys.
LOCAL_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"cqox-local-webhook-secrets").digest())


class SecretKeysInvalid(ValueError):
    """CQOX_WEBHOOK_SECRET_KEYS holds something that is not a Fernet key."""


def generate_key() -> str:
    """A new random key for CQOX_WEBHOOK_SECRET_KEYS."""
    return Fernet.generate_key().decode()


class SecretSealer:
    """Seals and opens webhook secrets with the configured keys (the local key opens too)."""

    def __init__(self, keys: str) -> None:
        entries = [k.strip() for k in keys.split(",") if k.strip()]
        self.configured = bool(entries)
        fernets = []
        for number, entry in enumerate(entries, 1):
            try:
                fernets.append(Fernet(entry.encode()))
            except (ValueError, TypeError) as exc:
                raise SecretKeysInvalid(
                    f"{SECRET_KEYS_ENV} entry {number} is not a Fernet key (32 url-safe base64 bytes; "
                    "make one with `python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'`)"
                ) from exc
        # Rows sealed while the service ran without keys stay readable once keys are set.
        self._fernet = MultiFernet([*fernets, Fernet(LOCAL_KEY)])

    def seal(self, secret: str) -> str:
        """The stored form of a signing secret."""
        return SEALED_PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        """The signing secret from its stored form (ValueError if no key opens it)."""
        if not stored.startswith(SEALED_PREFIX):
            raise ValueError("the stored webhook secret is not sealed")
        try:
            return self._fernet.decrypt(stored.removeprefix(SEALED_PREFIX).encode()).decode()
        except InvalidToken as exc:
            raise ValueError(f"no key in {SECRET_KEYS_ENV} opens this webhook secret") from exc

    def reseal(self, stored: str) -> str:
        """The stored form re-encrypted under the first key (after a rotation)."""
        return SEALED_PREFIX + self._fernet.rotate(stored.removeprefix(SEALED_PREFIX).encode()).decode()
