"""CQOx estimators: one interface, one registry, one design-preparation step."""

from cqox_estimator.estimators.base import CausalEstimator, FitSummary
from cqox_estimator.estimators.design import (
    MIN_ROWS_PER_ARM,
    DesignData,
    EstimationError,
    prepare,
)
from cqox_estimator.estimators.difference import DifferenceInMeans
from cqox_estimator.estimators.registry import (
    DESIGNS,
    REGISTRY,
    MethodSpec,
    select_methods,
)
from cqox_estimator.estimators.regression import RegressionAdjustment
from cqox_estimator.estimators.weighting import InversePropensityWeighting

__all__ = [
    "DESIGNS",
    "MIN_ROWS_PER_ARM",
    "REGISTRY",
    "CausalEstimator",
    "DesignData",
    "DifferenceInMeans",
    "EstimationError",
    "FitSummary",
    "InversePropensityWeighting",
    "MethodSpec",
    "RegressionAdjustment",
    "prepare",
    "select_methods",
]
