"""Artifact store: a local folder by default, any S3 endpoint through the minio client.

URIs are `file:///abs/path` or `s3://bucket/key`; keys are namespaced
`tenant/dataset/version/...` or `tenant/analyses/<id>/...` by the callers.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

import pandas as pd

from cqox_shared.settings import Settings


class ArtifactNotFoundError(FileNotFoundError):
    """The URI names no stored artifact."""


class ArtifactStore(Protocol):
    """Where raw uploads, Parquet files, figures and reports live."""

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Store bytes under `key`; return the artifact URI."""
        ...

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> str:
        """Store a local file under `key` (streamed); return the artifact URI."""
        ...

    def get_bytes(self, uri: str) -> bytes:
        """Read a whole artifact."""
        ...

    def download(self, uri: str, path: Path) -> Path:
        """Copy an artifact to a local file."""
        ...

    def exists(self, uri: str) -> bool:
        """Whether the artifact exists."""
        ...

    def delete(self, uri: str) -> None:
        """Remove an artifact (used to undo a refused upload)."""
        ...


def _safe_key(key: str) -> str:
    parts = [p for p in key.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise ValueError(f"unsafe artifact key {key!r}")
    return "/".join(parts)


class LocalArtifactStore:
    """Artifacts as files under one root folder (the embedded default)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / _safe_key(key)

    def _from_uri(self, uri: str) -> Path:
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            raise ValueError(f"not a file URI: {uri!r}")
        path = Path(unquote(parsed.path)).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"URI outside the artifact root: {uri!r}")
        return path

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Store bytes atomically (write to a temp name, then rename; a failed write, such as a
        full disk, leaves no partial file)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        try:
            tmp.write_bytes(data)
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return path.as_uri()

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> str:
        """Copy a local file in atomically (a failed copy, such as a full disk, leaves no partial file)."""
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        try:
            shutil.copyfile(path, tmp)
            tmp.replace(target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return target.as_uri()

    def get_bytes(self, uri: str) -> bytes:
        """Read a stored file."""
        path = self._from_uri(uri)
        if not path.exists():
            raise ArtifactNotFoundError(uri)
        return path.read_bytes()

    def download(self, uri: str, path: Path) -> Path:
        """Copy a stored file to `path`."""
        source = self._from_uri(uri)
        if not source.exists():
            raise ArtifactNotFoundError(uri)
        shutil.copyfile(source, path)
        return path

    def exists(self, uri: str) -> bool:
        """Whether the file exists."""
        return self._from_uri(uri).exists()

    def delete(self, uri: str) -> None:
        """Remove the file if present."""
        self._from_uri(uri).unlink(missing_ok=True)


class S3ArtifactStore:
    """Artifacts in one bucket of any S3 endpoint (MinIO, AWS, ...), via the minio client."""

    def __init__(
        self,
        bucket: str,
        endpoint: str,
        access_key: str | None,
        secret_key: str | None,
        *,
        secure: bool = False,
        region: str | None = None,
    ) -> None:
        from minio import Minio

        self.bucket = bucket
        self.client = Minio(
            endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region
        )
        if not self.client.bucket_exists(bucket):
            self.client.make_bucket(bucket)

    def _key(self, uri: str) -> str:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or parsed.netloc != self.bucket:
            raise ValueError(f"not an URI of bucket {self.bucket!r}: {uri!r}")
        return parsed.path.lstrip("/")

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Upload bytes in one request."""
        key = _safe_key(key)
        self.client.put_object(self.bucket, key, io.BytesIO(data), len(data), content_type=content_type)
        return f"s3://{self.bucket}/{key}"

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> str:
        """Upload a file (multipart for large files)."""
        key = _safe_key(key)
        self.client.fput_object(self.bucket, key, str(path), content_type=content_type)
        return f"s3://{self.bucket}/{key}"

    def get_bytes(self, uri: str) -> bytes:
        """Download a whole object."""
        from minio.error import S3Error

        try:
            response = self.client.get_object(self.bucket, self._key(uri))
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                raise ArtifactNotFoundError(uri) from exc
            raise
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def download(self, uri: str, path: Path) -> Path:
        """Download an object to a local file."""
        from minio.error import S3Error

        try:
            self.client.fget_object(self.bucket, self._key(uri), str(path))
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                raise ArtifactNotFoundError(uri) from exc
            raise
        return path

    def exists(self, uri: str) -> bool:
        """Whether the object exists."""
        from minio.error import S3Error

        try:
            self.client.stat_object(self.bucket, self._key(uri))
        except S3Error:
            return False
        return True

    def delete(self, uri: str) -> None:
        """Remove the object."""
        self.client.remove_object(self.bucket, self._key(uri))


def store_from_settings(settings: Settings) -> ArtifactStore:
    """The store named by CQOX_ARTIFACT_URL (`file:///dir` or `s3://bucket`)."""
    parsed = urlparse(settings.artifact_url)
    if parsed.scheme == "file":
        return LocalArtifactStore(Path(parsed.path))
    if parsed.scheme == "s3":
        if not settings.s3_endpoint:
            raise ValueError("CQOX_ARTIFACT_URL is s3:// but CQOX_S3_ENDPOINT is not set")
        return S3ArtifactStore(
            parsed.netloc,
            settings.s3_endpoint,
            settings.s3_access_key,
            settings.s3_secret_key,
            secure=settings.s3_secure,
            region=settings.s3_region,
        )
    raise ValueError(f"unsupported CQOX_ARTIFACT_URL {settings.artifact_url!r}")


def read_frame(store: ArtifactStore, uri: str) -> pd.DataFrame:
    """Load a stored Parquet dataset version into a DataFrame."""
    return pd.read_parquet(io.BytesIO(store.get_bytes(uri)))
