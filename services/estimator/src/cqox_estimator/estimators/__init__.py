"""CQOx estimators: one interface, one registry, one design-preparation step."""

from cqox_estimator.estimators.base import CausalEstimator, FitSummary
from cqox_estimator.estimators.design import DesignData, prepare
from cqox_estimator.estimators.difference import DifferenceInMeans
from cqox_estimator.estimators.discontinuity import RegressionDiscontinuity
from cqox_estimator.estimators.dml import CausalForest, LinearDML
from cqox_estimator.estimators.doubly_robust import AugmentedIPW, DRLearner, PolicyTree
from cqox_estimator.estimators.errors import MIN_ROWS_PER_ARM, BinaryTreatmentRequired, EstimationError
from cqox_estimator.estimators.instrumental import TwoStageLeastSquares
from cqox_estimator.estimators.matching import PropensityScoreMatching, PropensityStratification
from cqox_estimator.estimators.metalearners import SLearner, TLearner, XLearner
from cqox_estimator.estimators.panel import TwoWayFixedEffects
from cqox_estimator.estimators.planner import select_methods
from cqox_estimator.estimators.registry import (
    DESIGNS,
    REGISTRY,
    MethodSpec,
    methods_by_cost,
)
from cqox_estimator.estimators.regression import Cuped, InteractedRegression, RegressionAdjustment
from cqox_estimator.estimators.spatial import SpatialSpillover
from cqox_estimator.estimators.staggered import CallawaySantAnna
from cqox_estimator.estimators.synthetic import SyntheticControl
from cqox_estimator.estimators.weighting import (
    EntropyBalancing,
    InversePropensityWeighting,
    OverlapWeighting,
)

__all__ = [
    "DESIGNS",
    "MIN_ROWS_PER_ARM",
    "REGISTRY",
    "AugmentedIPW",
    "BinaryTreatmentRequired",
    "CallawaySantAnna",
    "CausalEstimator",
    "CausalForest",
    "Cuped",
    "DRLearner",
    "DesignData",
    "DifferenceInMeans",
    "EntropyBalancing",
    "EstimationError",
    "FitSummary",
    "InteractedRegression",
    "InversePropensityWeighting",
    "LinearDML",
    "MethodSpec",
    "OverlapWeighting",
    "PolicyTree",
    "PropensityScoreMatching",
    "PropensityStratification",
    "RegressionAdjustment",
    "RegressionDiscontinuity",
    "SLearner",
    "SpatialSpillover",
    "SyntheticControl",
    "TLearner",
    "TwoStageLeastSquares",
    "TwoWayFixedEffects",
    "XLearner",
    "methods_by_cost",
    "prepare",
    "select_methods",
]
