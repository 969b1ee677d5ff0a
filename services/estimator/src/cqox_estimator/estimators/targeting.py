"""How well a CATE model ranks units, judged on units it never saw: Qini, TOC/RATE, calibration.

A CATE model's in-sample predictions flatter it (a flexible learner fits the noise it then
"finds" as heterogeneity), so every unit's effect is predicted by a model fitted on the other
folds. Each unit's effect is measured by its doubly robust (AIPW) score
Gamma_i = mu1 - mu0 + t (y - mu1) / e - (1 - t) (y - mu0) / (1 - e), with the outcome models and
propensity cross-fitted on the same folds, so E[Gamma | X] is the true CATE whatever the ranking.

With units ranked by held-out predicted effect, for the top share q:
- Qini: the cumulative gain sum_{top q} Gamma / n against random targeting q * mean(Gamma).
- TOC(q) = mean_{top q} Gamma - mean Gamma (Yadlowsky, Fleming, Shah, Brunskill & Wager 2021),
  and its area AUTOC, the rank-weighted average treatment effect (RATE). Their SEs hold the
  ranking fixed (it comes from other folds) and take each as the linear statistic of the scores
  it is: TOC(q) = mean_i Gamma_i (1[i in top] / q - 1), AUTOC = mean_i Gamma_(i) (H_n - H_(i-1) - 1)
  with H the harmonic numbers.
- Calibration (GATES, Chernozhukov, Demirer, Duflo & Fernandez-Val 2018): mean prediction and
  mean score in equal groups of predicted effect.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import StratifiedKFold

from cqox_estimator.estimators.base import Diagnostics
from cqox_estimator.estimators.errors import EstimationError
from cqox_estimator.estimators.nuisance import crossfit

TARGETING_FOLDS = 3  # held-out folds of the ranking and the scores (each refit costs: 3, not 5)
TARGETING_SHARES = tuple(k / 20 for k in range(1, 21))  # 5 %, 10 %, ..., 100 % of the units
CALIBRATION_GROUPS = 5
PROPENSITY_CLIP = 0.01  # scores use e clipped to [0.01, 0.99]
MIN_ROWS_PER_ARM = 4 * TARGETING_FOLDS  # fewer: no held-out ranking is reported

# Fits a CATE model on (y, t, X) and predicts the effect at other rows' covariates.
CateFitPredict = Callable[
    [NDArray[np.float64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]
]


def held_out_cate(
    y: NDArray[np.float64],
    t: NDArray[np.int64],
    X: NDArray[np.float64],
    fit_predict: CateFitPredict,
    *,
    n_folds: int,
    seed: int,
) -> NDArray[np.float64]:
    """Every row's predicted effect from a model fitted on the other folds (seeded, stratified by t)."""
    cate = np.empty(y.shape[0])
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for train, test in folds.split(X, t):
        cate[test] = fit_predict(y[train], t[train], X[train], X[test])
    return cate


def dr_scores(
    y: NDArray[np.float64],
    t: NDArray[np.int64],
    X: NDArray[np.float64],
    *,
    base_model: str,
    n_folds: int,
    seed: int,
) -> NDArray[np.float64]:
    """Cross-fitted doubly robust (AIPW) effect scores, one per row."""
    fit = crossfit(y, t, X, outcome_model=base_model, propensity_model="linear", n_folds=n_folds, seed=seed)
    e = np.clip(fit.propensity, PROPENSITY_CLIP, 1 - PROPENSITY_CLIP)
    return np.asarray(
        fit.mu1 - fit.mu0 + t * (y - fit.mu1) / e - (1 - t) * (y - fit.mu0) / (1 - e), dtype=float
    )


