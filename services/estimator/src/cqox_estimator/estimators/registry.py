"""Which methods exist and how they are deployed: each one's class, designs and cost.

What a method is and needs (estimand, adjustment, roles, per-unit outputs) is stated once, on its
class (`CausalEstimator`'s class-level tags); the registry adds only deployment facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
# Cross-section methods by default; a geographic design (units with locations) is still
# selection on observables, with the coordinates among the covariates.
CROSS_SECTION = frozenset({Design.OBSERVATIONAL, Design.EXPERIMENT, Design.GEOGRAPHIC})


@dataclass(frozen=True)
class MethodSpec:
    """One registered method as deployed: its class, the designs it serves, its pool's cost class."""

    estimator: type[CausalEstimator]
    designs: frozenset[str] = CROSS_SECTION
    cost: Cost = "light"

    def __post_init__(self) -> None:
        unknown_roles = (self.required_roles | self.optional_roles) - ROLE_FIELDS
        if unknown_roles or not self.designs <= DESIGNS:
            raise ValueError(f"method {self.name!r} names unknown roles or designs")

    @property
    def name(self) -> str:
        """The method's name, as its class states it."""
        return self.estimator.method

    @property
    def estimand(self) -> str:
        """The estimand the method's class states."""
        return str(self.estimator.estimand)

    @property
    def required_roles(self) -> frozenset[str]:
        """Roles the method cannot run without (from its class)."""
        return self.estimator.required_roles()

    @property
    def optional_roles(self) -> frozenset[str]:
        """Roles the method uses when mapped (from its class)."""
        return self.estimator.optional_roles()

    def writes(self, table: str) -> bool:
        """Whether the method writes the per-unit table `table` ("effects" or "policy")."""
        return table in self.estimator.unit_outputs

    def missing_roles(self, roles: RoleMapping) -> list[str]:
        """Required roles that `roles` leaves empty."""
        return sorted(r for r in self.required_roles if not getattr(roles, r))

    def build(self, options: Mapping[str, Any] | None = None) -> CausalEstimator:
        """A fresh estimator with its class defaults overridden by `options`."""
        return self.estimator(**(options or {}))


def _register(*specs: MethodSpec) -> dict[str, MethodSpec]:
    return {spec.name: spec for spec in specs}


REGISTRY: dict[str, MethodSpec] = _register(
    MethodSpec(DifferenceInMeans),
    MethodSpec(RegressionAdjustment),
    MethodSpec(InteractedRegression),
    MethodSpec(InversePropensityWeighting),
    MethodSpec(PropensityScoreMatching),
    MethodSpec(PropensityStratification),
    MethodSpec(AugmentedIPW),
    MethodSpec(OverlapWeighting),
    MethodSpec(EntropyBalancing),
    MethodSpec(LinearDML),
    MethodSpec(CausalForest, cost="heavy"),
    MethodSpec(SLearner, cost="heavy"),  # bootstrap refits every model B times
    MethodSpec(TLearner, cost="heavy"),
    MethodSpec(XLearner, cost="heavy"),
    MethodSpec(DRLearner),
    MethodSpec(PolicyTree),
    MethodSpec(Cuped, designs=frozenset({Design.EXPERIMENT})),
    # Beside the synthetic control too: the classic DiD a reader expects to compare it with (its
    # SE is flagged by treated_clusters when only one or a few units are treated).
    MethodSpec(TwoWayFixedEffects, designs=frozenset({Design.PANEL, Design.SYNTHETIC_CONTROL})),
    MethodSpec(CallawaySantAnna, designs=frozenset({Design.PANEL})),
    MethodSpec(TwoStageLeastSquares, designs=frozenset({Design.IV})),
    MethodSpec(RegressionDiscontinuity, designs=frozenset({Design.RD})),
    MethodSpec(SyntheticControl, designs=frozenset({Design.SYNTHETIC_CONTROL})),
    MethodSpec(SpatialSpillover, designs=frozenset({Design.GEOGRAPHIC})),
    MethodSpec(RegressionDiD, designs=frozenset({Design.REPEATED_CROSS_SECTION})),
    MethodSpec(DoublyRobustDiDCrossSection, designs=frozenset({Design.REPEATED_CROSS_SECTION})),
    MethodSpec(LeeBounds, designs=frozenset({Design.EXPERIMENT})),
)


def methods_by_cost(cost: Cost) -> list[str]:
    """Registered methods of one cost class (deployment gives each class its own pools)."""
    return [name for name, spec in REGISTRY.items() if spec.cost == cost]
