"""Which methods exist: each one's class, the roles and designs it needs, and its cost."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from cqox_contracts.v1 import Design, RoleMapping
from cqox_estimator.estimators.base import CausalEstimator
from cqox_estimator.estimators.bounds import LeeBounds
from cqox_estimator.estimators.cross_section import DoublyRobustDiDCrossSection, RegressionDiD
from cqox_estimator.estimators.difference import DifferenceInMeans
from cqox_estimator.estimators.discontinuity import RegressionDiscontinuity
from cqox_estimator.estimators.dml import CausalForest, LinearDML
from cqox_estimator.estimators.doubly_robust import AugmentedIPW, DRLearner, PolicyTree
from cqox_estimator.estimators.instrumental import TwoStageLeastSquares
from cqox_estimator.estimators.matching import PropensityScoreMatching, PropensityStratification
from cqox_estimator.estimators.metalearners import SLearner, TLearner, XLearner
from cqox_estimator.estimators.panel import TwoWayFixedEffects
from cqox_estimator.estimators.regression import Cuped, InteractedRegression, RegressionAdjustment
from cqox_estimator.estimators.spatial import SpatialSpillover
from cqox_estimator.estimators.staggered import CallawaySantAnna
from cqox_estimator.estimators.synthetic import SyntheticControl
from cqox_estimator.estimators.weighting import (
    EntropyBalancing,
    InversePropensityWeighting,
    OverlapWeighting,
)

DESIGNS = frozenset(Design)
ROLE_FIELDS = frozenset(RoleMapping.model_fields) - {"excluded"}
Cost = Literal["light", "heavy"]


@dataclass(frozen=True)
class MethodSpec:
    """One registered method: its class, the roles and designs it needs, its cost.

    What the method is (estimand, adjustment, reliance on overlap) is stated once, on its class.
    """

    name: str
    estimator: type[CausalEstimator]
    required_roles: frozenset[str]
    optional_roles: frozenset[str] = frozenset()
    # Cross-section methods by default; a geographic design (units with locations) is still
    # selection on observables, with the coordinates among the covariates.
    designs: frozenset[str] = frozenset({"observational", "experiment", "geographic"})
    default_params: Mapping[str, Any] = field(default_factory=dict)
    cost: Cost = "light"
    # Per-unit outputs written to the artifact store: CATE Parquet, policy CSV.
    writes_effects: bool = False
    writes_policy: bool = False

    def __post_init__(self) -> None:
        if self.estimator.method != self.name:
            raise ValueError(f"spec {self.name!r} disagrees with {self.estimator.__name__}")
        unknown_roles = (self.required_roles | self.optional_roles) - ROLE_FIELDS
        if unknown_roles or not self.designs <= DESIGNS:
            raise ValueError(f"spec {self.name!r} names unknown roles or designs")
        object.__setattr__(self, "default_params", MappingProxyType(dict(self.default_params)))

    @property
    def estimand(self) -> str:
        """The estimand the method's class states."""
        return str(self.estimator.estimand)

    def missing_roles(self, roles: RoleMapping) -> list[str]:
        """Required roles that `roles` leaves empty."""
        return sorted(r for r in self.required_roles if not getattr(roles, r))

    def build(self, options: Mapping[str, Any] | None = None) -> CausalEstimator:
        """A fresh estimator with the default parameters overridden by `options`."""
        return self.estimator(**{**self.default_params, **(options or {})})


_CORE = frozenset({"treatment", "outcome"})
_WITH_COVARIATES = frozenset({"treatment", "outcome", "covariates"})


def _register(*specs: MethodSpec) -> dict[str, MethodSpec]:
    return {spec.name: spec for spec in specs}


