"""The heavy pool (causal forest) gets its own process; the light pools are not touched."""

from __future__ import annotations

import httpx
import pytest

from cqox_stack.stack import Stack
from tests.integration.conftest import EXAMPLES, metric, upload, wait_done

pytestmark = pytest.mark.integration

HEAVY, LIGHT = "causal_forest", "ols"


def test_causal_forest_pool_scales_out_without_touching_light_pools(api: httpx.Client, stack: Stack) -> None:
    # A second process serving only the registry's heavy methods (`--cost heavy`).
    heavy = stack.start_service("estimator", "--roles", "worker", "--cost", "heavy")
    try:
        main = stack.services["estimator"]
        before = {m: metric(main.url, "cqox_estimates_total", method=m) for m in (HEAVY, LIGHT)}
        spec = {"methods": [HEAVY, LIGHT], "seed": 11}
        created = [upload(api, EXAMPLES / "customers.csv", name=f"pool-{i}", spec=spec) for i in range(4)]
        for c in created:
            analysis = wait_done(api, c["analysis_id"], timeout=180)
            assert analysis["status"] == "completed", analysis["error"]
            assert sorted(e["method"] for e in analysis["estimates"]) == [HEAVY, LIGHT]
        forest_main = metric(main.url, "cqox_estimates_total", method=HEAVY) - before[HEAVY]
        forest_extra = metric(heavy.url, "cqox_estimates_total", method=HEAVY)
        assert forest_main + forest_extra == 4  # each forest request handled exactly once
        assert forest_extra > 0, (forest_main, forest_extra)  # the new process took forest work
        # the light pool stayed where it was: the heavy process has no consumer for it
        assert metric(heavy.url, "cqox_estimates_total", method=LIGHT) == 0
        assert metric(main.url, "cqox_estimates_total", method=LIGHT) - before[LIGHT] == 4
        log = heavy.process.log_path.read_text()
        assert "estimator-estimate-requested-causal_forest" in log or forest_extra > 0
        assert "estimator-estimate-requested-ols" not in log
    finally:
        heavy.process.stop()
        del stack.services[heavy.name]
