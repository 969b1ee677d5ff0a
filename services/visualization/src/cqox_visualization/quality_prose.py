"""The quality gate's prose in the report's language: gate messages, verdict and sensitivity panel.

The quality gate writes its sentences in English. An English report shows them as written; a
translated one never parses that prose. It picks the catalogue entry of the gate's message form
(the gate's name, whether it passed, and which of its structured details are present) and fills it
with the gate's value, threshold, methods and details, numbers formatted for the locale. A gate
with no form of its own gets a general sentence built from the same fields. The entries live in
`locale/<lang>/LC_MESSAGES/quality.po`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence

from babel.lists import format_list
from babel.numbers import format_decimal

from cqox_contracts.v1.models import EstimateResult, GateResult, Headline, SensitivityPanel, Verdict
from cqox_contracts.v1.vocabulary import GATE_ASSUMPTIONS, Adjustment, Estimand
from cqox_visualization.i18n import Language

Details = Mapping[str, float | str | None]
_REQUIRED_ROLES = ("treatment", "outcome")
_ROLE_WORDS = {
    "treatment": "Treatment",
    "outcome": "Outcome",
    "unit": "Unit",
    "time": "Time",
    "covariate": "Covariate",
    "instrument": "Instrument",
    "running_variable": "Running variable",
    "cluster": "Cluster",
    "weight": "Weight",
}
_REFUTER_WORDS = {
    "placebo_treatment": "placebo treatment",
    "random_common_cause": "random common cause",
    "data_subset": "data subset",
    "placebo_outcome": "placebo outcome",
    "placebo_adoption": "placebo adoption",
}
_AVERAGES = {Estimand.ATE, Estimand.ATT, Estimand.ATC, Estimand.ATO}


def gate_family(name: str) -> tuple[str, str]:
    """A gate name split into its family and subject: 'completeness:age' -> ('completeness', 'age'),
    'placebo_treatment[ols]' -> ('placebo_treatment', 'ols'), 'vif' -> ('vif', '')."""
    if "[" in name and name.endswith("]"):
        family, subject = name[:-1].split("[", 1)
        return family, subject
    family, _, subject = name.partition(":")
    return family, subject


class _Fill:
    """Number and list formatting of one gate's fields in one language."""

    def __init__(self, gate: GateResult, t: Language) -> None:
        self.gate, self.t = gate, t

    def num(self, value: float | str | None, digits: int = 2) -> str:
        """A number with `digits` decimals in the locale's style ('—' when missing); a smaller one
        keeps three significant digits unless it is exact at `digits` (a bound such as 0.05)."""
        number = float(value) if isinstance(value, int | float) else None
        if number is not None and math.isfinite(number) and abs(number - round(number, digits)) < 1e-12:
            return format_decimal(
                number, format="#,##0." + "0" * digits if digits else "#,##0", locale=self.t.locale
            )
        return self.t.number(number, digits)

    def count(self, value: float | str | None) -> str:
        """A count with the locale's grouping."""
        return self.num(value, 0)

    def share(self, value: float | str | None, digits: int = 1) -> str:
        """A share as a percentage."""
        return self.t.percent(float(value) if isinstance(value, int | float) else None, digits)

    def p(self, value: float | str | None) -> str:
        """A p-value with three decimals."""
        return self.num(value, 3)

    @property
    def value(self) -> float | None:
        """The gate's value, when it is a finite number."""
        value = self.gate.value
        return value if value is not None and math.isfinite(value) else None

    @property
    def limit(self) -> float | None:
        """The gate's threshold, when it is a finite number."""
        limit = self.gate.threshold
        return limit if limit is not None and math.isfinite(limit) else None

    def names(self, items: Sequence[str]) -> str:
        """A list of names joined the locale's way."""
        return format_list(list(items), locale=self.t.locale) if items else "—"

    @property
    def methods(self) -> str:
        """The methods (or columns) the gate flags."""
        return self.names(self.gate.applies_to)

    def role(self, role: str) -> str:
        """A role name as the report's roles table says it."""
        return self.t(_ROLE_WORDS.get(role, role))


Form = Callable[[_Fill, str], str | None]


def _required_roles(f: _Fill, _subject: str) -> str:
    if f.gate.passed:
        return f.t("Treatment and outcome are both mapped.")
    unmapped = [r for r in str(f.gate.details.get("unmapped_roles") or "").split(", ") if r]
    return f.t(
        "No column is mapped to {roles}; map one before estimating.",
        roles=f.names([f.role(r) for r in unmapped]),
    )


def _columns_present(f: _Fill, _subject: str) -> str:
    if f.gate.passed:
        return f.t("Every mapped column is in the data.")
    missing = [
        f.t("{column} ({role})", column=key.removeprefix("missing:"), role=f.role(str(role)))
        for key, role in f.gate.details.items()
        if key.startswith("missing:")
    ]
    return f.t(
        "Mapped columns missing from the data: {columns}; fix the mapping or re-upload.",
        columns=f.names(missing),
    )


def _completeness(f: _Fill, column: str) -> str:
    d = f.gate.details
    role = str(d.get("role") or "")
    values = {"column": column, "role": f.role(role), "share": f.share(f.value), "limit": f.share(f.limit, 0)}
    if f.gate.passed:
        return f.t("Column {column} ({role}) is {share} missing, within the {limit} cap.", **values)
    if role in _REQUIRED_ROLES:
        present = _float(d.get("n_rows")) - _float(d.get("n_missing"))
        return f.t(
            "Column {column} ({role}) is {share} missing, above the {limit} cap; the methods use the "
            "{n} rows where it is present.",
            n=f.count(present),
            **values,
        )
    return f.t(
        "Column {column} ({role}) is {share} missing, above the {limit} cap; rows without it are "
        "dropped: drop it from the covariates or impute it to keep them.",
        **values,
    )


