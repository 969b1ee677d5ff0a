"""The container tests run only when asked (`make containers`, CQOX_CONTAINERS=1): they build the
image and start the whole platform as containers, which takes minutes on a small machine."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.containers.runner import Docker, Infra, Pods, host_infra


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    enabled = os.environ.get("CQOX_CONTAINERS") == "1"
    skip = pytest.mark.skip(reason="container tests: run `make containers` (CQOX_CONTAINERS=1)")
    for item in items:
        if "containers" in item.keywords and not enabled:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def docker() -> Docker:
    engine = Docker()
    engine.ensure_daemon()
    return engine


@pytest.fixture(scope="session")
def image(docker: Docker) -> str:
    """The image built from the working tree's Dockerfile on the local base (layers and the uv
    download cache are reused between runs: a rebuild after a source edit takes about a minute)."""
    from tests.containers.runner import TEST_IMAGE

    docker.ensure_base()
    seconds = docker.build()
    print(f"\nimage {TEST_IMAGE} built in {seconds:.0f}s")
    return TEST_IMAGE


@pytest.fixture
def infra() -> Iterator[Infra]:
    with host_infra() as running:
        yield running


@pytest.fixture
def pods(docker: Docker) -> Iterator[Pods]:
    started = Pods(docker)
    try:
        yield started
    finally:
        started.remove_all()
