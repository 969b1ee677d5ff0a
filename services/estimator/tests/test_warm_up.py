"""Workers import their methods' lazy dependencies when they start, not on the first request."""

from __future__ import annotations

import subprocess
import sys


def test_warming_up_rd_imports_rdrobust_and_rddensity() -> None:
    """In a fresh interpreter: the registry alone does not import rdrobust; warm_up does."""
    code = (
        "import sys\n"
        "from cqox_estimator.estimators import REGISTRY\n"
        "assert 'rdrobust' not in sys.modules\n"
        "REGISTRY['rd_robust'].estimator.warm_up()\n"
        "assert {'rdrobust', 'rddensity'} <= set(sys.modules)\n"
        "REGISTRY['ols'].estimator.warm_up()  # no lazy imports: nothing to do\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_worker_runtime_warms_up_what_it_serves() -> None:
    from cqox_estimator.app import build_runtime

    worker = build_runtime(["worker"], ["rd_robust", "ols"])
    planner = build_runtime(["planner"], [])
    # a worker warms up and heartbeats its pools (serving.py) and drops idle cached frames; the
    # planner only watches the pools
    assert len(worker.background) == 3 and len(planner.background) == 1
    names = {task.__qualname__.split(".")[0] for task in worker.background}
    assert names == {"warm_up", "heartbeat", "frame_janitor"}
    assert planner.background[0].__qualname__.startswith("watch_pools")
