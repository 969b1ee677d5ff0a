"""Value objects carried inside v1 events."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["info", "warning", "error"]
GateCategory = Literal["data", "causal"]
ReportLanguage = Literal["en", "ja"]
Role = Literal[
    "treatment",
    "outcome",
    "unit",
    "time",
    "covariate",
    "instrument",
    "running_variable",
    "cluster",
    "weight",
    "exclude",
    "post",
    "cohort",
    "latitude",
    "longitude",
    "region",
]


class _Value(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ColumnSchema(_Value):
    """One column of a stored dataset version."""

    name: str
    dtype: str = Field(description="Arrow type name, e.g. 'int64', 'double', 'string'.")
    nullable: bool = True


class ValueCount(_Value):
    """One frequent value of a column and how often it occurs."""

    value: str
    count: int


class ColumnProfile(_Value):
    """Summary statistics of one column of a stored dataset version."""

    name: str
    dtype: str
    missing_share: float = Field(ge=0, le=1)
    distinct_count: int
    min: float | str | None = None
    max: float | str | None = None
    mean: float | None = None
    top_values: list[ValueCount] = Field(default_factory=list)


class DatasetProfile(_Value):
    """Profile of a stored dataset version: rows and per-column statistics."""

    n_rows: int
    columns: list[ColumnProfile] = Field(default_factory=list)


class ColumnRetype(_Value):
    """A column whose type changed between two versions of a dataset."""

    name: str
    old_dtype: str
    new_dtype: str


class SchemaDiff(_Value):
    """How a version's schema differs from the previous version's (empty for the first)."""

    previous_version: int | None = None
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    retyped: list[ColumnRetype] = Field(default_factory=list)
    breaking: bool = False


class AnalysisSpec(_Value):
    """What the user asked for: methods, role overrides and options."""

    methods: Literal["auto"] | list[str] = "auto"
    roles: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description=(
            "Role overrides: role -> column (or list of columns for 'covariates'); 'cutoff' holds "
            "the running variable's threshold (the API also takes it as a JSON number)."
        ),
    )
    ci_level: float = Field(default=0.95, gt=0, lt=1)
    seed: int | None = Field(
        default=None,
        description=(
            "Seed for every random step; when absent, derived from the dataset version's content "
            "(`DatasetRef.sha256`), or from the analysis id for a reference without it."
        ),
    )
    options: dict[str, dict[str, float | int | str | bool]] = Field(
        default_factory=dict,
        description=(
            "Per-method options (keyword arguments of the method), e.g. "
            "{'cs_did': {'adjustment': 'dr'}, 'spatial_spillover': {'radius_km': 5}}; an unknown "
            "option fails that method with the list of accepted ones."
        ),
    )
    sensitivity: list[str] = Field(
        default_factory=list,
        description=(
            "Methods to give a sensitivity panel besides the headline's (which always gets one); "
            "['all'] for every method."
        ),
    )
    thresholds: dict[str, float] = Field(
        default_factory=dict,
        description=(
            "Quality-gate thresholds for this analysis, by name (e.g. {'min_e_value': 1.5, "
            "'max_vif': 5}); unset ones keep the deployment's CQOX_GATE_* values."
        ),
    )
    language: ReportLanguage | None = Field(
        default=None,
        description=(
            "Language of the report ('en' or 'ja'); unset: the dominant script of the dataset's "
            "column names decides."
        ),
    )


class RoleAssignment(_Value):
    """One column chosen for one role, with how sure the mapper is."""

    role: Role
    column: str
    confidence: float = Field(ge=0, le=1)
    source: Literal["inferred", "override"] = "inferred"
    reason: str = ""
    alternatives: list[str] = Field(default_factory=list)
    scores: dict[str, float] = Field(
        default_factory=dict,
        description="Combined name+value score of this role for each alternative column (and this one).",
    )
    coding: dict[str, int] = Field(
        default_factory=dict,
        description="How a two-level treatment or post column is coded 0/1, e.g. {'いいえ': 0, 'はい': 1}.",
    )
    cutoff: float | None = Field(
        default=None, description="Running variable only: the inferred (or given) threshold."
    )
    language: str | None = Field(
        default=None, description="Language of the synonym dictionary whose term matched the name."
    )


class RoleMapping(_Value):
    """Columns per causal role (the shape estimators consume)."""

    treatment: str | None = None
    outcome: str | None = None
    unit: str | None = None
    time: str | None = None
    covariates: list[str] = Field(default_factory=list)
    instrument: str | None = None
    running_variable: str | None = None
    cluster: str | None = None
    weight: str | None = None
    excluded: list[str] = Field(default_factory=list)
    post: str | None = Field(default=None, description="Post-period indicator (0 before, 1 after).")
    cohort: str | None = Field(default=None, description="Cohort: the period a unit is first treated.")
    latitude: str | None = None
    longitude: str | None = None
    region: str | None = Field(default=None, description="Geographic area (state, prefecture, city).")
    pre_outcome: str | None = Field(
        default=None,
        description=(
            "The outcome measured before treatment (e.g. last year's earnings): the placebo-outcome "
            "refuter estimates the treatment's 'effect' on it, which must be zero."
        ),
    )
    cutoff: float | None = Field(
        default=None, description="Threshold of the running variable where treatment switches on."
    )
    treatment_coding: dict[str, int] = Field(
        default_factory=dict, description="Two-level text treatment coded 0/1, e.g. {'no': 0, 'yes': 1}."
    )


class DesignSupport(_Value):
    """Whether the mapped roles support one study design, and why (or why not)."""

    design: str
    supported: bool
    reason: str = ""


class DatasetRef(_Value):
    """Claim check for one stored dataset version."""

    dataset_id: str
    version: int
    name: str
    parquet_uri: str
    n_rows: int
    columns: list[ColumnSchema]
    sha256: str | None = Field(
        default=None,
        description=(
            "SHA-256 of the uploaded file's bytes (hex); an analysis without a `seed` of its own "
            "takes its seed from it, so the same file gives the same estimates."
        ),
    )


class GateResult(_Value):
    """Outcome of one quality gate."""

    name: str
    category: GateCategory
    threshold: float | None = None
    value: float | None = None
    passed: bool
    severity: Severity
    message: str = ""
    applies_to: list[str] = Field(
        default_factory=list, description="Methods (or columns) this gate flags; empty = whole analysis."
    )
    details: dict[str, float | str | None] = Field(default_factory=dict)


class Artifact(_Value):
    """A stored artifact (figure, report, table)."""

    name: str
    uri: str
    media_type: str


class FigureEntry(_Value):
    """One figure (or table view) of the report's catalogue: what it shows and how it is stored."""

    name: str = Field(
        description="Unique key of the view in the report, e.g. 'forest', 'policy_tree_policy_tree'."
    )
    kind: str = Field(description="Catalogue kind, e.g. 'love', 'event_study', 'rd_density'.")
    method: str = Field(
        default="", description="Method(s) it draws, comma-separated; empty: the whole analysis."
    )
    section: str = Field(
        default="", description="Report section: estimates, balance, heterogeneity, design ..."
    )
    title: str = ""
    formats: list[str] = Field(
        default_factory=list,
        description="'plotly' (interactive, in the HTML), 'png' (static, in the PDF), 'table'.",
    )
    width_px: int | None = None
    height_px: int | None = None
    png_bytes: int | None = Field(default=None, description="Size of the static PNG rendering.")
    artifact: str | None = Field(default=None, description="Name of the PNG artifact, when stored.")


