"""Fixtures of the ingest unit tests."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

WORKBOOK = Path(__file__).resolve().parents[3] / "bench" / "ingest" / "workbook.py"


def load_workbook_writer() -> Callable[..., Path]:
    """The repository's small .xlsx writer (bench/ingest/workbook.py), loaded by path."""
    spec = importlib.util.spec_from_file_location("cqox_bench_workbook", WORKBOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_xlsx  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def write_xlsx() -> Callable[..., Any]:
    """Write sheets (name → rows) to an .xlsx file."""
    return load_workbook_writer()