def _complete_cases(f: _Fill, _subject: str) -> str:
    d = f.gate.details
    n_rows, n_complete = d.get("n_rows"), d.get("n_complete")
    n_usable = d.get("n_complete_with_covariates")
    values = {
        "n_rows": f.count(n_rows),
        "n_complete": f.count(n_complete),
        "share": f.share(f.value),
        "columns": f.names([c for c in str(d.get("columns") or "").split(", ") if c]),
    }
    if not f.gate.passed:
        return f.t(
            "Only {n_complete} of {n_rows} rows ({share}) have {columns}, below the {limit} minimum; "
            "recover the missing values or map columns that are filled in.",
            limit=f.share(f.limit, 0),
            **values,
        )
    if n_usable == n_rows:
        return f.t("All {n_rows} rows have every used column.", **values)
    if _float(n_usable) < _float(n_complete):
        return f.t(
            "{n_complete} of {n_rows} rows ({share}) have {columns}; {n_usable} also have every "
            "covariate, and the methods run on those (drop the sparsest covariate or impute it to "
            "keep more rows).",
            n_usable=f.count(n_usable),
            **values,
        )
    return f.t("{n_complete} of {n_rows} rows ({share}) have {columns}; the methods run on them.", **values)


def _attrition(f: _Fill, _subject: str) -> str | None:
    d = f.gate.details
    if f.value is None or not f.gate.applies_to:
        return None
    outcome = f.gate.applies_to[0]
    if not _float(d.get("n_missing_outcome")):
        return f.t("Every row with a treatment has its outcome {outcome}: no attrition.", outcome=outcome)
    arms = [
        f.t("{arm}: {share}", arm=key[len("attrition[") : -1], share=f.share(value))
        for key, value in d.items()
        if key.startswith("attrition[")
    ]
    by_arm = f.t(" (by arm: {listing})", listing=f.names(arms)) if arms else ""
    differential_limit = _float(d.get("max_differential_attrition"))
    values = {"outcome": outcome, "share": f.share(f.value), "by_arm": by_arm, "limit": f.share(f.limit, 0)}
    if f.gate.passed:
        return f.t(
            "Outcome {outcome} is missing for {share} of rows with a treatment{by_arm}, within the "
            "{limit} overall and {points}-point differential limits.",
            points=f.num(differential_limit * 100, 0),
            **values,
        )
    problems = []
    if f.limit is not None and f.value > f.limit:
        problems.append(f.t("above the {limit} limit", limit=f.share(f.limit, 0)))
    differential = d.get("differential_attrition")
    if isinstance(differential, float) and differential > differential_limit:
        problems.append(
            f.t(
                "the arms differ by {points} percentage points, above the {limit}-point limit",
                points=f.num(differential * 100, 1),
                limit=f.num(differential_limit * 100, 0),
            )
        )
    return f.t(
        "Outcome {outcome} is missing for {share} of rows with a treatment{by_arm}: {problems}. "
        "Estimates use the complete cases and assume outcomes are missing at random within arms; read "
        "the Lee (2009) bounds for what selective attrition could do, or follow up the missing outcomes.",
        problems=f.names(problems),
        **values,
    )


def _treatment_arms(f: _Fill, _subject: str) -> str | None:
    d = f.gate.details
    if f.value is None or not f.gate.applies_to:
        return None
    values = {"treatment": f.gate.applies_to[0], "min": f.count(f.limit)}
    n_levels = int(_float(d.get("n_levels")))
    if d.get("treatment_scale") == "continuous":
        return f.t(
            "Treatment {treatment} is a continuous treatment ({k} values, {low} to {high}): only "
            "methods that accept one will run.",
            k=f.count(n_levels),
            low=f.num(d.get("treatment_min"), 2),
            high=f.num(d.get("treatment_max"), 2),
            **values,
        )
    if "n_treated_units" in d:
        counts = f.t(
            "{treated} units ever treated ({treated_rows} unit-periods) and {control} never treated "
            "({control_rows} unit-periods)",
            treated=f.count(d.get("n_treated_units")),
            treated_rows=f.count(d.get("n_treated_unit_periods")),
            control=f.count(d.get("n_control_units")),
            control_rows=f.count(d.get("n_control_unit_periods")),
        )
        if not _float(d.get("n_treated_units")) or not _float(d.get("n_control_units")):
            return f.t(
                "Treatment {treatment} leaves one group of units empty ({counts}); a panel comparison "
                "needs both ever-treated and never-treated units.",
                counts=counts,
                **values,
            )
        if f.gate.passed:
            return f.t(
                "Treatment {treatment} splits the panel into {counts}: arms are counted as groups of "
                "units, each with at least {min} unit-periods.",
                counts=counts,
                **values,
            )
        return f.t(
            "Treatment {treatment} splits the panel into {counts}: arms are counted as groups of units, "
            "and one has fewer than {min} unit-periods; collect more units or periods.",
            counts=counts,
            **values,
        )
    if n_levels > 2:
        k = f.count(sum(1 for key in d if key.startswith("n[")) or n_levels)
        if f.gate.passed:
            return f.t(
                "Treatment {treatment} has {k} arms, each with at least {min} rows; methods that accept "
                "a multi-valued treatment compare each arm with the reference.",
                k=k,
                **values,
            )
        if f.limit is not None and f.value < f.limit:
            return f.t(
                "Treatment {treatment} has {k} arms but the smallest has {smallest} rows, below the "
                "minimum of {min}; collect more data or merge thin arms.",
                k=k,
                smallest=f.count(f.value),
                **values,
            )
        return f.t(
            "Treatment {treatment} has {k} levels, too many to compare as arms; group its levels, or "
            "map a binary treatment.",
            k=k,
            **values,
        )
    arms = {"treated": f.count(d.get("n_treated")), "control": f.count(d.get("n_control"))}
    if f.gate.passed:
        return f.t(
            "Treatment {treatment} has two arms ({treated} treated, {control} control), each with at "
            "least {min} rows.",
            **arms,
            **values,
        )
    if n_levels < 2:
        return f.t(
            "Treatment {treatment} has a single arm ({level}); a comparison needs both treated and "
            "control rows.",
            level=str(d.get("levels") or "—"),
            **values,
        )
    return f.t(
        "Treatment arm sizes {treated} treated / {control} control are below the minimum of {min} rows "
        "per arm; collect more data.",
        **arms,
        **values,
    )