class ArmContrast(_Value):
    """One arm of a multi-valued treatment compared with the reference (control) arm."""

    arm: str = Field(description="Label of the compared treatment level as it appears in the data.")
    reference: str = Field(description="Label of the reference (control) level.")
    estimate: float = Field(description="Effect of `arm` versus `reference` (same estimand as the result).")
    std_error: float | None = Field(default=None, description="Standard error of the contrast.")
    ci_lower: float | None = Field(
        default=None, description="Lower confidence bound at the result's ci_level."
    )
    ci_upper: float | None = Field(
        default=None, description="Upper confidence bound at the result's ci_level."
    )
    p_value: float | None = Field(default=None, description="Two-sided p-value for a zero contrast.")
    n_arm: int | None = Field(default=None, description="Rows in `arm` that were used.")
    p_value_adjusted: float | None = Field(
        default=None,
        description=(
            "Holm-adjusted p-value across this result's contrasts (controls the family-wise error rate)."
        ),
    )


class EstimateResult(_Value):
    """One method's estimate, stated with its estimand and uncertainty."""

    method: str
    estimand: str = Field(description="ATE, ATT, ATC, LATE, CATE ...")
    estimate: float
    std_error: float | None
    ci_lower: float | None
    ci_upper: float | None
    ci_level: float = 0.95
    p_value: float | None
    n: int = Field(description="Rows used.")
    n_treated: int | None = None
    n_control: int | None = None
    n_dropped: int = 0
    dropped_reason: str = ""
    inference: str = Field(description="How the SE was obtained, e.g. 'HC1 robust', 'influence function'.")
    runtime_s: float = 0.0
    diagnostics: dict[str, float | str | None] = Field(default_factory=dict)
    artifacts: list[Artifact] = Field(
        default_factory=list,
        description="Per-unit outputs in the artifact store (CATE Parquet, policy CSV).",
    )
    contrasts: list[ArmContrast] = Field(
        default_factory=list,
        description=(
            "Multi-valued treatment: every arm versus the reference arm; `estimate` is then the "
            "first non-reference arm's contrast. Empty for a binary treatment."
        ),
    )
    adjustment: str | None = Field(
        default=None,
        description=(
            "How the method removes confounding (vocabulary.Adjustment): none, outcome, propensity, "
            "doubly_robust or design. Gates decide from it which doubts apply to the estimate."
        ),
    )
    relies_on_overlap: bool | None = Field(
        default=None,
        description=(
            "Whether the estimate needs treated and control units with similar covariates (common "
            "support): poor propensity overlap casts doubt on it."
        ),
    )
    dropped_covariates: list[str] = Field(
        default_factory=list,
        description=(
            "Covariate columns left out because they were constant or a linear combination of the "
            "intercept, the other covariates (or fixed effects); as R's lm and Stata report aliased terms."
        ),
    )


