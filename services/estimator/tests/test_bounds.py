"""Lee (2009) trimming bounds: hand-computed cases, known population bounds, SEs and coverage,
selective (MNAR) attrition, and the NSW experiment with outcomes punched out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cqox_contracts.v1 import RoleMapping
from cqox_estimator.domain import estimate
from cqox_estimator.estimators.bounds import LeeBounds, imbens_manski_interval, trimming_bounds
from cqox_estimator.estimators.design import EstimationError

NSW_ATE = 1794.34  # treated minus control mean of re78 in the experimental NSW sample


def _arms(treated: list[float | None], control: list[float | None]) -> tuple[np.ndarray, np.ndarray]:
    y = np.array([np.nan if v is None else v for v in [*treated, *control]], dtype=float)
    t = np.array([1] * len(treated) + [0] * len(control))
    return y, t


@pytest.mark.parametrize(
    ("treated", "control", "expected", "trimmed", "share"),
    [
        # Treated all observed, control 8 of 10: trim 20 % of the treated outcomes 1..10.
        # Lower: mean(1..8) - mean(1..8) = 0; upper: mean(3..10) - 4.5 = 2.
        (list(range(1, 11)), [*range(1, 9), None, None], (0.0, 2.0), "treated", 0.2),
        # Control 7 of 9 observed: keep 7/9 of 10 = 7.78 treated outcomes, the boundary one by
        # its fraction: lower (1+..+7 + 8*7/9) / (70/9) = 4.4, upper (10+..+4 + 3*7/9) / (70/9) = 6.6,
        # minus the control mean 4.
        (list(range(1, 11)), [*range(1, 8), None, None], (0.4, 2.6), "treated", 2 / 9),
        # Treated 8 of 10 observed, control all: trim the control arm; its highest 8 give the
        # lower bound 4.5 - mean(3..10) = -2, its lowest 8 the upper bound 4.5 - 4.5 = 0.
        ([*range(1, 9), None, None], list(range(1, 11)), (-2.0, 0.0), "control", 0.2),
        # Binary outcome (ties): treated 6 ones and 4 zeros, control 4 of 8 observed are ones.
        # Keep 8 treated: lowest 4 zeros + 4 ones = 0.5, highest 6 ones + 2 zeros = 0.75.
        ([1] * 6 + [0] * 4, [1] * 4 + [0] * 4 + [None] * 2, (0.0, 0.25), "treated", 0.2),
    ],
)
def test_hand_computed_bounds(treated, control, expected, trimmed, share) -> None:  # type: ignore[no-untyped-def]
    y, t = _arms(treated, control)
    bounds = trimming_bounds(np.nan_to_num(y), t, ~np.isnan(y))
    assert (bounds.lower, bounds.upper) == pytest.approx(expected, abs=1e-12)
    assert bounds.trimming_share == pytest.approx(share)
    assert ("treated" if bounds.trimmed_arm == 1 else "control") == trimmed
    fitted = LeeBounds().fit(y, t)
    assert fitted.diagnostics_["lower_bound"] == pytest.approx(expected[0])
    assert fitted.ate_ == pytest.approx(sum(expected) / 2)
    lower, upper = fitted.ate_interval(0.05)
    assert lower < expected[0] and upper > expected[1]


def test_without_attrition_the_bounds_meet_at_the_difference_in_means() -> None:
    rng = np.random.default_rng(0)
    t = rng.integers(0, 2, size=500)
    y = 1.0 * t + rng.normal(size=500)
    bounds = trimming_bounds(y, t, np.ones(500, dtype=bool))
    difference = y[t == 1].mean() - y[t == 0].mean()
    assert bounds.lower == pytest.approx(difference) and bounds.upper == pytest.approx(difference)
    # The SE is then the Neyman SE (variances with divisor n).
    neyman = np.sqrt(y[t == 1].var() / (t == 1).sum() + y[t == 0].var() / (t == 0).sum())
    assert bounds.lower_se == pytest.approx(neyman)
    # Meeting bounds: the Imbens-Manski interval is the usual two-sided one.
    z = stats.norm.ppf(0.975)
    assert imbens_manski_interval(1.0, 1.0, 0.1, 0.1, 0.05) == pytest.approx((1 - z * 0.1, 1 + z * 0.1))


def _attrition_experiment(n: int, seed: int, *, selective: bool = False) -> tuple[np.ndarray, ...]:
    """Y0 ~ N(0, 1), Y1 = Y0 + 1; random assignment. MCAR: 60 % of controls and 80 % of treated
    observed, independently of outcomes. Selective: a control is observed when Y0 > -0.25,
    a treated unit when Y1 > -0.25 (monotone, since Y1 > Y0)."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, size=n)
    y0 = rng.normal(size=n)
    y = y0 + t
    if selective:
        observed = y > -0.25
    else:
        u = rng.random(n)
        observed = u < np.where(t == 1, 0.8, 0.6)
    return y, t, observed