def _outcome_variance(f: _Fill, _subject: str) -> str | None:
    if not f.gate.applies_to:
        return None
    outcome = f.gate.applies_to[0]
    if f.value is None:
        return f.t(
            "Outcome {outcome} is not numeric; map a numeric (or 0/1) outcome column.", outcome=outcome
        )
    if f.gate.passed:
        return f.t(
            "Outcome {outcome} varies (standard deviation {sd}).", outcome=outcome, sd=f.num(f.value, 3)
        )
    return f.t(
        "Outcome {outcome} is constant, so no effect can be estimated; map another outcome.", outcome=outcome
    )


def _raw_balance(f: _Fill, _subject: str) -> str | None:
    if f.value is None:
        return None
    values = {"value": f.num(f.value), "limit": f.num(f.limit)}
    if f.gate.passed:
        return f.t(
            "Raw covariates are balanced: max |SMD| {value} ≤ {limit}, so unadjusted comparisons are "
            "not visibly confounded by the mapped covariates.",
            **values,
        )
    worst = str(f.gate.details.get("worst") or "—")
    if f.gate.applies_to:
        return f.t(
            "Raw covariates are imbalanced: max |SMD| {value} > {limit} ({worst}), so the unadjusted "
            "estimates ({methods}) are prone to confounding; rely on covariate-adjusted estimates.",
            worst=worst,
            methods=f.methods,
            **values,
        )
    return f.t(
        "Raw covariates are imbalanced: max |SMD| {value} > {limit} ({worst}), so unadjusted "
        "comparisons are prone to confounding; rely on covariate-adjusted estimates.",
        worst=worst,
        **values,
    )


def _balance(f: _Fill, _subject: str) -> str | None:
    d = f.gate.details
    if d.get("n_covariates") == 0.0:
        return f.t(
            "No covariates are mapped, so balance is trivially satisfied; map pre-treatment covariates "
            "unless treatment was randomised."
        )
    if f.value is None:
        return None
    values = {"value": f.num(f.value), "limit": f.num(f.limit), "raw": f.num(d.get("max_smd_before"))}
    if f.gate.passed:
        return f.t(
            "Covariate balance after weighting is good: max |SMD| {value} ≤ {limit} (raw {raw}).", **values
        )
    worst = str(d.get("worst_after") or "—")
    if f.gate.applies_to:
        return f.t(
            "Covariates stay imbalanced under the weights of {methods}: max |SMD| {value} > {limit} "
            "(under inverse-propensity ATE weights the worst covariate is {worst}); add transformations "
            "or interactions of it, or trim to the overlap region.",
            methods=f.methods,
            worst=worst,
            **values,
        )
    return f.t(
        "Covariates stay imbalanced after weighting: max |SMD| {value} > {limit} ({worst}); add "
        "transformations or interactions of it, or trim to the overlap region.",
        worst=worst,
        **values,
    )


def _overlap(f: _Fill, _subject: str) -> str | None:
    d = f.gate.details
    if f.value is None:
        return None
    values = {
        "share": f.share(f.value),
        "limit": f.share(f.limit, 0),
        "lower": f.num(d.get("propensity_lower")),
        "upper": f.num(d.get("propensity_upper")),
    }
    if f.gate.passed:
        return f.t(
            "Propensity overlap is good: {share} of units have a propensity in [{lower}, {upper}] "
            "(≥ {limit}).",
            **values,
        )
    doubt = f.t(" This casts doubt on {methods}.", methods=f.methods) if f.gate.applies_to else ""
    return f.t(
        "Only {share} of units have a propensity in [{lower}, {upper}] (< {limit}): many units have no "
        "comparable counterpart in the other arm, so average effects over everyone (ATE) rest on "
        "extrapolation by the outcome model or on extreme weights.{doubt} Read the ATT (if the treated "
        "have comparable controls) or the overlap-population effect (ATO), or trim to the overlap region.",
        doubt=doubt,
        **values,
    )


