"""Unadjusted contrast of arm means."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from cqox_contracts.v1 import Adjustment
from cqox_estimator.estimators.base import CausalEstimator, Contrast, FitSummary
from cqox_estimator.estimators.errors import EstimationError


class DifferenceInMeans(CausalEstimator):
    """Mean outcome of the treated minus mean outcome of the controls, with a Welch/Neyman SE.

    Unbiased for the ATE when treatment is randomised; in observational data it is the
    unadjusted baseline that the adjusted methods are compared against. Covariates are ignored.
    With a multi-valued treatment every arm is compared with the reference arm by its own
    Welch test; the result adds Holm-adjusted p-values across the arms.

    Parameters
    ----------
    use_t : bool, default True
        Use a t reference distribution with Welch-Satterthwaite degrees of freedom;
        False uses the normal distribution.
    """

    adjustment_kind = Adjustment.NONE
    relies_on_overlap = False

    method = "diff_in_means"
    estimand = "ATE"
    multi_arm = True
    uses_covariates = False

    def __init__(self, *, use_t: bool = True) -> None:
        self.use_t = use_t

    def _check_params(self) -> None:
        if not isinstance(self.use_t, bool | np.bool_):
            raise EstimationError(f"use_t must be true or false, got {self.use_t!r}")

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        if t.max() > 1:
            return self._fit_arms(y, t)
        treated, control = y[t == 1], y[t == 0]
        if min(treated.size, control.size) < 2:
            raise EstimationError("each arm needs at least two rows to estimate its variance")
        stderr, welch_df = _welch(treated, control)
        return FitSummary(
            ate=float(treated.mean() - control.mean()),
            stderr=stderr,
            inference="Neyman (unequal variances)",
            dof=float(welch_df) if self.use_t else None,
            diagnostics={
                "mean_treated": float(treated.mean()),
                "mean_control": float(control.mean()),
                "sd_treated": float(treated.std(ddof=1)),
                "sd_control": float(control.std(ddof=1)),
                "welch_df": float(welch_df),
                "covariates_used": "none (unadjusted)",
            },
        )

    def _fit_arms(self, y: NDArray[np.float64], t: NDArray[np.int64]) -> FitSummary:
        control = y[t == 0]
        contrasts: list[Contrast] = []
        diagnostics: dict[str, float | str | None] = {
            "mean_control": float(control.mean()),
            "sd_control": float(control.std(ddof=1)),
        }
        for arm in range(1, int(t.max()) + 1):
            treated = y[t == arm]
            stderr, welch_df = _welch(treated, control)
            contrasts.append(
                Contrast(float(treated.mean() - control.mean()), stderr, welch_df if self.use_t else None)
            )
            diagnostics[f"mean_arm_{arm}"] = float(treated.mean())
            diagnostics[f"welch_df_arm_{arm}"] = welch_df
        diagnostics["covariates_used"] = "none (unadjusted)"
        return FitSummary(
            ate=contrasts[0].estimate,
            stderr=contrasts[0].stderr,
            inference="Neyman (unequal variances), each arm vs the reference",
            dof=contrasts[0].dof,
            diagnostics=diagnostics,
            contrasts=tuple(contrasts),
        )


def _welch(treated: NDArray[np.float64], control: NDArray[np.float64]) -> tuple[float, float]:
    """Neyman SE of the difference in means and the Welch-Satterthwaite degrees of freedom."""
    var_treated = treated.var(ddof=1) / treated.size
    var_control = control.var(ddof=1) / control.size
    welch_df = (var_treated + var_control) ** 2 / (
        var_treated**2 / (treated.size - 1) + var_control**2 / (control.size - 1)
    )
    return float(np.sqrt(var_treated + var_control)), float(welch_df)
