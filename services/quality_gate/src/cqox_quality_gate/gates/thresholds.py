"""Configurable thresholds shared by every quality gate."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

ENV_PREFIX = "CQOX_GATE_"


class GateThresholds(BaseModel):
    """Pass/fail limits for the data and causal gates; defaults are the ADR 0004 values."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_missing_share: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Largest missing share a mapped column may have before it is flagged (a warning).",
    )
    min_complete_share: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description=(
            "Fewest rows, as a share of all rows, with every used column present (the complete cases "
            "every method runs on); below it the dataset is rejected."
        ),
    )
    max_attrition: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Largest share of rows with a treatment but no outcome before attrition is flagged.",
    )
    max_differential_attrition: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Largest difference in the missing-outcome share between treatment arms.",
    )
    min_arm_size: int = Field(
        default=20, ge=1, description="Fewest usable rows each treatment arm must have."
    )
    max_abs_smd: float = Field(
        default=0.1, gt=0, description="Largest |standardized mean difference| (Austin 2009 rule)."
    )
    propensity_lower: float = Field(
        default=0.05, ge=0, lt=0.5, description="Lower bound of the propensity overlap region."
    )
    propensity_upper: float = Field(
        default=0.95, gt=0.5, le=1, description="Upper bound of the propensity overlap region."
    )
    min_overlap_share: float = Field(
        default=0.9, ge=0, le=1, description="Share of units that must fall in the overlap region."
    )
    min_pretrend_p: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Below this p-value of the event-study pre-trend test, parallel trends fails.",
    )
    min_first_stage_f: float = Field(
        default=10.0,
        gt=0,
        description="Below this first-stage F (IV), the instrument is weak (Staiger-Stock rule).",
    )
    min_rd_support_points: int = Field(
        default=10,
        ge=2,
        description=(
            "Fewest distinct values of the running variable within the RD bandwidth on each side of "
            "the cutoff; below it the running variable is discrete there (mass points) and the local "
            "polynomial fit rests on a handful of points (rd_mass_points; Kolesar & Rothe 2018)."
        ),
    )
    min_density_p: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Below this p-value of the RD density test, the running variable looks manipulated.",
    )
    max_seed_spread_se: float = Field(
        default=1.0,
        gt=0,
        description=(
            "Largest move of an estimate between two seeds, in its standard errors, before "
            "unstable_across_seeds flags it."
        ),
    )
    max_linear_shift_se: float = Field(
        default=1.5,
        gt=0,
        description=(
            "Largest move of the doubly robust estimate, in its standard errors, when its flexible "
            "nuisances are replaced by linear ones, before linear_misspecification flags the "
            "methods that rest on linear models."
        ),
    )
    min_treated_clusters: int = Field(
        default=5,
        ge=1,
        description=(
            "Fewest treated clusters for which cluster-robust DiD standard errors are trusted "
            "(treated_clusters gate; Conley and Taber 2011, MacKinnon and Webb 2017)."
        ),
    )
    min_covariate_jump_p: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Below this smallest placebo p-value, a covariate jumps at the RD cutoff.",
    )
    overlap_error_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Below this overlap share a failed overlap gate is an error, not a warning.",
    )
    max_disagreement_z: float = Field(
        default=3.0,
        gt=0,
        description=(
            "Two methods of one estimand disagree when their estimates differ by more than this many "
            "standard errors of the difference (method_disagreement)."
        ),
    )

    min_e_value: float = Field(
        default=2.0,
        ge=1,
        description=(
            "Below this E-value of the headline estimate (VanderWeele & Ding 2017) a modest hidden "
            "confounder could explain it away (e_value, a warning)."
        ),
    )
    max_vif: float = Field(
        default=10.0,
        gt=1,
        description="Largest variance inflation factor of a covariate of the regression-type methods (vif).",
    )
    weak_overlap_margin: float = Field(
        default=0.1,
        gt=0,
        lt=0.5,
        description=(
            "Units with a propensity below this or above 1 minus it count as weakly overlapping "
            "(Crump et al. 2009 trim at 0.1)."
        ),
    )
    max_weak_overlap_share: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Largest share of weakly overlapping units before weak_overlap_share fails.",
    )
    min_ess_share: float = Field(
        default=0.3,
        gt=0,
        le=1,
        description=(
            "Smallest Kish effective sample size after inverse-propensity weighting, as a share of "
            "its arm's rows (effective_sample_size)."
        ),
    )
    srm_expected_treated_share: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description=(
            "The treated share an experiment was designed with (its planned allocation), stated in "
            "the analysis spec's thresholds or for a deployment; unset, sample_ratio_mismatch has no "
            "plan to test against and only reports the observed share."
        ),
    )
    min_srm_p: float = Field(
        default=0.001,
        gt=0,
        lt=1,
        description="Below this chi-square p-value the arms' sizes do not match the design (sample_ratio_mismatch).",
    )
    max_pre_rmspe_share: float = Field(
        default=0.5,
        gt=0,
        description=(
            "Largest pre-adoption RMSPE of a synthetic control, as a share of the outcome's SD "
            "(pre_period_fit): a check for gross misfit, since the treated unit's own noise, which "
            "no fit removes, can be a third of the SD."
        ),
    )
    sensitivity_alpha: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Significance level of the robustness value at alpha and of the Rosenbaum bound.",
    )
    min_placebo_p: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description=(
            "Below this p-value a placebo effect (permuted treatment, pre-treatment outcome, adoption "
            "moved into the pre-period) is an effect where there is none: placebo_treatment, "
            "placebo_outcome and placebo_adoption fail (a sound method fails at this rate by chance)."
        ),
    )
    min_subset_p: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description=(
            "Below this p-value the 80 % subsample estimates move more than the standard error "
            "explains (data_subset)."
        ),
    )
    max_random_cause_shift_se: float = Field(
        default=0.5,
        gt=0,
        description=(
            "Largest move of an estimate, in its standard errors, when an independent random "
            "covariate is added (random_common_cause)."
        ),
    )

    @model_validator(mode="after")
    def _check_order(self) -> Self:
        if self.overlap_error_share > self.min_overlap_share:
            raise ValueError("overlap_error_share must not exceed min_overlap_share")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GateThresholds:
        """Build thresholds from `CQOX_GATE_<FIELD>` variables; unset fields keep their defaults."""
        source = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field_name in cls.model_fields:
            raw = source.get(ENV_PREFIX + field_name.upper())
            if raw is not None and raw.strip():
                values[field_name] = raw.strip()
        return cls.model_validate(values)

    def overridden(self, overrides: Mapping[str, float]) -> GateThresholds:
        """These thresholds with one analysis's overrides; raises ValueError naming a bad one."""
        if not overrides:
            return self
        return type(self).model_validate({**self.model_dump(), **overrides})