# Population bounds of the MCAR design: trim 25 % of the treated N(1, 1) outcomes.
TRUE_LOWER = 1 - stats.norm.pdf(stats.norm.ppf(0.75)) / 0.75
TRUE_UPPER = 1 + stats.norm.pdf(stats.norm.ppf(0.25)) / 0.75


def test_large_sample_recovers_the_population_bounds() -> None:
    y, t, observed = _attrition_experiment(400_000, seed=1)
    bounds = trimming_bounds(y, t, observed)
    assert pytest.approx((0.5763, 1.4237), abs=1e-4) == (TRUE_LOWER, TRUE_UPPER)
    assert bounds.lower == pytest.approx(TRUE_LOWER, abs=0.01)
    assert bounds.upper == pytest.approx(TRUE_UPPER, abs=0.01)
    assert bounds.trimming_share == pytest.approx(0.25, abs=0.005)


def test_lee_standard_errors_match_their_sampling_spread_and_cover() -> None:
    """300 samples of 2,000: Lee's analytic SEs agree with the SD of the bounds across samples,
    each bound's 95 % interval covers its population value about 95 % of the time, and the
    Imbens-Manski interval covers the effect on the always-observed (1) at least 95 %."""
    draws, ses, covered, im_covered = [], [], np.zeros(2), 0
    z = stats.norm.ppf(0.975)
    for seed in range(300):
        bounds = trimming_bounds(*_attrition_experiment(2000, seed=100 + seed))
        draws.append((bounds.lower, bounds.upper))
        ses.append((bounds.lower_se, bounds.upper_se))
        covered += [
            abs(bounds.lower - TRUE_LOWER) < z * bounds.lower_se,
            abs(bounds.upper - TRUE_UPPER) < z * bounds.upper_se,
        ]
        low, high = imbens_manski_interval(bounds.lower, bounds.upper, bounds.lower_se, bounds.upper_se, 0.05)
        im_covered += low < 1.0 < high
    spread, mean_se = np.std(draws, axis=0, ddof=1), np.mean(ses, axis=0)
    assert mean_se == pytest.approx(spread, rel=0.15)
    assert np.all((covered / 300 > 0.91) & (covered / 300 < 0.985)), covered / 300
    assert im_covered / 300 >= 0.95


def test_bootstrap_is_seeded_and_agrees_with_the_analytic_se() -> None:
    y, t, observed = _attrition_experiment(3000, seed=5)
    y = np.where(observed, y, np.nan)
    analytic = LeeBounds().fit(y, t)
    boot = LeeBounds(se_method="bootstrap", n_bootstrap=400, random_state=3).fit(y, t)
    again = LeeBounds(se_method="bootstrap", n_bootstrap=400, random_state=3).fit(y, t)
    assert boot.bounds_stderr_ == again.bounds_stderr_
    assert boot.bounds_ == analytic.bounds_
    assert boot.bounds_stderr_ == pytest.approx(analytic.bounds_stderr_, rel=0.15)
    assert boot.diagnostics_["bootstrap_reps"] == 400.0


