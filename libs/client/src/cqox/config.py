"""Where the client finds the API and the credentials: arguments, then the environment, then a
config file (TOML), then the local defaults.

Environment: `CQOX_URL` (or `CQOX_API_URL`, which `make up` writes), `CQOX_NOTIFICATION_URL`,
`CQOX_API_KEY`, `CQOX_TOKEN`, `CQOX_NATS_URL` (or `NATS_URL`), `CQOX_CONFIG` (the file's path),
`CQOX_PROFILE` (a table of the file). The file, by default `~/.config/cqox/config.toml`, holds the
same keys in lower case (`url`, `notification_url`, `api_key`, `token`, `nats_url`, `timeout`) at
the top level or in a `[profiles.NAME]` table.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cqox.errors import ConfigError

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_S = 60.0
ENV_KEYS = {
    "url": ("CQOX_URL", "CQOX_API_URL"),
    "notification_url": ("CQOX_NOTIFICATION_URL",),
    "api_key": ("CQOX_API_KEY",),
    "token": ("CQOX_TOKEN",),
    "nats_url": ("CQOX_NATS_URL", "NATS_URL"),
    "timeout": ("CQOX_TIMEOUT",),
}


@dataclass(frozen=True)
class Settings:
    """Resolved client settings."""

    url: str = DEFAULT_URL
    notification_url: str | None = None
    api_key: str | None = None
    token: str | None = None
    nats_url: str | None = None
    timeout: float = DEFAULT_TIMEOUT_S

    def headers(self) -> dict[str, str]:
        """Auth headers: the key as `X-API-Key`, a token as `Authorization: Bearer`."""
        headers = {"User-Agent": "cqox-python/0.1"}
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


def default_config_path(env: Mapping[str, str]) -> Path:
    """The config file's path: `CQOX_CONFIG`, else `$XDG_CONFIG_HOME/cqox/config.toml`."""
    if env.get("CQOX_CONFIG"):
        return Path(env["CQOX_CONFIG"]).expanduser()
    base = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "cqox" / "config.toml"


def read_config_file(path: Path, profile: str | None = None) -> dict[str, Any]:
    """The settings a config file holds (top level, overlaid by the profile's table); {} if no file."""
    if not path.is_file():
        if profile:
            raise ConfigError(f"config file {path} does not exist (profile {profile!r} was asked for)")
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    values = {k: v for k, v in data.items() if k in ENV_KEYS}
    if profile:
        profiles = data.get("profiles", {})
        if profile not in profiles:
            raise ConfigError(f"config file {path} has no [profiles.{profile}] table")
        values.update({k: v for k, v in profiles[profile].items() if k in ENV_KEYS})
    return values


def resolve(
    *,
    url: str | None = None,
    notification_url: str | None = None,
    api_key: str | None = None,
    token: str | None = None,
    nats_url: str | None = None,
    timeout: float | None = None,
    config_file: str | Path | None = None,
    profile: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from arguments, else the environment, else the config file, else defaults."""
    env = os.environ if env is None else env
    path = Path(config_file).expanduser() if config_file else default_config_path(env)
    from_file = read_config_file(path, profile or env.get("CQOX_PROFILE") or None)
    given = {
        "url": url,
        "notification_url": notification_url,
        "api_key": api_key,
        "token": token,
        "nats_url": nats_url,
        "timeout": timeout,
    }
    chosen: dict[str, Any] = {}
    for key, value in given.items():
        if value is None:
            value = next((env[name] for name in ENV_KEYS[key] if env.get(name)), None)
        if value is None:
            value = from_file.get(key)
        if value is not None:
            chosen[key] = value
    if "timeout" in chosen:
        try:
            chosen["timeout"] = float(chosen["timeout"])
        except ValueError as exc:
            raise ConfigError(f"timeout must be a number of seconds, not {chosen['timeout']!r}") from exc
    for key in ("url", "notification_url"):
        if key in chosen:
            chosen[key] = str(chosen[key]).rstrip("/")
    return Settings(**chosen)
