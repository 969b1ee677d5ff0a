"""Per-method pools scale out, and a worker killed mid-analysis costs nothing but time."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from cqox_stack.stack import Stack
from tests.integration.conftest import EXAMPLES, metric, upload, wait_done

pytestmark = pytest.mark.integration


def test_two_processes_serving_one_method_share_its_work(api: httpx.Client, stack: Stack) -> None:
    extra = stack.start_service("estimator", "--roles", "worker", "--methods", "ols")
    try:
        main = stack.services["estimator"]
        before_main = metric(main.url, "cqox_estimates_total", method="ols")
        created = [
            upload(api, EXAMPLES / "customers.csv", name=f"share-{i}", spec={"methods": ["ols"]})
            for i in range(8)
        ]
        for c in created:
            assert wait_done(api, c["analysis_id"])["status"] == "completed"
        by_main = metric(main.url, "cqox_estimates_total", method="ols") - before_main
        by_extra = metric(extra.url, "cqox_estimates_total", method="ols")
        assert by_main + by_extra == 8  # every request handled exactly once
        assert by_main > 0 and by_extra > 0, (by_main, by_extra)
    finally:
        extra.process.stop()
        del stack.services[extra.name]


def _larger_sample(path: Path) -> Path:
    sys.path.insert(0, str(EXAMPLES))
    try:
        from generate_sample import simulate
    finally:
        sys.path.pop(0)
    simulate(n=300_000, seed=7).to_csv(path, index=False)
    return path


def test_worker_killed_mid_analysis_is_redelivered_and_completes_once(
    api: httpx.Client, stack: Stack, tmp_path: Path, truth: float
) -> None:
    sample = _larger_sample(tmp_path / "big.csv")
    # the three fast methods: "auto" would add forests and bootstraps that take minutes at 300k rows
    created = upload(api, sample, name="killed-worker", spec={"methods": ["diff_in_means", "ols", "ipw"]})
    deadline = time.monotonic() + 60
    while api.get(f"/v1/analyses/{created['analysis_id']}").json()["status"] not in (
        "estimating",
        "estimated",
    ):
        assert time.monotonic() < deadline, "analysis never reached estimation"
        time.sleep(0.05)
    stack.services["estimator"].process.kill()  # SIGKILL: no graceful shutdown, unacked work in flight
    del stack.services["estimator"]
    restarted = stack.start_service("estimator")
    stack.services["estimator"] = stack.services.pop(restarted.name)

    analysis = wait_done(api, created["analysis_id"], timeout=180)
    assert analysis["status"] == "completed", analysis["error"]
    assert sorted(e["method"] for e in analysis["estimates"]) == ["diff_in_means", "ipw", "ols"]
    events = api.get(
        f"/v1/analyses/{created['analysis_id']}"
    )  # read model agrees with the estimator's own rows
    assert events.status_code == 200
    engine = sa.create_engine(stack.database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT method, count(*) FROM estimator.estimates WHERE analysis_id = :a GROUP BY method"
            ),
            {"a": created["analysis_id"]},
        ).all()
        estimated = conn.execute(
            sa.text(
                "SELECT count(*) FROM ingest.analysis_events WHERE analysis_id = :a AND event_type = 'analysis.estimated'"
            ),
            {"a": created["analysis_id"]},
        ).scalar_one()
    engine.dispose()
    assert dict(rows) == {"diff_in_means": 1, "ipw": 1, "ols": 1}
    assert estimated == 1  # the analysis closed once
    # the kill landed mid-analysis: the restarted process did at least part of the work
    assert metric(stack.services["estimator"].url, "cqox_estimates_total") >= 1
    for estimate in analysis["estimates"]:
        if estimate["method"] != "diff_in_means":
            assert abs(estimate["estimate"] - truth) < 0.1
