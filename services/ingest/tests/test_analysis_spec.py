"""The analysis spec a user writes: numbers are numbers, bad fields are named."""

from __future__ import annotations

import json

import pytest
from fastapi import HTTPException

from cqox_ingest.analyses.service import spec_from_form


@pytest.mark.parametrize("cutoff", [0.5, 60, "60"])
def test_cutoff_may_be_given_as_a_number(cutoff: float | str) -> None:
    spec = spec_from_form(json.dumps({"roles": {"running_variable": "margin", "cutoff": cutoff}}))
    assert float(spec.roles["cutoff"]) == float(cutoff)  # type: ignore[arg-type]
    assert spec.roles["running_variable"] == "margin"


def test_a_bad_role_value_is_a_422_naming_it() -> None:
    with pytest.raises(HTTPException) as caught:
        spec_from_form(json.dumps({"roles": {"treatment": {"nested": 1}}}))
    assert caught.value.status_code == 422 and "roles.treatment" in str(caught.value.detail)


def test_a_mapping_confirmation_may_state_the_design() -> None:
    """Randomisation cannot be seen in the data; PUT /v1/datasets/{id}/mapping may say it."""
    from cqox_ingest.datasets.mapping import _checked_roles

    columns = {"t", "y"}
    assert _checked_roles({"treatment": "t", "design": "experiment"}, columns)["design"] == "experiment"
    with pytest.raises(HTTPException) as caught:
        _checked_roles({"design": "randomised"}, columns)
    assert caught.value.status_code == 422 and "experiment" in str(caught.value.detail)


@pytest.mark.parametrize("seed", [-1, 2**32, 2**63])
def test_a_seed_numpy_and_scikit_learn_refuse_is_a_422_naming_the_range(seed: int) -> None:
    with pytest.raises(HTTPException) as caught:
        spec_from_form(json.dumps({"seed": seed}))
    assert caught.value.status_code == 422 and "seed" in str(caught.value.detail)
    assert "0 to 4294967295" in str(caught.value.detail)


@pytest.mark.parametrize("seed", [0, 2**32 - 1])
def test_every_seed_in_range_is_taken(seed: int) -> None:
    assert spec_from_form(json.dumps({"seed": seed})).seed == seed
