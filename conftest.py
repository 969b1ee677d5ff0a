"""Root pytest configuration: real-infrastructure fixtures for every package's tests."""

import pytest

pytest_plugins = ["cqox_stack.testing"]

_REAL_STACK_FIXTURES = {"infra", "own_nats", "stack", "api"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put every test that needs the real servers in one xdist group, so one worker starts them once.

    `make test` runs `pytest -n 2 --dist loadgroup`: that worker runs the integration group while the other
    runs the unit tests; without xdist the mark does nothing.
    """
    for item in items:
        needs_servers = item.get_closest_marker("integration") or item.get_closest_marker("faults")
        if needs_servers or _REAL_STACK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("real-stack"))