class Refutation(_Value):
    """One refuter run on one method: its estimate on data changed so that the answer is known."""

    method: str
    refuter: str = Field(description="Which check (vocabulary.Refuter), e.g. 'placebo_treatment'.")
    expectation: Literal["zero", "unchanged"] = Field(
        description="What a sound estimate does: the effect vanishes (zero) or does not move (unchanged)."
    )
    change: str = Field(default="", description="How the data were changed, in plain words.")
    estimate: float | None = Field(
        default=None, description="The method's estimate on the data as given (same seed as the analysis)."
    )
    std_error: float | None = None
    refuted_estimate: float | None = Field(
        default=None, description="The estimate on the changed data (the mean over draws when several)."
    )
    refuted_std_error: float | None = None
    p_value: float | None = Field(
        default=None,
        description=(
            "p-value of the refuter's test: the placebo effect is zero, or the subsample estimates "
            "move only as much as the standard error says."
        ),
    )
    shift_se: float | None = Field(
        default=None,
        description="Largest move of the estimate under the change, in standard errors of the estimate.",
    )
    draws: list[float] = Field(default_factory=list, description="The estimate of every seeded draw.")
    seed: int | None = Field(default=None, description="Seed of the random change (from the analysis seed).")
    error: str | None = Field(
        default=None, description="Why the refuter could not run (the method failed on the changed data)."
    )
    not_applicable: str | None = Field(
        default=None,
        description=(
            "Why this check does not apply to this method or design, so it was not run (e.g. no "
            "pre-treatment outcome was mapped); only method, refuter and expectation are set besides."
        ),
    )


class MethodFailure(_Value):
    """A method that could not produce an estimate, and why."""

    method: str
    reason: str
    error_type: str = "error"


class Headline(_Value):
    """The one answer an analysis leads with: one estimand, chosen from design and overlap."""

    estimand: str = Field(description="The estimand the headline speaks for (vocabulary.Estimand).")
    method: str = Field(description="The method whose estimate is shown (the median of its group).")
    estimate: float
    ci_lower: float | None = None
    ci_upper: float | None = None
    ci_level: float = 0.95
    reason: str = Field(description="Why this estimand leads, in plain words.")
    methods: list[str] = Field(
        default_factory=list,
        description="Methods of this estimand that no gate casts doubt on (the group the median is of).",
    )
    flagged: list[str] = Field(
        default_factory=list, description="Methods of this estimand left out because a gate flags them."
    )
    n_agreeing: int = Field(default=0, description="Methods of the group whose CIs overlap the headline's.")


class EValue(_Value):
    """VanderWeele & Ding (2017) E-values: how strong a hidden confounder would have to be."""

    point: float = Field(
        description=(
            "Minimum risk-ratio association a hidden confounder would need with both treatment and "
            "outcome to explain the point estimate away."
        )
    )
    ci: float | None = Field(
        default=None,
        description="The same for the confidence limit nearest the null (1 when the interval includes it).",
    )
    risk_ratio: float = Field(description="The estimate on the risk-ratio scale the E-value is computed on.")
    rr_lower: float | None = None
    rr_upper: float | None = None
    conversion: str = Field(
        default="",
        description="How the estimate was put on the risk-ratio scale, e.g. 'RR ≈ exp(0.91 d), d = 0.42'.",
    )


class BenchmarkBound(_Value):
    """Cinelli & Hazlett (2020) bound: a confounder k times as strong as an observed covariate."""

    covariate: str
    k: float
    r2dz_x: float = Field(description="Partial R² of the confounder with the treatment.")
    r2yz_dx: float = Field(description="Partial R² of the confounder with the outcome.")
    adjusted_estimate: float
    adjusted_se: float
    adjusted_ci_lower: float
    adjusted_ci_upper: float


