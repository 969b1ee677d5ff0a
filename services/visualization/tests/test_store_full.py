"""A report that cannot be stored because the artifact store is full fails at once (issue 15).

`store_report` turns a full store (ENOSPC or EDQUOT from the file store, MinIO's storage-full or
quota errors) into `RejectMessage`: the bus dead-letters the message on its first delivery and
fails the analysis with the reason, instead of drawing the report five times over 15 s of
back-off. Whatever the report had stored before the disk filled is deleted. Other storage errors
are left to the bus's retries. The real full disk is tests/faults/test_disk_full.py."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import pytest
from minio.error import S3Error

from cqox_contracts.v1 import AnalysisAssessed
from cqox_shared.artifacts import LocalArtifactStore
from cqox_shared.bus import RejectMessage
from cqox_visualization.handlers import Rendered, store_full_cause, store_report
from cqox_visualization.i18n import language

FIXTURE = Path(__file__).parent / "fixtures" / "grant_rd.assessed.json"


class SmallDisk(LocalArtifactStore):
    """The file store on a disk of `capacity` bytes: a write past it fails as the kernel's does."""

    def __init__(self, root: Path, capacity: int, error: int = errno.ENOSPC) -> None:
        super().__init__(root)
        self.capacity = capacity
        self.error = error

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Store the bytes, or fail with the disk's errno once they no longer fit."""
        used = sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())
        if used + len(data) > self.capacity:
            raise OSError(self.error, os.strerror(self.error), str(self._path(key)))
        return super().put_bytes(key, data, content_type)


class Unreachable(LocalArtifactStore):
    """A store whose writes fail for a reason other than space (a retry may well succeed)."""

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Always refuse the connection."""
        raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")


def _event() -> AnalysisAssessed:
    return AnalysisAssessed.model_validate_json(FIXTURE.read_text())


def _rendered() -> Rendered:
    return Rendered(
        views=[],
        images={"forest": b"\x89PNG" + b"f" * 4000, "love": b"\x89PNG" + b"l" * 4000},
        html="<html><body>" + "r" * 20_000 + "</body></html>",
        print_html="",
        headline="ATE = 1.0",
        language=language("en"),
        figures=[],
        document=b"{}",
    )


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_fails_the_report_at_once_with_the_stage_and_keeps_nothing(
    tmp_path: Path, code: int
) -> None:
    store = SmallDisk(tmp_path / "store", capacity=10_000, error=code)  # the figures fit, the page does not
    with pytest.raises(RejectMessage) as raised:
        asyncio.run(store_report(_event(), store, _rendered(), b"%PDF-1.7"))
    reason = str(raised.value)
    assert reason.startswith("storing the report: artifact store full ("), reason
    assert os.strerror(code) in reason and "run the analysis again" in reason, reason
    assert _files(store.root) == [], "the figures stored before the disk filled were left behind"


def test_a_report_that_fits_is_stored_whole(tmp_path: Path) -> None:
    store = SmallDisk(tmp_path / "store", capacity=1_000_000)
    drawn = asyncio.run(store_report(_event(), store, _rendered(), b"%PDF-1.7"))
    names = sorted(p.name for p in _files(store.root))
    assert names == ["forest.png", "love.png", "report.html", "report.json", "report.pdf"]
    assert {a.name for a in drawn.artifacts} == {"forest", "love", "report", "report_json", "report_pdf"}


def test_other_storage_errors_are_left_to_the_retries(tmp_path: Path) -> None:
    with pytest.raises(ConnectionRefusedError):
        asyncio.run(store_report(_event(), Unreachable(tmp_path / "store"), _rendered(), None))


def test_what_says_a_store_is_full() -> None:
    minio_full = S3Error(
        None,  # type: ignore[arg-type]  # the HTTP response is not read by the classification
        "XMinioStorageFull",
        "Storage backend has reached its minimum free drive threshold.",
        "/cqox/report.html",
        "req",
        "host",
    )
    assert store_full_cause(minio_full) == (
        "XMinioStorageFull: Storage backend has reached its minimum free drive threshold."
    )
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as disk:
            raise RuntimeError("upload failed") from disk
    except RuntimeError as wrapped:
        assert store_full_cause(wrapped) == "No space left on device"
    assert store_full_cause(PermissionError(errno.EACCES, "Permission denied")) is None
    assert store_full_cause(ValueError("bad key")) is None
