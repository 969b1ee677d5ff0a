"""The aggregator closes an analysis whose method never reports, once its deadline passes."""

from __future__ import annotations

import httpx
import pytest

from cqox_stack.stack import Stack
from tests.integration.conftest import EXAMPLES, upload, wait_done

pytestmark = pytest.mark.integration


def test_method_without_a_live_pool_times_out_and_the_analysis_still_closes(
    api: httpx.Client, stack: Stack
) -> None:
    main = stack.services.pop("estimator")
    main.process.stop()
    # control plane with a short deadline, and a pool for one of the two requested methods only
    control = stack.start_service(
        "estimator", "--roles", "planner,aggregator", "--methods", "",
        env={"CQOX_ESTIMATOR_TIMEOUT_S": "4", "CQOX_ESTIMATOR_SWEEP_INTERVAL_S": "1"},
    )  # fmt: skip
    pool = stack.start_service("estimator", "--roles", "worker", "--methods", "ols")
    try:
        created = upload(api, EXAMPLES / "customers.csv", name="timeout", spec={"methods": ["ols", "ipw"]})
        analysis = wait_done(api, created["analysis_id"], timeout=90)
        assert analysis["status"] == "completed", analysis["error"]
        assert [e["method"] for e in analysis["estimates"]] == ["ols"]
        assert analysis["failures"] == [{"method": "ipw", "reason": "timed out", "error_type": "timeout"}]
    finally:
        for extra in (control, pool):
            extra.process.stop()
            stack.services.pop(extra.name, None)
        restarted = stack.start_service("estimator")
        stack.services["estimator"] = stack.services.pop(restarted.name)
