"""The words every service must agree on: designs, estimands, kinds of adjustment.

Services never keep their own lists of these names; when two services must agree on a word, the
word lives here. Events carry them as plain strings (so an older consumer still reads a newer
value), and every producer writes one of these values.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Design(StrEnum):
    """A study design: what identifies the effect."""

    OBSERVATIONAL = "observational"  # selection on observables
    EXPERIMENT = "experiment"  # randomised assignment
    PANEL = "panel"  # units over time: difference in differences, staggered adoption
    REPEATED_CROSS_SECTION = "repeated_cross_section"  # 2x2 DiD: group x post, no unit id
    IV = "iv"  # an instrument shifts the treatment
    RD = "rd"  # treatment switches at a cutoff of a running variable
    SYNTHETIC_CONTROL = "synthetic_control"  # one or few treated units, many donors
    NETWORK = "network"
    GEOGRAPHIC = "geographic"  # units with locations: spillovers in space


class Estimand(StrEnum):
    """The population and contrast an estimate speaks for."""

    ATE = "ATE"  # average effect over everyone
    ATT = "ATT"  # average effect on the treated
    ATC = "ATC"  # average effect on the controls
    ATO = "ATO"  # average effect in the overlap population (overlap weights)
    LATE = "LATE"  # local effect: compliers (IV) or units at the cutoff (RD)
    CATE = "CATE"
    POLICY_GAIN = "policy gain"  # gain of a targeting policy over treating no one
    BOUNDS = "bounds"  # partial identification (e.g. Lee bounds): an interval, not a point


class Adjustment(StrEnum):
    """How a method removes confounding; the gates decide from this which doubts apply to it."""

    NONE = "none"  # raw contrast of arm means
    OUTCOME = "outcome"  # models the outcome given covariates (regression, S/T-learners)
    PROPENSITY = "propensity"  # weights or matches on the treatment model (IPW, matching)
    DOUBLY_ROBUST = "doubly_robust"  # both models (AIPW, DML, DR-learner, forests)
    DESIGN = "design"  # identification from the design itself (DiD, IV, RD, synthetic control)


class Refuter(StrEnum):
    """A placebo check run on a method's estimate: the data are changed so the answer is known."""

    PLACEBO_TREATMENT = "placebo_treatment"  # treatment permuted: the effect must vanish
    RANDOM_COMMON_CAUSE = "random_common_cause"  # a random covariate added: the estimate must not move
    DATA_SUBSET = "data_subset"  # 80 % subsamples: the estimate moves only as much as its SE says
    PLACEBO_OUTCOME = "placebo_outcome"  # a pre-treatment outcome: the treatment cannot have moved it
    PLACEBO_ADOPTION = "placebo_adoption"  # panels: adoption moved into the pre-period, effect must vanish


# Estimands that are averages over a population of units, comparable across methods only within
# one estimand (an ATE and an ATT differ whenever effects vary).
# Seeds NumPy and scikit-learn accept, so an analysis's `seed` lies in 0 .. SEED_RANGE - 1.
SEED_RANGE = 2**32
AVERAGE_ESTIMANDS = frozenset({Estimand.ATE, Estimand.ATT, Estimand.ATC, Estimand.ATO, Estimand.LATE})

# Adjustments that lean on the treatment model, so weak overlap or residual imbalance undermines
# them directly; outcome-model methods extrapolate across poor overlap instead.
PROPENSITY_BASED = frozenset({Adjustment.PROPENSITY, Adjustment.DOUBLY_ROBUST})

# What each gate checks, as an assumption a reader knows, keyed by the gate's name before any
# "[arm]" suffix. The quality gate writes these words into the verdict's reasons; the report
# translates them (they are its catalogue's message ids), so both read this one table.
GATE_ASSUMPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "raw_balance_smd": "the raw arms look alike on the covariates",
        "balance_smd": "weighting balances the covariates",
        "propensity_overlap": "every unit has comparable units in the other arm",
        "treated_overlap": "the treated have comparable controls",
        "weak_overlap_share": "few units sit where one arm is rare",
        "effective_sample_size": "the weights do not rest on a few units",
        "vif": "the covariates are not collinear",
        "parallel_trends": "treated and comparison units moved in parallel before treatment",
        "weak_instrument": "the instrument moves the treatment (relevance)",
        "rd_manipulation": "units did not sort themselves across the cutoff",
        "rd_covariate_continuity": "the covariates do not jump at the cutoff",
        "rd_weak_first_stage": "the treatment jumps at the cutoff",
        "rd_mass_points": "the running variable takes enough values near the cutoff",
        "sample_ratio_mismatch": "the arms have the sizes the experiment planned",
        "pre_period_fit": "the synthetic control tracks the treated unit before adoption",
        "e_value": "the headline survives a moderately strong hidden confounder",
        "method_disagreement": "methods of the same estimand agree",
        "unstable_across_seeds": "the estimates do not hinge on a random seed",
        "treated_clusters": "enough treated clusters for clustered standard errors",
        Refuter.PLACEBO_TREATMENT.value: "a placebo treatment (permuted; for a synthetic control, "
        "moved to a donor) shows no effect",
        Refuter.RANDOM_COMMON_CAUSE.value: "a random covariate does not move the estimate",
        Refuter.DATA_SUBSET.value: "the estimate is stable on subsamples (80 % of rows; for a "
        "synthetic control, each donor left out)",
        Refuter.PLACEBO_OUTCOME.value: "no effect on the outcome measured before treatment",
        Refuter.PLACEBO_ADOPTION.value: "no effect before adoption (adoption moved into the pre-period)",
    }
)
