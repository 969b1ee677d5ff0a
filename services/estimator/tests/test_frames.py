"""The per-process frame cache, and the promise it rests on: methods never modify their input."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from cqox_contracts.v1 import RoleMapping
from cqox_estimator.domain import run
from cqox_estimator.estimators import REGISTRY
from cqox_estimator.frames import FrameCache
from cqox_estimator.simulation import confounded

# The smallest settings that still run each heavy method's code path.
FAST = {
    "causal_forest": {"n_estimators": 8, "outcome_model": "linear", "propensity_model": "linear"},
    "s_learner": {"base_model": "linear", "n_bootstrap": 20},
    "t_learner": {"base_model": "linear", "n_bootstrap": 20},
    "x_learner": {"base_model": "linear", "n_bootstrap": 20},
    "entropy_balancing": {"n_bootstrap": 20},
}


def frame(rows: int) -> pd.DataFrame:
    """A small frame of `rows` rows."""
    return pd.DataFrame({"a": range(rows), "b": [1.5] * rows})


def test_reads_each_uri_once_and_evicts_the_least_recently_used() -> None:
    loads: list[str] = []

    def load(uri: str) -> pd.DataFrame:
        loads.append(uri)
        return frame(1000)

    size = int(frame(1000).memory_usage(deep=True).sum())
    cache = FrameCache(max_bytes=2 * size)
    first = cache.get("s3://a", load)
    assert cache.get("s3://a", load) is first
    cache.get("s3://b", load)
    cache.get("s3://a", load)  # a is now the most recent
    cache.get("s3://c", load)  # evicts b
    cache.get("s3://a", load)
    cache.get("s3://b", load)
    assert loads == ["s3://a", "s3://b", "s3://c", "s3://b"]
    assert (cache.hits, cache.misses) == (3, 4)


def test_concurrent_readers_of_one_uri_share_one_load_and_its_failure() -> None:
    """An analysis's methods start at once: the first reads the file, the others wait for it."""
    started, release = threading.Event(), threading.Event()
    loads: list[str] = []

    def slow(uri: str) -> pd.DataFrame:
        loads.append(uri)
        started.set()
        release.wait(5)
        return frame(100)

    cache = FrameCache(max_bytes=1 << 20)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(cache.fetch, "s3://a", slow)
        assert started.wait(5)
        others = [pool.submit(cache.fetch, "s3://a", slow) for _ in range(7)]
        release.set()
        results = [first.result(), *(f.result() for f in others)]
    assert loads == ["s3://a"]
    assert [cached for _, cached in results] == [False] + [True] * 7
    assert all(got is results[0][0] for got, _ in results)
    assert (cache.hits, cache.misses) == (7, 1)

    def broken(uri: str) -> pd.DataFrame:
        started.set()
        release.wait(5)
        raise OSError("object store unreachable")

    started.clear()
    release.clear()
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(cache.fetch, "s3://b", broken)
        assert started.wait(5)
        other = pool.submit(cache.fetch, "s3://b", broken)
        release.set()
        for future in (first, other):
            with pytest.raises(OSError, match="unreachable"):
                future.result()
    assert cache.fetch("s3://b", lambda uri: frame(3))[0].shape == (3, 2)  # a later read tries again


def test_a_frame_larger_than_the_cache_is_returned_but_not_kept() -> None:
    loads: list[str] = []
    cache = FrameCache(max_bytes=0)
    for _ in range(2):
        cache.get("s3://big", lambda uri: loads.append(uri) or frame(10))  # type: ignore[func-returns-value]
    assert loads == ["s3://big", "s3://big"]


def test_a_frame_idle_longer_than_idle_s_is_dropped_and_read_again() -> None:
    now = [0.0]
    loads: list[str] = []

    def load(uri: str) -> pd.DataFrame:
        loads.append(uri)
        return frame(100)

    size = int(frame(100).memory_usage(deep=True).sum())
    cache = FrameCache(max_bytes=10 * size, idle_s=60.0, clock=lambda: now[0])
    cache.get("s3://a", load)
    cache.get("s3://b", load)
    now[0] = 50.0
    cache.get("s3://a", load)  # a used again: its idle time starts over
    now[0] = 100.0  # b idle 100 s, a 50 s
    assert cache.expire() == 1
    assert (len(cache), cache.held_bytes) == (1, size)
    cache.get("s3://a", load)
    now[0] = 200.0  # every frame idle: a get drops them before it looks
    cache.get("s3://b", load)
    assert loads == ["s3://a", "s3://b", "s3://b"]
    assert (len(cache), cache.held_bytes) == (1, size)


def test_without_idle_s_frames_stay_until_the_byte_bound() -> None:
    now = [0.0]
    cache = FrameCache(max_bytes=1 << 20, clock=lambda: now[0])
    cache.get("s3://a", lambda _: frame(100))
    now[0] = 1e9
    assert cache.expire() == 0
    assert len(cache) == 1


@pytest.mark.parametrize("method", list(REGISTRY))
def test_no_method_modifies_the_shared_input_frame(method: str) -> None:
    data = confounded(n=400, seed=3)
    # 40 units x 10 periods; the treatment switches on mid-way for the units treated at random.
    data = data.assign(id=[f"u{i // 10}" for i in range(400)], period=[i % 10 for i in range(400)])
    if REGISTRY[method].estimator.panel:
        data = data.assign(treated=((data.index // 10) % 2) * (data["period"] >= 5))
    # An instrument that moves the treatment, and a running variable that sets it at 0 (sharp RD).
    rng = np.random.default_rng(3)
    data = data.assign(
        z=data["treated"] * (rng.random(400) < 0.8),
        score=rng.uniform(-1, 1, 400),
        lat=rng.uniform(40.0, 40.2, 400),  # units within ~20 km, so each has neighbours
        lon=rng.uniform(-3.2, -3.0, 400),
        after=rng.integers(0, 2, 400),  # a post-period indicator for repeated cross-sections
    )
    if "running_variable" in REGISTRY[method].estimator.design_roles:
        data = data.assign(treated=(data["score"] >= 0).astype(int))
    if REGISTRY[method].designs == {"synthetic_control"}:  # one treated unit from period 6
        data = data.assign(treated=((data["id"] == "u39") & (data["period"] >= 6)).astype(int))
    data.loc[data.index[:5], "x1"] = None
    before = data.copy(deep=True)
    roles = RoleMapping(
        treatment="treated",
        outcome="y",
        unit="id",
        time="period",
        covariates=["x1", "x2", "segment"],
        instrument="z",
        running_variable="score",
        cutoff=0.0,
        latitude="lat",
        longitude="lon",
        post="after",
    )
    run(method, data, roles, seed=1, options=FAST.get(method))
    pd.testing.assert_frame_equal(data, before)
