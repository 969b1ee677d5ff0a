"""Settings resolution (arguments > env > config file) and webhook signature checks."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from cqox import Client
from cqox.config import resolve
from cqox.errors import ConfigError
from cqox.webhooks import SignatureError, signature, verify_signature

from cqox_notification.domain import sign


def test_arguments_beat_env_which_beats_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        'url = "http://file:1"\napi_key = "file-key"\ntimeout = 5\n'
        '[profiles.prod]\nurl = "https://prod.example/"\ntoken = "prod-token"\n'
    )
    env = {"CQOX_CONFIG": str(config), "CQOX_API_KEY": "env-key"}
    settings = resolve(env=env)
    assert (settings.url, settings.api_key, settings.timeout) == ("http://file:1", "env-key", 5.0)
    assert resolve(url="http://arg:2", api_key="arg-key", env=env).api_key == "arg-key"
    prod = resolve(env={**env, "CQOX_PROFILE": "prod"})
    assert prod.url == "https://prod.example" and prod.token == "prod-token"
    assert prod.headers()["Authorization"] == "Bearer prod-token"
    assert prod.headers()["X-API-Key"] == "env-key"
    assert resolve(env={"CQOX_API_URL": "http://made-by-make-up:3"}).url == "http://made-by-make-up:3"


def test_config_problems_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("url = ")
    with pytest.raises(ConfigError, match="cannot read config file"):
        resolve(config_file=bad, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(config_file=bad.with_name("none.toml"), profile="dev", env={})
    good = tmp_path / "good.toml"
    good.write_text('url = "http://x:1"\n')
    with pytest.raises(ConfigError, match=r"no \[profiles.dev\]"):
        resolve(config_file=good, profile="dev", env={})
    with pytest.raises(ConfigError, match="timeout"):
        resolve(timeout=None, env={"CQOX_TIMEOUT": "soon"})


def test_signature_matches_what_the_notification_service_sends() -> None:
    body = json.dumps({"event_type": "report.generated", "analysis_id": "a-1"}).encode()
    now = int(time.time())
    assert signature("s3cret", now, body) == sign("s3cret", now, body)
    headers = {"x-cqox-signature": sign("s3cret", now, body), "X-Cqox-Timestamp": str(now)}
    assert verify_signature("s3cret", body, headers)["analysis_id"] == "a-1"
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature("other", body, headers)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature("s3cret", body + b" ", headers)
    with pytest.raises(SignatureError, match="replay"):
        verify_signature("s3cret", body, headers, now=now + 3600)
    with pytest.raises(SignatureError, match="missing"):
        verify_signature("s3cret", body, {})


def test_a_client_handed_in_gets_the_credentials() -> None:

    with Client("http://127.0.0.1:1", api_key="k-1", token="t-1", http=httpx.Client()) as sdk:
        assert sdk._http.headers["X-API-Key"] == "k-1"
        assert sdk._http.headers["Authorization"] == "Bearer t-1"