def _treated_overlap(f: _Fill, _subject: str) -> str | None:
    if f.value is None:
        return None
    details = f.gate.details
    n_treated = int(_float(details.get("n_treated")) or 0)
    outside = int(_float(details.get("n_treated_outside_support")) or 0)
    values = {
        "share": f.share(f.value),
        "limit": f.share(f.limit, 0),
        "low": f.num(details.get("propensity_min_control")),
        "high": f.num(details.get("propensity_max_control")),
        "n": n_treated,
        "outside": outside,
        "rest": n_treated - outside,
    }
    if f.gate.passed and outside == 0:
        return f.t(
            "The treated have comparable controls: all {n} treated units have a propensity within the "
            "controls' range [{low}, {high}], so ATT estimates do not rest on extrapolation.",
            **values,
        )
    if f.gate.passed:
        return f.t(
            "{share} of treated units have a propensity within the controls' range [{low}, {high}] "
            "(≥ {limit}); {outside} of {n} lie beyond every control, so the ATT the data support is the "
            "effect on the other {rest}: methods that trim to the common support leave them out.",
            **values,
        )
    return f.t(
        "Only {share} of treated units have a propensity within the controls' range [{low}, {high}] "
        "(< {limit}): {outside} of {n} treated units have no comparable control, so an ATT over all the "
        "treated extrapolates for them; trim those treated units (psm does by default) or read the "
        "overlap-population effect (ATO).",
        **values,
    )


def _disagreement(f: _Fill, estimand: str) -> str:
    values = {"estimand": estimand, "limit": f.num(f.limit, 0)}
    if f.gate.passed:
        return f.t(
            "The methods estimating the {estimand} agree: no two differ by more than {limit} standard "
            "errors (largest {value}).",
            value=f.num(f.value),
            **values,
        )
    against = {
        key.removeprefix("disagrees:"): str(others)
        for key, others in f.gate.details.items()
        if key.startswith("disagrees:")
    }
    described = [
        f.t(
            "{method} disagrees with {others}",
            method=method,
            others=f.names(against.get(method, "").split(", ")),
        )
        for method in f.gate.applies_to
    ]
    return f.t(
        "Methods estimating the {estimand} disagree by more than {limit} standard errors: {described}. "
        "At most one of them can be right: their models of the outcome or of the treatment differ where "
        "the data are thin; read the gates that flag them and prefer flexible, doubly robust methods "
        "over linear ones.",
        described=f.names(described),
        **values,
    )


def _reported(passed: str, failed: str, digits: int = 3) -> Form:
    """A gate over a diagnostic the methods report: worst value against the threshold."""

    def form(f: _Fill, _subject: str) -> str | None:
        if f.value is None:
            return None
        values = {"value": f.num(f.value, digits), "limit": f.num(f.limit, digits), "methods": f.methods}
        return f.t(passed if f.gate.passed else failed, **values)

    return form


def _vif(f: _Fill, _subject: str) -> str | None:
    if f.value is None:
        return None
    vifs = {k.removeprefix("vif:"): v for k, v in f.gate.details.items() if k.startswith("vif:")}
    worst = max(vifs, key=lambda k: _float(vifs[k]), default="—")
    values = {"value": f.num(f.value), "limit": f.num(f.limit, 0), "worst": worst}
    if f.gate.passed:
        return f.t(
            "The covariates are not collinear: the largest variance inflation factor is {value} ({worst}) "
            "≤ {limit}.",
            **values,
        )
    return f.t(
        "Covariate {worst} is nearly a linear combination of the others (VIF {value} > {limit}): the "
        "regression-type estimates ({methods}) are not biased by it, but their outcome models are "
        "unstable and their standard errors inflated; drop or combine the redundant covariates.",
        methods=f.methods,
        **values,
    )


def _weak_overlap(f: _Fill, _subject: str) -> str | None:
    if f.value is None:
        return None
    margin = _float(f.gate.details.get("margin"))
    values = {
        "share": f.share(f.value),
        "limit": f.share(f.limit, 0),
        "lower": f.num(margin),
        "upper": f.num(1 - margin),
    }
    if f.gate.passed:
        return f.t(
            "{share} of units have a propensity outside [{lower}, {upper}] (≤ {limit}): few units sit "
            "where one arm is rare.",
            **values,
        )
    return f.t(
        "{share} of units have a propensity outside [{lower}, {upper}] (> {limit}): there one arm is "
        "rare, so the methods that rely on overlap lean on a few units or on extrapolation. Trim to "
        "[{lower}, {upper}] (Crump et al. 2009) or read the ATT or ATO.",
        **values,
    )


def _ess(f: _Fill, _subject: str) -> str | None:
    if f.value is None:
        return None
    d = f.gate.details
    by_weights = [
        f.t("{estimand} weights {share}", estimand=key[len("ess_share[") : -1], share=f.share(value, 0))
        for key, value in d.items()
        if key.startswith("ess_share[")
    ]
    values = {
        "limit": f.share(f.limit, 0),
        "by_weights": f.names(by_weights) if by_weights else f.share(f.value, 0),
        "treated": f.count(d.get("ess_treated")),
        "control": f.count(d.get("ess_control")),
    }
    if f.gate.passed:
        return f.t(
            "The weights keep at least {limit} of each arm's rows as effective sample, judged by each "
            "method's estimand: {by_weights} (Kish, ATE weights: {treated} treated, {control} control).",
            **values,
        )
    return f.t(
        "The weights of {methods} leave less than {limit} of an arm's rows as effective sample "
        "({by_weights}): a few heavily weighted units drive those estimates. Trim extreme propensities "
        "or use overlap weights.",
        methods=f.methods,
        **values,
    )