REGISTRY: dict[str, MethodSpec] = _register(
    MethodSpec(
        name="diff_in_means",
        estimator=DifferenceInMeans,
        required_roles=_CORE,
    ),
    MethodSpec(
        name="ols",
        estimator=RegressionAdjustment,
        required_roles=_CORE,
        optional_roles=frozenset({"covariates"}),
    ),
    MethodSpec(
        name="ols_interacted",
        estimator=InteractedRegression,
        required_roles=_CORE,
        optional_roles=frozenset({"covariates"}),
        writes_effects=True,
    ),
    MethodSpec(
        name="ipw",
        estimator=InversePropensityWeighting,
        required_roles=_WITH_COVARIATES,
        default_params={"trim": 0.01},
    ),
    MethodSpec(name="psm", estimator=PropensityScoreMatching, required_roles=_WITH_COVARIATES),
    MethodSpec(
        name="ps_stratification",
        estimator=PropensityStratification,
        required_roles=_WITH_COVARIATES,
    ),
    MethodSpec(name="aipw", estimator=AugmentedIPW, required_roles=_WITH_COVARIATES),
    MethodSpec(name="overlap_weights", estimator=OverlapWeighting, required_roles=_WITH_COVARIATES),
    MethodSpec(name="entropy_balancing", estimator=EntropyBalancing, required_roles=_WITH_COVARIATES),
    MethodSpec(
        name="linear_dml",
        estimator=LinearDML,
        required_roles=_WITH_COVARIATES,
        writes_effects=True,
    ),
    MethodSpec(
        name="causal_forest",
        estimator=CausalForest,
        required_roles=_WITH_COVARIATES,
        cost="heavy",
        writes_effects=True,
    ),
    MethodSpec(
        name="s_learner",
        estimator=SLearner,
        required_roles=_WITH_COVARIATES,
        cost="heavy",  # bootstrap refits every model B times
        writes_effects=True,
    ),
    MethodSpec(
        name="t_learner",
        estimator=TLearner,
        required_roles=_WITH_COVARIATES,
        cost="heavy",
        writes_effects=True,
    ),
    MethodSpec(
        name="x_learner",
        estimator=XLearner,
        required_roles=_WITH_COVARIATES,
        cost="heavy",
        writes_effects=True,
    ),
    MethodSpec(
        name="dr_learner",
        estimator=DRLearner,
        required_roles=_WITH_COVARIATES,
        writes_effects=True,
    ),
    MethodSpec(
        name="policy_tree",
        estimator=PolicyTree,
        required_roles=_WITH_COVARIATES,
        writes_effects=True,
        writes_policy=True,
    ),
    MethodSpec(
        name="cuped",
        estimator=Cuped,
        required_roles=_CORE,
        optional_roles=frozenset({"covariates"}),
        designs=frozenset({"experiment"}),
    ),
    MethodSpec(
        name="twfe",
        estimator=TwoWayFixedEffects,
        required_roles=frozenset({"treatment", "outcome", "unit", "time"}),
        optional_roles=frozenset({"covariates"}),
        # Beside the synthetic control too: the classic DiD a reader expects to compare it with
        # (its SE is flagged by treated_clusters when only one or a few units are treated).
        designs=frozenset({"panel", "synthetic_control"}),
    ),
    MethodSpec(
        name="cs_did",
        estimator=CallawaySantAnna,
        required_roles=frozenset({"treatment", "outcome", "unit", "time"}),
        optional_roles=frozenset({"covariates"}),
        designs=frozenset({"panel"}),
    ),
    MethodSpec(
        name="iv_2sls",
        estimator=TwoStageLeastSquares,
        required_roles=frozenset({"treatment", "outcome", "instrument"}),
        optional_roles=frozenset({"covariates"}),
        designs=frozenset({"iv"}),
    ),
    MethodSpec(
        name="rd_robust",
        estimator=RegressionDiscontinuity,
        required_roles=frozenset({"treatment", "outcome", "running_variable"}),
        optional_roles=frozenset({"covariates"}),
        designs=frozenset({"rd"}),
    ),
    MethodSpec(
        name="synthetic_control",
        estimator=SyntheticControl,
        required_roles=frozenset({"treatment", "outcome", "unit", "time"}),
        designs=frozenset({"synthetic_control"}),
    ),
    MethodSpec(
        name="spatial_spillover",
        estimator=SpatialSpillover,
        required_roles=_CORE | frozenset({"latitude", "longitude"}),
        optional_roles=frozenset({"covariates"}),
        designs=frozenset({"geographic"}),
    ),
    MethodSpec(
        name="did_regression",
        estimator=RegressionDiD,
        required_roles=frozenset({"treatment", "outcome", "post"}),
        optional_roles=frozenset({"covariates"}),
        designs=frozenset({"repeated_cross_section"}),
    ),
    MethodSpec(
        name="drdid_rc",
        estimator=DoublyRobustDiDCrossSection,
        required_roles=frozenset({"treatment", "outcome", "post"}),
        optional_roles=frozenset({"covariates"}),
        designs=frozenset({"repeated_cross_section"}),
    ),
    MethodSpec(
        name="lee_bounds",
        estimator=LeeBounds,
        required_roles=_CORE,
        designs=frozenset({"experiment"}),
    ),
)


def methods_by_cost(cost: Cost) -> list[str]:
    """Registered methods of one cost class (deployment gives each class its own pools)."""
    return [name for name, spec in REGISTRY.items() if spec.cost == cost]
