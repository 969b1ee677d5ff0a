"""docker-compose.yml's CQOX services, run from the compose file by our own runner (its images of
NATS, PostgreSQL and MinIO cannot be pulled here: host servers stand in for them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.containers.runner import (
    API_KEYS,
    DB_PASSWORD,
    S3_ACCESS,
    S3_SECRET,
    Docker,
    Infra,
    Pods,
    check_designs,
    compose_specs,
    run_every_design,
)

pytestmark = pytest.mark.containers


def test_compose_services_refuse_to_start_without_api_keys(
    docker: Docker, image: str, infra: Infra, pods: Pods
) -> None:
    shell = {
        "POSTGRES_PASSWORD": DB_PASSWORD,
        "MINIO_ROOT_USER": S3_ACCESS,
        "MINIO_ROOT_PASSWORD": S3_SECRET,
        "CQOX_TAG": image.split(":")[1],
    }
    [ingest] = [s for s in compose_specs(infra, shell) if s.name == "ingest"]
    container = pods.run(ingest)
    status = docker("wait", container, timeout=120).stdout.strip()
    assert status == "1"
    assert "no API keys configured" in pods.logs("ingest")


def test_compose_services_run_every_design(
    docker: Docker, image: str, infra: Infra, pods: Pods, tmp_path: Path
) -> None:
    shell = {
        "POSTGRES_PASSWORD": DB_PASSWORD,
        "MINIO_ROOT_USER": S3_ACCESS,
        "MINIO_ROOT_PASSWORD": S3_SECRET,
        "CQOX_API_KEYS": API_KEYS,
    }
    specs = compose_specs(infra, shell)
    assert {s.name for s in specs} >= {"ingest", "estimator-control", "estimator-light", "estimator-heavy"}
    for spec in specs:
        assert spec.read_only and "/tmp" in spec.tmpfs, spec.name
        pods.run(spec)
    pods.wait_ready(specs)
    ingest = next(s for s in specs if s.name == "ingest")
    done = run_every_design(f"http://127.0.0.1:{ingest.port()}", tmp_path)
    check_designs(done, tmp_path)