def _sample_ratio(f: _Fill, _subject: str) -> str | None:
    d = f.gate.details
    n_treated, n_control = _float(d.get("n_treated")), _float(d.get("n_control"))
    values = {
        "observed": f.share(d.get("observed_treated_share")),
        "expected": f.share(d.get("expected_treated_share"), 0),
        "limit": f.num(f.limit),
        "value": f.p(f.value),
        "n_treated": f.count(n_treated),
        "n": f.count(n_treated + n_control),
    }
    if f.value is None:
        return f.t(
            "{observed} of the experiment's units are treated ({n_treated} of {n}); no planned allocation "
            "is stated, so no sample ratio mismatch can be tested. State the planned treated share as the "
            "analysis threshold srm_expected_treated_share.",
            **values,
        )
    if f.gate.passed:
        return f.t(
            "The arms have the planned sizes: {observed} treated against {expected} planned (χ² p = "
            "{value} ≥ {limit}).",
            **values,
        )
    return f.t(
        "Sample ratio mismatch: {observed} treated against {expected} planned (χ² p = {value} < {limit}). "
        "Units were lost or moved between arms unevenly, so the arms may no longer be comparable as "
        "randomised; find where the counts diverge before trusting any estimate.",
        **values,
    )


def _pre_period_fit(f: _Fill, _subject: str) -> str | None:
    if f.value is None:
        return None
    d = f.gate.details
    rmspe = max((_float(v) for k, v in d.items() if k.startswith("pre_rmspe[")), default=None)
    values = {
        "rmspe": f.num(rmspe, 3),
        "share": f.share(f.value),
        "sd": f.num(d.get("outcome_sd"), 3),
        "limit": f.share(f.limit, 0),
    }
    if f.gate.passed:
        return f.t(
            "The synthetic control tracks the treated unit before adoption: pre-period RMSPE {rmspe} is "
            "{share} of the outcome's SD ({sd}), ≤ {limit}.",
            **values,
        )
    return f.t(
        "The synthetic control misses the treated unit before adoption: pre-period RMSPE {rmspe} is "
        "{share} of the outcome's SD ({sd}), > {limit}. No weighted mix of the donors reproduces its "
        "path, so the post-adoption gap mixes the effect with that misfit; add donors or predictors, or "
        "use a method that allows a level difference (difference in differences).",
        **values,
    )


def _e_value(f: _Fill, _subject: str) -> str | None:
    if f.value is None:
        return None
    d = f.gate.details
    ci = d.get("e_value_ci")
    values = {
        "value": f.num(f.value),
        "limit": f.num(f.limit, 1),
        "ci": f.t("; for the confidence limit nearest no effect, {ci}", ci=f.num(ci))
        if isinstance(ci, float)
        else "",
        "estimand": str(d.get("estimand") or f.t("estimate")),  # older events lack the estimand
    }
    if f.gate.passed:
        return f.t(
            "To explain the headline {estimand} away, a hidden confounder would need a risk-ratio "
            "association of {value} with both treatment and outcome{ci} (≥ {limit}).",
            **values,
        )
    return f.t(
        "A hidden confounder with a risk-ratio association of only {value} with both treatment and outcome "
        "could explain the headline {estimand} away{ci} (< {limit}): weaker than many measured confounders "
        "are. Name the likely unmeasured causes and argue they are weaker, or measure them.",
        **values,
    )


_REFUTER_FORMS = {
    "placebo_treatment": (
        "With a placebo treatment (the treatment permuted at random), {method} finds {placebo} "
        "(SE {se}, p = {p}): no effect where there is none, as it should.",
        "With a placebo treatment (the treatment permuted at random) {method} still finds an 'effect' of "
        "{placebo} (SE {se}, p = {p} < {limit}) where the truth is zero. By chance this happens in {share} "
        "of sound analyses (re-run with another seed to see); if it persists, the method's standard error "
        "is too small or it picks up structure unrelated to treatment: prefer the methods that pass this check.",
    ),
    "placebo_outcome": (
        "{method} finds no effect of the treatment on an outcome it cannot have moved (the outcome "
        "before treatment): {placebo} (SE {se}, p = {p}).",
        "{method} finds an 'effect' of the treatment on an outcome it cannot have moved (the outcome "
        "before treatment): {placebo} (SE {se}, p = {p} < {limit}). The treated and the controls differed "
        "already before treatment in ways the covariates do not capture (hidden confounding, or units "
        "anticipating the treatment): adjust for the pre-treatment outcome and other pre-treatment "
        "measures, or use a design that does not rest on no unmeasured confounding (DiD, IV, RD).",
    ),
    "placebo_adoption": (
        "With adoption moved into the pre-period, {method} finds {placebo} (SE {se}, p = {p}): treated "
        "and comparison units moved in parallel before adoption.",
        "With adoption moved into the pre-period, {method} finds an 'effect' of {placebo} (SE {se}, "
        "p = {p} < {limit}) before anything happened: treated and comparison units were already diverging "
        "(parallel trends fails) or units anticipated the treatment. Read the event-study leads; consider "
        "covariates that explain the trends, another comparison group, or a synthetic control.",
    ),
    "random_common_cause": (
        "Adding an independent random covariate moves {method}'s estimate from {estimate} to {placebo} "
        "({shift} standard errors, at most {limit} allowed): it does not lean on irrelevant inputs.",
        "Adding an independent random covariate moves {method}'s estimate from {estimate} to {placebo}, "
        "{shift} standard errors (more than {limit}): a variable that matters for nothing should not move "
        "it. The estimate rests on a fragile fit (many covariates for few rows, near-collinear covariates, "
        "matches or weights that change with any input): prefer a method that passes, or fewer covariates.",
    ),
    "data_subset": (
        "On random subsamples of the data, {method}'s estimate moves by at most {shift} standard errors, "
        "as sampling explains (p = {p}).",
        "On random subsamples of the data, {method}'s estimate moves by up to {shift} standard errors, "
        "more than sampling explains (p = {p} < {limit}): it leans on a few rows (outliers, extreme "
        "weights, thin strata) or its standard error is too small. Look for influential rows and extreme "
        "weights; trim or use a method that passes.",
    ),
}


