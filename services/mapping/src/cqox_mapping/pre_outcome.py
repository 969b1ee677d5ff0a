"""The outcome measured before treatment, found among the covariates by its name.

A covariate named like the outcome but earlier — `re75` beside the outcome `re78`, `spend_2019`
beside `spend_2021`, `pre_y`, `y_lag`, `baseline_y` beside `y` — is the same quantity measured
before treatment: the placebo-outcome refuter estimates the treatment's 'effect' on it, which must
be zero. It stays a covariate of the analysis.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_TRAILING_NUMBER = re.compile(r"^(?P<stem>.*?[A-Za-z_])(?P<number>\d+)$")
_BEFORE_WORDS = ("pre", "lag", "lagged", "baseline", "prior", "before", "previous", "prev", "last")


def earlier_outcome(outcome: str, covariates: Sequence[str]) -> str | None:
    """The covariate that is `outcome` measured earlier (the latest such), or None."""
    name = outcome.strip().lower()
    marked = {f"{word}{sep}{name}" for word in _BEFORE_WORDS for sep in ("_", "")} | {
        f"{name}{sep}{word}" for word in _BEFORE_WORDS for sep in ("_", "")
    }
    for column in covariates:
        if column.strip().lower() in marked:
            return column
    match = _TRAILING_NUMBER.match(name)
    if match is None:
        return None
    stem, number = match["stem"], int(match["number"])
    earlier: list[tuple[int, str]] = []
    for column in covariates:
        other = _TRAILING_NUMBER.match(column.strip().lower())
        if other is not None and other["stem"] == stem and int(other["number"]) < number:
            earlier.append((int(other["number"]), column))
    return max(earlier)[1] if earlier else None
