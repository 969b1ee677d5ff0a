"""Which remembered roles still apply to a new version of a dataset."""

from __future__ import annotations

from cqox_mapping.handlers import _applicable


def test_remembered_roles_apply_only_where_their_columns_exist() -> None:
    stored = {"treatment": "b", "outcome": "c", "covariates": ["d", "gone"], "cutoff": "0.5"}
    kept = _applicable(stored, {"a", "b", "c", "d"})
    assert kept == {"treatment": "b", "outcome": "c", "cutoff": "0.5"}
    assert _applicable({}, {"a"}) == {}