def _refuter(f: _Fill, method: str) -> str | None:
    refuter = gate_family(f.gate.name)[0]
    d = f.gate.details
    if f.value is None:
        return f.t(
            "The {check} check of {method} could not run.",
            check=f.t(_REFUTER_WORDS.get(refuter, refuter)),
            method=method,
        )
    passed, failed = _REFUTER_FORMS[refuter]
    return f.t(
        passed if f.gate.passed else failed,
        method=method,
        placebo=f.num(d.get("refuted_estimate"), 3),
        se=f.num(d.get("refuted_std_error"), 3),
        p=f.p(d.get("p_value")),
        estimate=f.num(d.get("estimate"), 3),
        shift=f.num(d.get("shift_se")),
        limit=f.num(f.limit),
        share=f.share(f.limit, 0),
    )


# Gates over a diagnostic the methods report (worst value against the threshold): passed and failed
# forms, and the decimals of the value.
REPORTED_FORMS: dict[str, tuple[str, str, int]] = {
    "rd_weak_first_stage": (
        "The treatment jumps clearly at the cutoff: first-stage F = {value} ≥ {limit}.",
        "The treatment barely jumps at the cutoff: first-stage F = {value} < {limit}, so the fuzzy RD "
        "estimate divides the outcome's jump by a jump indistinguishable from zero: biased, unstable, its "
        "interval unreliable. State a bandwidth wide enough for the treatment jump to be measured, or read "
        "the outcome's own jump at the cutoff (the intention-to-treat).",
        1,
    ),
    "rd_mass_points": (
        "The running variable takes at least {value} distinct values within the bandwidth on each side of "
        "the cutoff (≥ {limit}).",
        "The running variable is discrete near the cutoff: only {value} distinct values within the "
        "bandwidth on one side (< {limit}). Local polynomial RD assumes a continuous running variable; with "
        "mass points the fit on each side rests on a handful of cohorts. State a bandwidth spanning more "
        "values and read the estimate as a comparison of the nearest cohorts (Kolesar & Rothe 2018).",
        0,
    ),
    "parallel_trends": (
        "No pre-trend detected: the event-study leads are jointly insignificant (p = {value} ≥ {limit}). "
        "This cannot prove parallel trends; it finds no evidence against them.",
        "Treated and comparison units already diverged before treatment (pre-trend p = {value} < {limit}): "
        "parallel trends is doubtful, so the difference-in-differences estimates ({methods}) may reflect "
        "the earlier drift. Add unit-specific trends or covariates, or choose comparison units that moved "
        "together before treatment.",
        3,
    ),
    "weak_instrument": (
        "The instrument is strong enough: first-stage F = {value} ≥ {limit}. Exclusion and independence "
        "of the instrument cannot be tested from the data; argue them.",
        "The instrument is weak: first-stage F = {value} < {limit}, so the 2SLS estimate is biased towards "
        "OLS and its Wald interval is too narrow. Read the Anderson-Rubin confidence set (valid however "
        "weak the instrument), or find a stronger instrument.",
        1,
    ),
    "treated_clusters": (
        "{value} treated clusters (≥ {limit}): enough for cluster-robust standard errors.",
        "Only {value} treated clusters (< {limit}): cluster-robust standard errors are far too small with "
        "so few (Conley and Taber 2011), so the interval and p-value overstate certainty. Read the "
        "synthetic control's placebo inference, or a wild cluster bootstrap, for the uncertainty.",
        0,
    ),
    "unstable_across_seeds": (
        "Re-run with a second seed, every seed-dependent estimate moved by at most {value} standard "
        "errors (≤ {limit}).",
        "A re-run with another seed moves the estimate by {value} standard errors (> {limit}): the result "
        "depends on the random cross-fitting folds or matching ties more than its interval admits ({methods}). "
        "Read it as unstable: more folds, a flexible but regularised first stage, or more data.",
        2,
    ),
    "rd_manipulation": (
        "No sign of manipulation: the running variable's density is continuous at the cutoff "
        "(p = {value} ≥ {limit}, Cattaneo-Jansson-Ma test).",
        "The density of the running variable jumps at the cutoff (manipulation test p = {value} < {limit}): "
        "units may have sorted themselves across it, so those just above and just below are not "
        "comparable. Check how the running variable is assigned; a donut RD shows how much the estimate "
        "depends on the units nearest the cutoff.",
        3,
    ),
    "rd_covariate_continuity": (
        "The covariates are continuous at the cutoff (smallest placebo p = {value} ≥ {limit}), as they "
        "should be if only treatment changes there.",
        "A pre-treatment covariate jumps at the cutoff (smallest p = {value} < {limit}): units on the two "
        "sides differ in more than treatment, so the jump in the outcome may not be the effect. Look at "
        "that covariate's RD plot and at how the cutoff was set.",
        3,
    ),
    "linear_misspecification": (
        "Linear models fit these data: replacing the flexible nuisances by linear ones moves the doubly "
        "robust estimate by at most {value} standard errors (≤ {limit}).",
        "Linear models miss the confounding in these data: with linear instead of flexible nuisances the "
        "doubly robust estimate moves by {value} standard errors (> {limit}). Methods resting on linear "
        "outcome or propensity models only ({methods}) are likely biased; read the doubly robust methods "
        "with flexible nuisances and the forests.",
        2,
    ),
}


