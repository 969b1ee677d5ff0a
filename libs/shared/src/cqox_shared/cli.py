"""Command-line front of every service's console script (`cqox-ingest --help`, ...).

The services are configured by environment variables (prefix CQOX_), so a service's command line
only answers `--help` and refuses anything it does not know; the help text lists the variables.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from pydantic_settings import BaseSettings


def settings_help(settings_class: type[BaseSettings]) -> str:
    """One line per setting: its environment variable and default."""
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    lines = ["environment (defaults in brackets):"]
    for name, field in settings_class.model_fields.items():
        default = "" if field.is_required() else repr(field.default)
        lines.append(f"  {(prefix + name).upper():<42} [{default}]")
    return "\n".join(lines)


def service_parser(
    prog: str, description: str, settings_class: type[BaseSettings]
) -> argparse.ArgumentParser:
    """An argument parser for a service command, with its environment in the help epilog."""
    return argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=settings_help(settings_class),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def parse_service_args(
    prog: str, description: str, settings_class: type[BaseSettings], argv: Sequence[str] | None = None
) -> argparse.Namespace:
    """Parse a service command that takes no arguments (only `--help`)."""
    return service_parser(prog, description, settings_class).parse_args(argv)
