"""The per-name caches of the mapping stay bounded however many column names it meets."""

from __future__ import annotations

from cqox_mapping.names import NAME_CACHE_SIZE, match_name, normalise_name, time_qualifier


def test_name_caches_are_lru_bounded() -> None:
    # Filling match_name's cache costs ~10 ms a name; its bound is checked, the eviction is shown
    # on time_qualifier, which has the same kind of cache and bound.
    assert match_name.cache_parameters()["maxsize"] == NAME_CACHE_SIZE
    assert time_qualifier.cache_parameters()["maxsize"] == NAME_CACHE_SIZE
    time_qualifier.cache_clear()
    first = normalise_name("earn_next_year")
    dated = time_qualifier(first)
    for i in range(NAME_CACHE_SIZE + 10):
        time_qualifier(normalise_name(f"metric_{i}_zz"))
    assert time_qualifier.cache_info().currsize == NAME_CACHE_SIZE
    misses = time_qualifier.cache_info().misses
    assert time_qualifier(first) == dated  # evicted, computed again, same answer
    assert time_qualifier.cache_info().misses == misses + 1


def test_match_name_is_served_from_its_cache_until_evicted() -> None:
    match_name.cache_clear()
    treated = match_name(normalise_name("treated"))
    assert treated["treatment"].score > 0
    hits = match_name.cache_info().hits
    assert match_name(normalise_name("treated")) is treated
    assert match_name.cache_info().hits == hits + 1
    assert match_name.cache_info().currsize == 1