FORMS: dict[str, Form] = {
    "required_roles": _required_roles,
    "columns_present": _columns_present,
    "completeness": _completeness,
    "complete_cases": _complete_cases,
    "attrition": _attrition,
    "treatment_arms": _treatment_arms,
    "outcome_variance": _outcome_variance,
    "raw_balance_smd": _raw_balance,
    "balance_smd": _balance,
    "propensity_overlap": _overlap,
    "treated_overlap": _treated_overlap,
    "method_disagreement": _disagreement,
    **{name: _reported(*form) for name, form in REPORTED_FORMS.items()},
    "vif": _vif,
    "weak_overlap_share": _weak_overlap,
    "effective_sample_size": _ess,
    "sample_ratio_mismatch": _sample_ratio,
    "pre_period_fit": _pre_period_fit,
    "e_value": _e_value,
    **dict.fromkeys(_REFUTER_FORMS, _refuter),
}


def _general(f: _Fill) -> str:
    """Any gate without a form of its own: its outcome, value and threshold."""
    values = {"gate": f.gate.name, "value": f.num(f.value, 3), "limit": f.num(f.limit, 3)}
    if f.value is None and not f.gate.passed:
        return f.t("The {gate} check could not be computed; fix the role mapping or the data.", **values)
    if f.gate.passed:
        return f.t("The {gate} check passed: value {value}, threshold {limit}.", **values)
    if f.gate.applies_to:
        return f.t(
            "The {gate} check failed: value {value}, threshold {limit}; it casts doubt on {methods}.",
            methods=f.methods,
            **values,
        )
    return f.t("The {gate} check failed: value {value}, threshold {limit}.", **values)


def gate_message(gate: GateResult, t: Language) -> str:
    """The gate's message in the report's language: as the quality gate wrote it in English, else
    the catalogue's form of it filled from the gate's fields."""
    if t.code == "en":
        return gate.message
    family, subject = gate_family(gate.name)
    fill = _Fill(gate, t)
    form = FORMS.get(family)
    return (form(fill, subject) if form is not None else None) or _general(fill)


_REASON = re.compile(
    r"^(?P<words>.*?)(?P<arm> \[[^\]]*\])? \((?P<gate>[^()\s]+)\)(?P<rest>(?::| —).*)?$", re.DOTALL
)


def verdict_reason(reason: str, gates: Sequence[GateResult], lead: Headline | None, t: Language) -> str:
    """A verdict reason ('<what the gate checks>[ [arm]] (<gate>)[: message | — why not counted]')
    in the report's language: the words from the catalogue, the rest from the named gate's fields."""
    match = _REASON.match(reason)
    if t.code == "en" or match is None:
        return t(reason)
    family = gate_family(match["gate"])[0]
    words = t(GATE_ASSUMPTIONS[family]) if family in GATE_ASSUMPTIONS else t(match["words"])
    if words == match["words"]:  # a gate the catalogue has no words for: say which gate it is
        words = t("what {gate} checks", gate=family)
    head = f"{words}{match['arm'] or ''} ({match['gate']})"
    rest = match["rest"]
    gate = next((g for g in gates if g.name == match["gate"]), None)
    if not rest or gate is None:
        return head
    if rest.startswith(":"):
        return t("{check}: {text}", check=head, text=gate_message(gate, t))
    headline_methods = {lead.method, *lead.methods} if lead is not None else set()
    if gate.applies_to and gate.category == "causal" and not headline_methods & set(gate.applies_to):
        return t(
            "{check} — casts doubt on {methods}, not on the headline's methods",
            check=head,
            methods=format_list(list(gate.applies_to), locale=t.locale),
        )
    return t(
        "{check} — not counted against the headline: among the placebo checks on its methods, one "
        "this small is expected by chance (Holm)",
        check=head,
    )


def verdict_summary(verdict: Verdict, gates: Sequence[GateResult], lead: Headline | None, t: Language) -> str:
    """The verdict's one sentence (without its level) in the report's language."""
    if t.code == "en":
        return verdict.summary.removeprefix(f"{verdict.level}:").strip()
    if lead is None:
        return t("No method produced a usable estimate, so there is no answer to act on.")
    shown = f"{lead.estimand} {t.number(lead.estimate)} ({lead.method})"
    named = [g.name for g in gates if any(f"({g.name})" in reason for reason in verdict.failed)]
    if verdict.level == "HOLD":
        errors = [g.name for g in gates if g.name in named and g.severity == "error"]
        return t(
            "{names} failed and undermines the headline {shown}; fix the data or design first.",
            names=format_list(errors or named or ["—"], locale=t.locale),
            shown=shown,
        )
    if verdict.level == "CAUTION":
        return t(
            "The headline {shown} rests on assumptions a check found doubtful ({names}); read the reasons "
            "before acting on it.",
            shown=shown,
            names=format_list(named, locale=t.locale)
            if named
            else t("every method of the estimand is flagged"),
        )
    return t(
        "The headline {shown} passed every testable check that applies to it ({n} passed); the untestable "
        "assumptions below still need arguing.",
        shown=shown,
        n=len(verdict.passed),
    )


