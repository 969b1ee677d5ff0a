"""Zip containers (.zip uploads, .xlsx/.ods workbooks) inflated while counting the bytes they really give.

The sizes a zip declares in its directory can lie, so they are only a first, cheap check: each member
is inflated here from its raw deflate stream (never trusting the declared sizes), counting actual
output bytes, and refused with 413 as soon as the total passes the limits. The CRC and the declared
size are checked at the end of each member, so a lying or damaged container is refused with 422.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from cqox_ingest.readers.base import IngestError, Limits

CHUNK = 1 << 20
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
BIG = 64 << 20  # below this, any compression ratio is accepted


class Budget:
    """Inflated bytes so far against the limits (total bytes, and ratio to the packed size above 64 MiB)."""

    def __init__(self, path: Path, limits: Limits) -> None:
        self.packed = max(path.stat().st_size, 1)
        self.limits = limits
        self.inflated = 0

    def add(self, n: int) -> None:
        """Count `n` more inflated bytes; 413 once the limits are passed."""
        self.inflated += n
        limits = self.limits
        if self.inflated > limits.max_inflated_bytes or (
            self.inflated > BIG and self.inflated / self.packed > limits.max_inflation_ratio
        ):
            raise IngestError(
                413,
                f"the file inflates beyond {self.inflated} bytes from {self.packed} "
                f"(ratio {self.inflated // self.packed}:1 so far); refused as a possible zip bomb "
                f"(limit {limits.max_inflated_bytes} bytes, ratio {limits.max_inflation_ratio}:1 above "
                f"{BIG >> 20} MiB)",
            )


def check_declared(path: Path, limits: Limits) -> None:
    """Refuse at once a container whose declared sizes already pass the limits (the cheap first check)."""
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise IngestError(422, f"the file is a damaged zip container: {exc}") from exc
    packed = max(path.stat().st_size, 1)
    if declared > limits.max_inflated_bytes or (
        declared > BIG and declared / packed > limits.max_inflation_ratio
    ):
        raise IngestError(
            413,
            f"the file inflates to {declared} bytes from {packed} (ratio {declared // packed}:1); "
            f"refused as a possible zip bomb (limit {limits.max_inflated_bytes} bytes, "
            f"ratio {limits.max_inflation_ratio}:1)",
        )


def check_inflation(path: Path, limits: Limits) -> None:
    """Inflate every member of a zip container, counting real bytes; 413 past the limits, 422 if damaged."""
    check_declared(path, limits)
    budget = Budget(path, limits)
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.is_dir():
                inflate(path, archive, info, budget, None)


def inflate(
    path: Path,
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    budget: Budget,
    sink: Callable[[bytes], object] | None,
) -> None:
    """Inflate one member, handing each chunk to `sink` (if any) and counting it against `budget`."""
    if info.flag_bits & 0x1:
        raise IngestError(422, f"{info.filename!r} in the zip is encrypted; upload it unencrypted")
    crc = 0
    size = 0

    def emit(chunk: bytes) -> None:
        nonlocal crc, size
        if not chunk:
            return
        size += len(chunk)
        budget.add(len(chunk))
        crc = zlib.crc32(chunk, crc)
        if sink is not None:
            sink(chunk)

    if info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        with path.open("rb") as raw:
            if not 0 <= info.header_offset < path.stat().st_size:  # a damaged central directory
                raise IngestError(422, f"the zip container is damaged at {info.filename!r}")
            raw.seek(info.header_offset)
            header = raw.read(_LOCAL_HEADER.size)
            if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
                raise IngestError(422, f"the zip container is damaged at {info.filename!r}")
            fields = _LOCAL_HEADER.unpack(header)
            raw.seek(fields[-2] + fields[-1], 1)  # file name and extra field
            if info.compress_type == zipfile.ZIP_STORED:
                left = info.compress_size
                while left > 0 and (chunk := raw.read(min(CHUNK, left))):
                    left -= len(chunk)
                    emit(chunk)
            else:
                inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                try:
                    while not inflater.eof:
                        data = inflater.unconsumed_tail or raw.read(CHUNK)
                        if not data:
                            raise IngestError(422, f"the zip container is truncated at {info.filename!r}")
                        emit(inflater.decompress(data, CHUNK))
                except zlib.error as exc:
                    raise IngestError(
                        422, f"the zip container is damaged at {info.filename!r}: {exc}"
                    ) from exc
    else:  # bzip2 / lzma members: zipfile stops at the declared size and checks the CRC
        try:
            with archive.open(info) as source:
                while chunk := source.read(CHUNK):
                    emit(chunk)
        except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError) as exc:
            raise IngestError(422, f"the zip container is damaged at {info.filename!r}: {exc}") from exc
        return
    if size != info.file_size or crc != info.CRC:
        raise IngestError(
            422,
            f"the zip container is damaged or lies about {info.filename!r}: it declares "
            f"{info.file_size} bytes and holds {size}",
        )
