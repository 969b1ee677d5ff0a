"""Estimator test configuration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def single_blas_thread() -> Iterator[None]:
    """One BLAS thread, as the service runs: threaded BLAS on a busy machine is far slower."""
    with threadpool_limits(limits=1):
        yield
