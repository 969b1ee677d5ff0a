"""The Helm chart's own pods, executed: every Deployment of a values file started as a container
exactly as its pod spec says, against real NATS, PostgreSQL and S3, then one analysis of every
design through the ingest pod."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.containers.runner import (
    Docker,
    Infra,
    Pods,
    check_designs,
    existing_secret,
    helm_test_values,
    pod_specs,
    render_chart,
    run_every_design,
)

pytestmark = pytest.mark.containers


@pytest.mark.parametrize(
    "value_file", [None, "values-dev.yaml", "values-prod.yaml"], ids=lambda v: v or "values.yaml"
)
def test_the_charts_pods_run_every_design(
    value_file: str | None, docker: Docker, image: str, infra: Infra, pods: Pods, tmp_path: Path
) -> None:
    values = helm_test_values(value_file, infra)
    docs = render_chart(values)
    out_of_band = {}
    if values.get("secrets", {}).get("existingSecret"):
        out_of_band[values["secrets"]["existingSecret"]] = existing_secret(infra)
    specs = pod_specs(docs, out_of_band)
    names = {s.name for s in specs}
    assert {"cqox-ingest", "cqox-estimator-control", "cqox-estimator-light", "cqox-estimator-heavy"} <= names
    for spec in specs:
        assert spec.read_only and "/tmp" in spec.tmpfs and spec.user == "10001:10001", spec.name
        assert spec.env["NUMBA_CACHE_DIR"].startswith("/tmp"), spec.name
        pods.run(spec)
    pods.wait_ready(specs)
    ingest = next(s for s in specs if s.name == "cqox-ingest")
    done = run_every_design(f"http://127.0.0.1:{ingest.port()}", tmp_path)
    check_designs(done, tmp_path)