def sensitivity_summary(panel: SensitivityPanel, estimate: EstimateResult | None, t: Language) -> str:
    """What the panel's measures say, in the report's language, from the measures themselves."""
    if t.code == "en":
        return panel.summary
    parts: list[str] = []
    if panel.e_value is not None:
        ev = panel.e_value
        ci = ""
        if ev.ci == 1.0:
            ci = t(" and the confidence interval already includes no effect")
        elif ev.ci is not None:
            ci = t("; to move its confidence interval to include no effect, {ci}", ci=t.number(ev.ci, 2))
        parts.append(
            t(
                "A hidden confounder would need a risk-ratio association of {point} with both treatment "
                "and outcome to explain the estimate away{ci}",
                point=t.number(ev.point, 2),
                ci=ci,
            )
        )
    if panel.omitted_variable_bias is not None:
        ovb = panel.omitted_variable_bias
        text = t(
            "one explaining {rv} of the residual variance of both would bring it to zero ({rv_alpha} to "
            "make it insignificant at α = {alpha})",
            rv=t.percent(ovb.robustness_value),
            rv_alpha=t.percent(ovb.robustness_value_alpha),
            alpha=f"{ovb.alpha:g}",
        )
        one = next((b for b in ovb.bounds if b.k == 1.0), None)
        if one is not None:
            crosses = one.adjusted_ci_lower <= 0 <= one.adjusted_ci_upper
            values = {"covariate": one.covariate, "estimate": t.number(one.adjusted_estimate)}
            text += (
                t(
                    "; a confounder as strong as {covariate} would leave {estimate} and an interval that includes zero",
                    **values,
                )
                if crosses
                else t(
                    "; a confounder as strong as {covariate} would leave {estimate} with an interval that excludes zero",
                    **values,
                )
            )
        parts.append(text)
    if panel.rosenbaum is not None:
        gamma = panel.rosenbaum.critical_gamma
        parts.append(
            t("the matched comparison is not significant even without hidden bias")
            if gamma is None
            else t(
                "the matched comparison stays significant until hidden bias multiplies the odds of "
                "treatment by Γ = {gamma}",
                gamma=t.number(gamma, 2),
            )
        )
    if panel.oster is not None and panel.oster.delta is not None:
        oster = panel.oster
        parts.append(
            t(
                "unobservables would have to matter {delta} times as much as the observed covariates to "
                "make it zero (Oster δ, R_max = {r_max})",
                delta=t.number(abs(oster.delta), 2),
                r_max=t.number(oster.r_max, 2),
            )
        )
    if parts:
        return t("{parts}.", parts=t("; ").join(parts))
    notes = sensitivity_notes(panel, estimate, t)
    return t("No sensitivity measure applies to this estimate. {note}", note=notes[0]) if notes else ""


def sensitivity_notes(panel: SensitivityPanel, estimate: EstimateResult | None, t: Language) -> list[str]:
    """Why measures are missing from the panel, from the estimate's declared adjustment and estimand."""
    if t.code == "en":
        return list(panel.notes)
    if not panel.notes:
        return []
    adjustment = estimate.adjustment if estimate is not None else None
    measured = (panel.e_value, panel.omitted_variable_bias, panel.rosenbaum, panel.oster)
    if not any(measured):
        if adjustment in (None, Adjustment.DESIGN):
            return [
                t(
                    "Identified by the design (or its adjustment is not stated), not by adjusting for observed "
                    "covariates: the design's own tests (pre-trends, instrument strength, density at the "
                    "cutoff, pre-period fit) speak for it instead of these measures."
                )
            ]
        if panel.estimand not in _AVERAGES:
            return [
                t(
                    "No E-value or bound for the {estimand}: it is not an average effect.",
                    estimand=panel.estimand,
                )
            ]
    notes = []
    if panel.e_value is None:
        notes.append(t("No E-value: the estimate cannot be put on a risk-ratio scale."))
    if panel.omitted_variable_bias is None:
        notes.append(
            t("No Cinelli–Hazlett or Oster analysis: the regression adjustment could not be analysed.")
            if adjustment in (Adjustment.OUTCOME, Adjustment.DOUBLY_ROBUST)
            else t(
                "Cinelli–Hazlett and Oster speak for regression adjustment; this method adjusts through "
                "the propensity only."
            )
        )
    if panel.rosenbaum is None:
        notes.append(t("No Rosenbaum bound: the estimate does not compare propensity-matched pairs (ATT)."))
    return notes


def robustness_sentence(
    verdict: Verdict, panels: Sequence[SensitivityPanel], estimates: Sequence[EstimateResult], t: Language
) -> str:
    """How robust the headline is to a hidden confounder, from its sensitivity panel."""
    if t.code == "en":
        return verdict.robustness
    if not verdict.robustness:
        return ""
    panel = next((p for p in panels if p.headline), None)
    if panel is None:
        return t("No sensitivity measure applies to the headline: it is identified by the design.")
    estimate = next((e for e in estimates if e.method == panel.method), None)
    return sensitivity_summary(panel, estimate, t)


def _float(value: float | str | None) -> float:
    return float(value) if isinstance(value, int | float) else 0.0