def targeting_curves(cate: NDArray[np.float64], scores: NDArray[np.float64]) -> Diagnostics:
    """Qini, TOC with SE, AUTOC with SE, Qini coefficient and calibration groups from held-out
    predictions `cate` and doubly robust `scores` of the same rows (keys as the report reads them:
    `targeting_{k}_{share,qini,toc,toc_se}`, `rate_autoc`, `rate_autoc_se`, `qini_coefficient`,
    `cate_group_{k}_{predicted,observed,observed_se}`)."""
    n = scores.shape[0]
    order = np.argsort(-cate, kind="stable")
    ranked = scores[order]
    mean = float(ranked.mean())
    prefix = np.cumsum(ranked)
    out: Diagnostics = {}
    for k, share in enumerate(TARGETING_SHARES):
        m = max(1, math.ceil(share * n - 1e-9))
        top = np.zeros(n)
        top[:m] = 1.0
        linear = ranked * (top * n / m - 1.0)
        out[f"targeting_{k}_share"] = m / n
        out[f"targeting_{k}_qini"] = float(prefix[m - 1] / n)
        out[f"targeting_{k}_toc"] = float(prefix[m - 1] / m - mean)
        out[f"targeting_{k}_toc_se"] = float(linear.std(ddof=1) / math.sqrt(n))
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n + 1))])  # H_0 .. H_n
    weights = harmonic[n] - harmonic[:-1] - 1.0  # H_n - H_(i-1) - 1 for i = 1..n
    autoc_terms = ranked * weights
    out["rate_autoc"] = float(autoc_terms.mean())
    out["rate_autoc_se"] = float(autoc_terms.std(ddof=1) / math.sqrt(n))
    fractions = np.arange(1, n + 1) / n
    out["qini_coefficient"] = float(np.mean(prefix / n - fractions * prefix[-1] / n))
    for k, group in enumerate(np.array_split(np.argsort(cate, kind="stable"), CALIBRATION_GROUPS)):
        out[f"cate_group_{k}_predicted"] = float(cate[group].mean())
        out[f"cate_group_{k}_observed"] = float(scores[group].mean())
        out[f"cate_group_{k}_observed_se"] = float(scores[group].std(ddof=1) / math.sqrt(group.size))
    return out


def targeting_diagnostics(
    y: NDArray[np.float64],
    t: NDArray[np.int64],
    X: NDArray[np.float64],
    fit_predict: CateFitPredict | None = None,
    *,
    base_model: str,
    seed: int,
    n_folds: int = TARGETING_FOLDS,
    held_out: NDArray[np.float64] | None = None,
    ranking: str = "out-of-bag predictions",
) -> Diagnostics:
    """The held-out ranking's Qini, TOC/RATE and calibration, or a note saying why there is none.

    The ranking is `held_out` when the method already predicts each row without it (a forest's
    out-of-bag predictions; `ranking` says how), else `fit_predict` refitted on `n_folds` folds."""
    counts = np.bincount(t, minlength=2)
    if counts.size != 2 or counts.min() < MIN_ROWS_PER_ARM:
        return {"targeting_note": f"not evaluated: fewer than {MIN_ROWS_PER_ARM} rows in an arm"}
    try:
        if held_out is not None:
            cate = held_out
        elif fit_predict is not None:
            cate = held_out_cate(y, t, X, fit_predict, n_folds=n_folds, seed=seed)
            ranking = f"{n_folds}-fold cross-fitted predictions"
        else:
            raise EstimationError("no held-out predictions")
        scores = dr_scores(y, t, X, base_model=base_model, n_folds=n_folds, seed=seed)
    except EstimationError as exc:
        return {"targeting_note": f"not evaluated: {exc}"}
    if not (np.isfinite(cate).all() and np.isfinite(scores).all()):
        return {"targeting_note": "not evaluated: non-finite held-out predictions or scores"}
    return {
        "targeting_ranking": ranking,
        "targeting_folds": float(n_folds),
        "targeting_scores": f"{n_folds}-fold cross-fitted doubly robust (AIPW), logistic propensity clipped to [0.01, 0.99]",
        **targeting_curves(cate, scores),
    }
