"""Which covariates are linear combinations of others (left out), and arm indicator columns."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from cqox_estimator.estimators.errors import EstimationError
from cqox_shared.causal.covariates import aliased_columns


def aliased_covariates(
    t: NDArray[np.int64] | NDArray[np.float64],
    X: NDArray[np.float64],
    names: list[str],
    treatment: str,
    max_abs: NDArray[np.float64] | None = None,
) -> list[int]:
    """Covariate columns of X that are linear combinations of the intercept and earlier covariates.

    They are left out, as R's `lm` and Stata leave out aliased terms; the treatment is never left
    out: when it is a linear combination of the intercept and the covariates (it has no variation
    of its own left to estimate from), this raises. A multi-valued t (codes 0..k-1) enters as its
    k-1 arm indicators, a continuous (float) t as itself.
    """
    if max_abs is None:
        max_abs = np.abs(X).max(axis=0) if X.size else np.empty(0)
    if _clearly_full_rank(t, X, max_abs):
        return []
    arms = _treatment_columns(t)
    design = np.column_stack([np.ones(t.shape[0]), X, arms])
    aliased = aliased_columns(design, keep=1)
    covariates = [j - 1 for j in aliased if j <= X.shape[1]]
    if len(covariates) < len(aliased):
        kept = [names[j] for j in range(X.shape[1]) if j not in covariates]
        raise EstimationError(
            f"treatment {treatment!r} is a linear combination of the intercept and the covariates "
            f"({', '.join(kept[:8])}{' ...' if len(kept) > 8 else ''}): no variation is left to "
            "estimate its effect from; drop the covariates that determine it"
        )
    return covariates


SCREEN_ROWS = 1024


def _clearly_full_rank(
    t: NDArray[np.int64] | NDArray[np.float64], X: NDArray[np.float64], max_abs: NDArray[np.float64]
) -> bool:
    """Cheap sufficient condition for the QR check above to find full rank.

    S = [1, t, X] with columns scaled by their largest absolute value (as the QR check does).
    For every `step`-th row S_m of S (about SCREEN_ROWS rows), sigma_min(S) >= sigma_min(S_m) (more rows only add to
    S'S), and sigma_min(S_m) >= sqrt(lambda_min(C)) * min_j |S_m,j| for C the correlation-like
    cross-product of S_m with unit-norm columns. The QR check's smallest diagonal is at least
    sigma_min(S) and its tolerance is at most sigma_max(S) <= sqrt(n k) (entries are at most 1)
    times its relative tolerance; a tenfold margin over that bound returns True. Anything closer
    to singular (or a screen sample missing a level) goes to the exact QR check.
    """
    continuous = t.dtype.kind == "f"
    # arm indicators: 1 for a binary treatment; a continuous treatment is one column
    m = 1 if continuous or not t.size else max(1, int(t.max()))
    n, k = X.shape[0], X.shape[1] + 1 + m
    step = max(1, n // SCREEN_ROWS)
    t_scale = float(np.abs(t).max()) if continuous and t.size else 1.0
    scale = np.concatenate([np.ones(1), np.full(m, t_scale or 1.0), np.where(max_abs > 0, max_abs, 1.0)])
    rows_X = X[::step]
    sample = np.empty((rows_X.shape[0], k))
    sample[:, 0] = 1.0
    sample[:, 1 : 1 + m] = _treatment_columns(t[::step], m)
    sample[:, 1 + m :] = rows_X
    sample /= scale
    gram = sample.T @ sample
    norms = np.sqrt(np.diag(gram))
    if not np.isfinite(gram).all() or not (norms > 0).all():
        return False
    eigenvalues = np.linalg.eigvalsh(gram / np.outer(norms, norms))
    if eigenvalues[0] <= 1e-9 * eigenvalues[-1]:
        return False
    sigma_min = np.sqrt(eigenvalues[0]) * norms.min()
    qr_tol = np.sqrt(n * k) * max(n, k) * np.finfo(float).eps * 1e3
    return bool(sigma_min > 10 * qr_tol)


def _treatment_columns(
    t: NDArray[np.int64] | NDArray[np.float64], n_contrasts: int | None = None
) -> NDArray[np.float64]:
    """The treatment's columns in [1, t, X]: a continuous (float) t itself, else its arm dummies."""
    if t.dtype.kind == "f":
        return np.asarray(t, dtype=float)[:, None]
    return arm_dummies(t.astype(np.int64), n_contrasts)


def arm_dummies(t: NDArray[np.int64], n_contrasts: int | None = None) -> NDArray[np.float64]:
    """Indicators of arms 1..m (m = n_contrasts, default max t) as an n x m float matrix.

    For a binary 0/1 t this is t itself as one column.
    """
    m = max(1, int(t.max())) if n_contrasts is None and t.size else int(n_contrasts or 1)
    return np.asarray(t[:, None] == np.arange(1, m + 1)[None, :], dtype=float)