class OmittedVariableBias(_Value):
    """Cinelli & Hazlett (2020) omitted-variable-bias analysis of the linear regression adjustment."""

    estimate: float = Field(
        description="Treatment coefficient of the OLS of outcome on treatment and covariates."
    )
    std_error: float
    dof: int = Field(description="Residual degrees of freedom of that regression.")
    partial_r2: float = Field(description="Partial R² of the treatment with the outcome, R²_{Y~D|X}.")
    robustness_value: float = Field(
        description="RV_q=1: the confounder strength that brings the estimate to 0."
    )
    robustness_value_alpha: float = Field(
        description="RV_q=1,α: the strength that makes the estimate no longer significant at α."
    )
    alpha: float = 0.05
    bounds: list[BenchmarkBound] = Field(default_factory=list)
    strongest_covariate: str | None = Field(
        default=None, description="The observed covariate the bounds are multiples of."
    )
    regression: str = Field(
        default="",
        description=(
            "The regression these figures are computed on and how its coefficient relates to the "
            "panel's estimate, in words."
        ),
    )


class GammaPoint(_Value):
    """One point of a Rosenbaum sensitivity curve."""

    gamma: float
    p_upper: float = Field(description="Upper bound of the one-sided p-value at this Γ.")


class RosenbaumBounds(_Value):
    """Rosenbaum Γ bounds for the Wilcoxon signed-rank test on matched pairs."""

    n_pairs: int
    critical_gamma: float | None = Field(
        default=None,
        description="Γ at which the upper-bound p-value reaches α (None: not significant even at Γ = 1).",
    )
    alpha: float = 0.05
    curve: list[GammaPoint] = Field(default_factory=list)
    matching: str = ""


class OsterBounds(_Value):
    """Oster (2019) coefficient stability: δ and the bias-adjusted β*."""

    beta_short: float = Field(description="Treatment coefficient without covariates.")
    r2_short: float
    beta_long: float = Field(description="Treatment coefficient with the covariates.")
    r2_long: float
    r_max: float
    delta: float | None = Field(
        default=None,
        description="How much more important unobservables must be than observables to make β = 0.",
    )
    beta_star: float | None = Field(default=None, description="Bias-adjusted coefficient at δ = 1.")
    regression: str = Field(
        default="", description="The regressions β̊ and β̃ come from and how β̃ relates to the panel's estimate."
    )
    alternative_roots: list[float] = Field(
        default_factory=list,
        description="Other real roots of Oster's cubic for β* (psacalc reports the one nearest β̃).",
    )
    var_outcome: float | None = Field(default=None, description="Variance of the outcome, σ²_y.")
    var_treatment: float | None = Field(default=None, description="Variance of the treatment, σ²_x.")
    var_treatment_residual: float | None = Field(
        default=None, description="Variance of the treatment's residual on the covariates, τ_x."
    )


class EstimateRobustness(_Value):
    """Cinelli & Hazlett (2020) figures of the estimate itself, from its t-statistic and degrees of
    freedom (as sensemakr computes them from an estimate, SE and dof)."""

    t_statistic: float
    dof: float = Field(description="Residual degrees of freedom the method reports.")
    partial_r2: float = Field(description="t² / (t² + dof): partial R² of the treatment with the outcome.")
    robustness_value: float
    robustness_value_alpha: float
    alpha: float = 0.05
    source: str = Field(default="", description="Where t and dof come from, and what that assumes.")


class SensitivityPanel(_Value):
    """How robust one estimate is to a confounder nobody measured."""

    method: str
    estimand: str
    estimate: float
    headline: bool = Field(default=False, description="Whether this is the analysis's headline estimate.")
    e_value: EValue | None = None
    omitted_variable_bias: OmittedVariableBias | None = None
    rosenbaum: RosenbaumBounds | None = None
    oster: OsterBounds | None = None
    estimate_robustness: EstimateRobustness | None = Field(
        default=None,
        description=(
            "RV and partial R² of the estimate itself, when it is a regression coefficient with a "
            "t-statistic and residual degrees of freedom (the OVB figures above may be another regression's)."
        ),
    )
    summary: str = Field(default="", description="What the measures say, in plain words.")
    notes: list[str] = Field(
        default_factory=list, description="Measures that do not apply to this estimate, and why."
    )


class Verdict(_Value):
    """GO / CAUTION / HOLD for an analysis, with the reasons in plain words."""

    level: Literal["GO", "CAUTION", "HOLD"]
    summary: str
    passed: list[str] = Field(default_factory=list, description="Testable assumptions whose checks passed.")
    failed: list[str] = Field(
        default_factory=list, description="Checks that failed, and what they cast doubt on."
    )
    untestable: list[str] = Field(
        default_factory=list, description="Assumptions the data cannot test (argue them)."
    )
    robustness: str = Field(default="", description="How robust the headline is to a hidden confounder.")