def test_selective_attrition_biases_complete_cases_and_the_bounds_hold_the_truth() -> None:
    """Outcomes missing because they are low (MNAR): the complete-case difference is off by a
    third, the effect on the always-observed (1, the effect is constant) lies within the bounds."""
    y, t, observed = _attrition_experiment(20_000, seed=2, selective=True)
    bounds = trimming_bounds(y, t, observed)
    assert abs(bounds.complete_case_difference - 1.0) > 0.25
    assert bounds.lower < 1.0 < bounds.upper


def test_through_the_registry_rows_with_missing_outcomes_count() -> None:
    y, t, observed = _attrition_experiment(2000, seed=4)
    frame = pd.DataFrame({"treated": t, "y": np.where(observed, y, np.nan)})
    roles = RoleMapping(treatment="treated", outcome="y")
    result = estimate("lee_bounds", frame, roles, seed=1)
    assert result.estimand == "bounds" and result.method == "lee_bounds"
    assert result.n == 2000 and result.n_dropped == 0
    assert result.diagnostics["n_missing_outcome"] == float((~observed).sum())
    assert result.diagnostics["trimmed_arm"] == "treated"
    assert (
        result.ci_lower
        < result.diagnostics["lower_bound"]
        < result.diagnostics["upper_bound"]
        < result.ci_upper
    )  # type: ignore[operator]
    assert result.ci_lower < 1.0 < result.ci_upper  # type: ignore[operator]
    # Other methods still run on the complete cases only.
    assert estimate("diff_in_means", frame, roles).n == int(observed.sum())


def test_every_outcome_missing_in_an_arm_is_refused_by_name() -> None:
    y, t = _arms([1.0, 2.0, 3.0], [None, None, 4.0])
    with pytest.raises(EstimationError, match="control arm has 1"):
        LeeBounds().fit(y, t)


def _nsw_with_holes(kind: str, seed: int = 11) -> pd.DataFrame:
    """The NSW experiment (causaldata.nsw_mixtape, 185 treated, 260 controls) with re78 punched
    out. MCAR: 30 % of the treated and 47 % of the controls at random (40 % of all outcomes).
    MNAR: 60 % of the controls who earned nothing in 1978 (re78 == 0) stop answering, the
    treated all answer (the programme keeps in touch), so attrition is monotone by construction."""
    causaldata = pytest.importorskip("causaldata")
    nsw = causaldata.nsw_mixtape.load_pandas().data.drop(columns="data_id")
    rng = np.random.default_rng(seed)
    u = rng.random(len(nsw))
    treated = (nsw["treat"] == 1).to_numpy()
    if kind == "mcar":
        lost = u < np.where(treated, 0.30, 0.47)
    else:
        lost = ~treated & (nsw["re78"] == 0).to_numpy() & (u < 0.60)
    return nsw.assign(re78=nsw["re78"].astype(float).where(~lost))


@pytest.mark.parametrize("kind", ["mcar", "mnar"])
def test_nsw_with_punched_outcomes_is_bounded_around_the_experimental_benchmark(kind: str) -> None:
    """MCAR: the bounds' interval covers the experimental benchmark ($1,794). MNAR: the complete
    cases understate it by three quarters (the jobless controls are gone); Lee's bounds are wide
    (they speak for the always-observed, whoever they are) and hold the benchmark."""
    frame = _nsw_with_holes(kind)
    roles = RoleMapping(treatment="treat", outcome="re78")
    result = estimate("lee_bounds", frame, roles, seed=1)
    complete_case = estimate("diff_in_means", frame, roles)
    assert result.n == 445 and result.n_dropped == 0
    assert result.diagnostics["trimmed_arm"] == "treated"
    assert result.ci_lower < NSW_ATE < result.ci_upper  # type: ignore[operator]
    if kind == "mcar":
        assert result.diagnostics["n_missing_outcome"] / 445 == pytest.approx(0.4, abs=0.05)
    else:
        assert complete_case.estimate < NSW_ATE - 900
        assert result.diagnostics["lower_bound"] < NSW_ATE < result.diagnostics["upper_bound"]  # type: ignore[operator]
