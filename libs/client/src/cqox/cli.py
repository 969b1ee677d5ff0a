"""The `cqox` command line (built in issue 18)."""


def main() -> None:
    """Entry point of the `cqox` command."""
    raise SystemExit("cqox: the command line is not built yet")
