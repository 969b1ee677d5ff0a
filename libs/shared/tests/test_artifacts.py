"""Artifact stores: the local folder store, and the S3 store against a real S3-speaking server (moto)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from moto.server import ThreadedMotoServer

from cqox_shared.artifacts import (
    ArtifactNotFoundError,
    LocalArtifactStore,
    S3ArtifactStore,
    read_frame,
    store_from_settings,
)
from cqox_shared.settings import Settings

# ---- local folder store ---------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def test_local_put_get_exists_delete(local: LocalArtifactStore) -> None:
    uri = local.put_bytes("tenant-a/ds1/1/raw/data.csv", b"a,b\n1,2\n", "text/csv")
    assert uri.startswith("file:///")
    assert uri.endswith("/tenant-a/ds1/1/raw/data.csv")
    assert local.exists(uri)
    assert local.get_bytes(uri) == b"a,b\n1,2\n"
    local.delete(uri)
    assert not local.exists(uri)
    local.delete(uri)  # deleting twice is harmless


def test_local_put_overwrites(local: LocalArtifactStore) -> None:
    first = local.put_bytes("t/k.bin", b"one")
    second = local.put_bytes("t/k.bin", b"two")
    assert first == second
    assert local.get_bytes(second) == b"two"


def test_local_put_file_and_download(local: LocalArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    payload = os.urandom(200_000)
    source.write_bytes(payload)
    uri = local.put_file("t/analyses/a1/fig.png", source, "image/png")
    target = local.download(uri, tmp_path / "copy.bin")
    assert target == tmp_path / "copy.bin"
    assert target.read_bytes() == payload


def test_local_writes_are_atomic_and_leave_no_part_files(local: LocalArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "s.txt"
    source.write_text("x")
    local.put_bytes("t/a/b.txt", b"bytes")
    local.put_file("t/a/c.txt", source)
    names = sorted(p.name for p in local.root.rglob("*") if p.is_file())
    assert names == ["b.txt", "c.txt"]
    assert not list(local.root.rglob("*.part"))


def test_local_key_normalisation(local: LocalArtifactStore) -> None:
    uri = local.put_bytes("/t//./x\\y.txt", b"z")
    assert uri == (local.root / "t" / "x" / "y.txt").as_uri()


@pytest.mark.parametrize("key", ["../x", "t/../../x", "..", "", "/", "./.", "a\\..\\..\\b"])
def test_local_rejects_unsafe_keys(local: LocalArtifactStore, key: str) -> None:
    with pytest.raises(ValueError, match="unsafe artifact key"):
        local.put_bytes(key, b"x")
    with pytest.raises(ValueError, match="unsafe artifact key"):
        local.put_file(key, Path(__file__))


def test_local_rejects_uris_outside_root(local: LocalArtifactStore, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    for uri in (outside.as_uri(), local.root.as_uri() + "/../secret.txt", "file:///etc/passwd"):
        with pytest.raises(ValueError, match="outside the artifact root"):
            local.get_bytes(uri)
        with pytest.raises(ValueError, match="outside the artifact root"):
            local.exists(uri)
        with pytest.raises(ValueError, match="outside the artifact root"):
            local.delete(uri)
    assert outside.read_text() == "secret"


def test_local_rejects_other_schemes(local: LocalArtifactStore) -> None:
    with pytest.raises(ValueError, match="not a file URI"):
        local.get_bytes("s3://bucket/key")


def test_local_missing_artifact(local: LocalArtifactStore, tmp_path: Path) -> None:
    uri = (local.root / "t" / "missing.bin").as_uri()
    with pytest.raises(ArtifactNotFoundError):
        local.get_bytes(uri)
    with pytest.raises(ArtifactNotFoundError):
        local.download(uri, tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()
    assert not local.exists(uri)


def test_local_round_trips_non_ascii_keys(local: LocalArtifactStore) -> None:
    uri = local.put_bytes("tenant/ds/1/raw/売上 データ.csv", b"x")
    assert local.exists(uri)
    assert local.get_bytes(uri) == b"x"


def test_local_store_from_settings(tmp_path: Path) -> None:
    store = store_from_settings(Settings(artifact_url=(tmp_path / "store").as_uri()))
    assert isinstance(store, LocalArtifactStore)
    assert store.root == (tmp_path / "store").resolve()
    assert (tmp_path / "store").is_dir()


def test_store_from_settings_errors() -> None:
    with pytest.raises(ValueError, match="CQOX_S3_ENDPOINT"):
        store_from_settings(Settings(artifact_url="s3://cqox-test", s3_endpoint=None))
    with pytest.raises(ValueError, match="unsupported"):
        store_from_settings(Settings(artifact_url="gs://bucket"))


def test_local_read_frame(local: LocalArtifactStore, tmp_path: Path) -> None:
    frame = pd.DataFrame({"unit": ["a", "b"], "y": [1.5, 2.5], "t": [0, 1]})
    frame.to_parquet(tmp_path / "f.parquet", index=False)
    uri = local.put_file("t/ds/1/data.parquet", tmp_path / "f.parquet")
    pd.testing.assert_frame_equal(read_frame(local, uri), frame)


# ---- S3 store against moto's standalone server ------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free local port; AWS variables pointed at fakes for its lifetime."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SECURITY_TOKEN": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            mp.setenv(name, value)
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            mp.delenv(name, raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
def s3(s3_endpoint: str) -> S3ArtifactStore:
    bucket = f"cqox-{uuid.uuid4().hex[:12]}"
    return S3ArtifactStore(bucket, s3_endpoint, "testing", "testing")


def test_s3_creates_bucket_and_reuses_it(s3: S3ArtifactStore, s3_endpoint: str) -> None:
    assert s3.client.bucket_exists(s3.bucket)
    again = S3ArtifactStore(s3.bucket, s3_endpoint, "testing", "testing")
    uri = s3.put_bytes("t/k", b"v")
    assert again.get_bytes(uri) == b"v"


def test_s3_put_get_exists_delete(s3: S3ArtifactStore) -> None:
    uri = s3.put_bytes("tenant-a//ds1/./1/raw/data.csv", b"a,b\n1,2\n", "text/csv")
    assert uri == f"s3://{s3.bucket}/tenant-a/ds1/1/raw/data.csv"
    assert s3.exists(uri)
    assert s3.get_bytes(uri) == b"a,b\n1,2\n"
    stat = s3.client.stat_object(s3.bucket, "tenant-a/ds1/1/raw/data.csv")
    assert stat.content_type == "text/csv"
    s3.delete(uri)
    assert not s3.exists(uri)


def test_s3_put_file_multipart_and_download(s3: S3ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    payload = os.urandom(6 * 1024 * 1024 + 12345)  # over minio's 5 MiB part size: multipart
    source.write_bytes(payload)
    uri = s3.put_file("t/ds/1/raw/big.bin", source)
    stat = s3.client.stat_object(s3.bucket, "t/ds/1/raw/big.bin")
    assert stat.size == len(payload)
    assert stat.etag is not None and stat.etag.endswith("-2")  # two parts were uploaded
    target = s3.download(uri, tmp_path / "back.bin")
    assert target == tmp_path / "back.bin"
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(payload).digest()
    assert s3.get_bytes(uri) == payload


def test_s3_missing_object(s3: S3ArtifactStore) -> None:
    uri = f"s3://{s3.bucket}/t/never-written"
    with pytest.raises(ArtifactNotFoundError):
        s3.get_bytes(uri)
    assert not s3.exists(uri)
    s3.delete(uri)  # deleting a missing object is not an error in S3


def test_s3_download_missing_object_raises_not_found(s3: S3ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFoundError):
        s3.download(f"s3://{s3.bucket}/t/never-written", tmp_path / "out.bin")


def test_s3_rejects_foreign_uris_and_unsafe_keys(s3: S3ArtifactStore) -> None:
    with pytest.raises(ValueError, match="not an URI of bucket"):
        s3.get_bytes("s3://other-bucket/t/k")
    with pytest.raises(ValueError, match="not an URI of bucket"):
        s3.exists("file:///tmp/x")
    with pytest.raises(ValueError, match="unsafe artifact key"):
        s3.put_bytes("../escape", b"x")


def test_s3_store_from_settings_and_read_frame(s3_endpoint: str, tmp_path: Path) -> None:
    settings = Settings(
        artifact_url="s3://cqox-test",
        s3_endpoint=s3_endpoint,
        s3_access_key="testing",
        s3_secret_key="testing",
    )
    store = store_from_settings(settings)
    assert isinstance(store, S3ArtifactStore)
    assert store.bucket == "cqox-test"
    frame = pd.DataFrame({"unit": ["u1", "u2", "u3"], "treated": [True, False, True], "y": [1.0, 2.5, None]})
    frame.to_parquet(tmp_path / "data.parquet", index=False)
    uri = store.put_file(
        "tenant/ds/1/data.parquet", tmp_path / "data.parquet", "application/vnd.apache.parquet"
    )
    assert uri == "s3://cqox-test/tenant/ds/1/data.parquet"
    pd.testing.assert_frame_equal(read_frame(store, uri), frame)
