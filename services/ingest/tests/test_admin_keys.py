"""Issuing keys needs authentication on and a configured pepper; answers never show digests."""

from __future__ import annotations

import pytest
from fastapi import HTTPException

from cqox_ingest.admin.keys import check_issuable
from cqox_ingest.admin.models import KeyCreated, KeyOut
from cqox_shared.auth import ApiKeyAuth


def test_issuing_needs_a_pepper() -> None:
    with pytest.raises(HTTPException) as info:
        check_issuable(ApiKeyAuth("k:acme:admin"))
    assert info.value.status_code == 409 and "CQOX_AUTH_PEPPER" in str(info.value.detail)


def test_issuing_needs_authentication_on() -> None:
    with pytest.raises(HTTPException) as info:
        check_issuable(ApiKeyAuth("", mode="disabled"))
    assert info.value.status_code == 409 and "CQOX_AUTH=disabled" in str(info.value.detail)


def test_a_configured_pepper_allows_issuing() -> None:
    check_issuable(ApiKeyAuth("k:acme:admin", pepper="p" * 32))


def test_answers_have_no_digest_field() -> None:
    assert "digest" not in KeyOut.model_fields and "digest" not in KeyCreated.model_fields
    assert "key" in KeyCreated.model_fields and "key" not in KeyOut.model_fields
