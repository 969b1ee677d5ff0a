"""The upload's multipart body parsed as it arrives, its file part written once, straight to disk.

Starlette parses a multipart form into a spooled temporary file (a copy in /tmp past 1 MiB) that the
route then copied to its own work file: two copies of every upload before the artifact store's.
`StreamedUploadRoute` parses the body itself with python-multipart's streaming parser, writes each
file part to the request's work directory while hashing and counting it (413 past the limit), and
hands FastAPI the parsed form, so the route's parameters, validation and OpenAPI stay as declared.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, Headers, UploadFile

from cqox_ingest.dependencies import get_max_upload_bytes

MAX_FIELD_BYTES = 1 << 20  # a form field beside the file (name, analysis spec, …)
MAX_PARTS = 32


@dataclass
class Spooled:
    """A file part written to disk: where, how many bytes, and their SHA-256."""

    path: Path
    size: int
    digest: str


@dataclass
class _Part:
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    name: str = ""
    filename: str | None = None
    value: bytearray = field(default_factory=bytearray)
    out: IO[bytes] | None = None
    path: Path | None = None
    size: int = 0
    digest: Any = None


class _FormWriter:
    """python-multipart callbacks: headers per part, small fields in memory, files to `workdir`."""

    def __init__(self, workdir: Path, limit: int) -> None:
        self.workdir = workdir
        self.limit = limit
        self.parts: list[_Part] = []
        self.header_field = bytearray()
        self.header_value = bytearray()

    @property
    def part(self) -> _Part:
        return self.parts[-1]

    def on_part_begin(self) -> None:
        if len(self.parts) >= MAX_PARTS:
            raise HTTPException(413, f"the form has more than {MAX_PARTS} parts")
        self.parts.append(_Part())

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers.append((bytes(self.header_field).lower(), bytes(self.header_value)))
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        part = self.part
        disposition = dict(part.headers).get(b"content-disposition", b"")
        _, options = parse_options_header(disposition)
        part.name = options.get(b"name", b"").decode("utf-8", errors="replace")
        if b"filename" in options:
            part.filename = options[b"filename"].decode("utf-8", errors="replace")
            part.path = self.workdir / f"raw-{len(self.parts)}"
            part.out = part.path.open("wb")
            part.digest = hashlib.sha256()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        chunk = data[start:end]
        part.size += len(chunk)
        if part.out is None:
            if part.size > MAX_FIELD_BYTES:
                raise HTTPException(413, f"form field {part.name!r} is over {MAX_FIELD_BYTES} bytes")
            part.value += chunk
            return
        if part.size > self.limit:
            raise HTTPException(
                413, f"the file is larger than the {self.limit}-byte limit (CQOX_MAX_UPLOAD_BYTES)"
            )
        part.digest.update(chunk)
        part.out.write(chunk)

    def on_part_end(self) -> None:
        if self.part.out is not None:
            self.part.out.close()

    def close(self) -> None:
        """Close any file part left open by a broken body."""
        for part in self.parts:
            if part.out is not None and not part.out.closed:
                part.out.close()


async def stream_form(request: Request, workdir: Path, limit: int) -> tuple[FormData, dict[str, Spooled]]:
    """Parse a multipart body as it arrives: the form FastAPI expects, and each file part on disk."""
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise HTTPException(400, "the upload must be multipart/form-data with a boundary")
    writer = _FormWriter(workdir, limit)
    callbacks = {
        name: getattr(writer, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
        )
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise HTTPException(400, f"the multipart body is malformed: {exc}") from exc
    finally:
        writer.close()
    items: list[tuple[str, str | UploadFile]] = []
    spooled: dict[str, Spooled] = {}
    for part in writer.parts:
        if part.path is None:
            items.append((part.name, part.value.decode("utf-8", errors="replace")))
            continue
        upload = UploadFile(
            part.path.open("rb"), size=part.size, filename=part.filename, headers=Headers(raw=part.headers)
        )
        items.append((part.name, upload))
        spooled.setdefault(part.name, Spooled(part.path, part.size, part.digest.hexdigest()))
    return FormData(items), spooled


class StreamedUploadRoute(APIRoute):
    """A route whose multipart body is parsed by `stream_form` into a work directory that lives as
    long as the request (`request.state.workdir`, `request.state.spooled`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The FastAPI handler, given the form parsed as it arrived."""
        handler = super().get_route_handler()

        async def streamed(request: Request) -> Response:
            if not request.headers.get("content-type", "").startswith("multipart/form-data"):
                return await handler(request)  # FastAPI answers it as before (422)
            workdir = Path(tempfile.mkdtemp(prefix="cqox-upload-"))
            try:
                limit = get_max_upload_bytes(request.app.state.runtime)
                form, spooled = await stream_form(request, workdir, limit)
                request._form = form  # FastAPI reads the form through request.form()
                request.state.workdir, request.state.spooled = workdir, spooled
                return await handler(request)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)

        return streamed
