"""Weighting estimators: inverse-propensity (Hajek), overlap weights, entropy balancing."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, softmax

from cqox_contracts.v1 import Adjustment
from cqox_estimator.estimators.base import CausalEstimator, Contrast, Diagnostics, FitSummary
from cqox_estimator.estimators.errors import EstimationError
from cqox_estimator.estimators.nuisance import kish, logistic_influence, propensity_summary
from cqox_shared.causal.propensity import fit_logistic, logistic_propensity


class InversePropensityWeighting(CausalEstimator):
    """Hajek (normalised) IPW estimate of the ATE with an influence-function SE.

    The propensity comes from a logistic regression on standardised covariates. Normalised
    weights equal stabilised weights P(t)/e(x) rescaled, so the Hajek estimate is the
    stabilised-weight estimate. The SE treats the propensity model and the two weighted means
    as one stacked M-estimator (Lunceford & Davidian 2004), so it accounts for the propensity
    being estimated.

    Parameters
    ----------
    C : float, default 1e6
        Inverse regularisation strength of the logistic model (large = nearly unpenalised).
    max_iter : int, default 1000
        Iteration limit for the lbfgs solver.
    trim : float, default 0.01
        Propensity bound: values outside [trim, 1 - trim] are clipped or dropped; 0 disables.
    trimming : {"clip", "drop"}, default "clip"
        "clip" keeps every unit with its propensity clipped to the bounds; "drop" removes units
        outside them (Crump et al.), which changes the estimand to the ATE of the kept units.

    A multi-valued treatment (codes 0..k-1) gets a multinomial logistic propensity e_j(x), Hajek
    means per arm with weights 1{t=j}/e_j, and every arm's contrast with the reference; the SE
    stacks the multinomial score with the arm means in the same way (its light ridge penalty,
    1/C, is left out of that correction). Trimming then applies to every arm's propensity.
    """

    adjustment_kind = Adjustment.PROPENSITY

    method = "ipw"
    needs_covariates = True
    model_form = "linear"
    estimand = "ATE"
    multi_arm = True

    def __init__(
        self, *, C: float = 1e6, max_iter: int = 1000, trim: float = 0.01, trimming: str = "clip"
    ) -> None:
        self.C = C
        self.max_iter = max_iter
        self.trim = trim
        self.trimming = trimming

    def _check_params(self) -> None:
        if not isinstance(self.C, Real) or not self.C > 0:
            raise EstimationError(f"C must be a positive number, got {self.C!r}")
        if not isinstance(self.max_iter, Integral) or self.max_iter < 1:
            raise EstimationError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        if not isinstance(self.trim, Real) or not 0 <= self.trim < 0.5:
            raise EstimationError(f"trim must be in [0, 0.5), got {self.trim!r}")
        if self.trimming not in ("clip", "drop"):
            raise EstimationError(f"trimming must be 'clip' or 'drop', got {self.trimming!r}")

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        if t.max() > 1:
            return self._fit_arms(y, t, X)
        if self.trimming == "drop" and self.trim > 0:
            Z, coef, _ = logistic_propensity(t, X, C=float(self.C), max_iter=int(self.max_iter))
            raw = expit(Z @ coef)
            keep = (raw >= self.trim) & (raw <= 1 - self.trim)
            kept_t = t[keep]
            if min(int(kept_t.sum()), int((1 - kept_t).sum())) < 2:
                raise EstimationError(
                    f"no overlap: after dropping units with propensity outside [{self.trim}, "
                    f"{1 - self.trim}] an arm has fewer than 2 rows"
                )
            summary = self._weighted(y[keep], kept_t, X[keep], clip=0.0)
            summary.diagnostics.update(
                {
                    "trimming": "drop",
                    "n_trimmed": float((~keep).sum()),
                    "share_trimmed": float((~keep).mean()),
                }
            )
            return summary
        summary = self._weighted(y, t, X, clip=float(self.trim))
        summary.diagnostics["trimming"] = "clip"
        return summary

    def _weighted(
        self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64], clip: float
    ) -> FitSummary:
        n = y.shape[0]
        Z, coef, converged = logistic_propensity(t, X, C=float(self.C), max_iter=int(self.max_iter))
        raw = expit(Z @ coef)
        propensity = np.clip(raw, clip, 1 - clip)
        clipped = propensity != raw

        w_treated = t / propensity
        w_control = (1 - t) / (1 - propensity)
        mu_treated = float(w_treated @ y / w_treated.sum())
        mu_control = float(w_control @ y / w_control.sum())

        # Stacked estimating equations: logistic score, then the two Hajek means.
        if_beta = logistic_influence(Z, t, coef, float(self.C))
        # Clipped propensities do not move with beta.
        slope = np.where(clipped, 0.0, raw * (1 - raw))
        psi_treated = w_treated * (y - mu_treated)
        psi_control = w_control * (y - mu_control)
        d_treated = -(t * (y - mu_treated) * slope / propensity**2) @ Z / n
        d_control = ((1 - t) * (y - mu_control) * slope / (1 - propensity) ** 2) @ Z / n
        if_treated = (psi_treated + if_beta @ d_treated) / w_treated.mean()
        if_control = (psi_control + if_beta @ d_control) / w_control.mean()
        influence = if_treated - if_control
        stderr = float(np.sqrt(influence @ influence) / n)

        share_treated = t.mean()
        stabilised = np.where(t == 1, share_treated / propensity, (1 - share_treated) / (1 - propensity))
        diagnostics: Diagnostics = {
            **propensity_summary(raw, t),
            "ess_treated": kish(w_treated[t == 1]),
            "ess_control": kish(w_control[t == 0]),
            "max_normalized_weight": max(
                float(w_treated.max() / w_treated.sum()), float(w_control.max() / w_control.sum())
            ),
            "max_stabilized_weight": float(stabilised.max()),
            "trim": float(self.trim),
            "n_clipped": float(clipped.sum()),
            "share_clipped": float(clipped.mean()),
            "weighted_mean_treated": mu_treated,
            "weighted_mean_control": mu_control,
            "propensity_converged": "yes" if converged else "no",
        }
        return FitSummary(
            ate=mu_treated - mu_control,
            stderr=stderr,
            inference="influence function (stacked M-estimation, estimated propensity)",
            diagnostics=diagnostics,
        )

    def _fit_arms(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        k = int(t.max()) + 1
        if self.trimming == "drop" and self.trim > 0:
            _, _, raw, _ = multinomial_propensity(t, X, C=float(self.C), max_iter=int(self.max_iter))
            keep = raw.min(axis=1) >= self.trim
            if np.bincount(t[keep], minlength=k).min() < 2:
                raise EstimationError(
                    f"no overlap: after dropping units with an arm's propensity below {self.trim} "
                    "an arm has fewer than 2 rows"
                )
            summary = self._weighted_arms(y[keep], t[keep], X[keep], clip=0.0)
            summary.diagnostics.update(
                {
                    "trimming": "drop",
                    "n_trimmed": float((~keep).sum()),
                    "share_trimmed": float((~keep).mean()),
                }
            )
            return summary
        summary = self._weighted_arms(y, t, X, clip=float(self.trim))
        summary.diagnostics["trimming"] = "clip"
        return summary

    def _weighted_arms(
        self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64], clip: float
    ) -> FitSummary:
        n, k = y.shape[0], int(t.max()) + 1
        Z, _, raw, converged = multinomial_propensity(t, X, C=float(self.C), max_iter=int(self.max_iter))
        propensity = np.maximum(raw, clip)
        clipped = propensity != raw
        onehot = t[:, None] == np.arange(k)[None, :]
        weights = onehot / propensity  # n x k: 1{t=j} / e_j
        means = (weights * y[:, None]).sum(axis=0) / weights.sum(axis=0)
        if_beta = multinomial_influence(Z, t, raw)  # n x (k-1)p, arm-major
        influence = np.empty((n, k))
        for j in range(k):
            residual = onehot[:, j] * (y - means[j])
            psi = weights[:, j] * (y - means[j])
            # d(1/e_j)/d beta_l = -(1/e_j^2) e_j (1{j=l} - e_l) Z; clipped propensities do not move.
            slope = np.where(clipped[:, j], 0.0, residual * raw[:, j] / propensity[:, j] ** 2)
            blocks = [
                -((slope * ((j == arm) - raw[:, arm]))[:, None] * Z).sum(axis=0) / n for arm in range(1, k)
            ]
            influence[:, j] = (psi + if_beta @ np.concatenate(blocks)) / weights[:, j].mean()
        contrasts = []
        for j in range(1, k):
            difference = influence[:, j] - influence[:, 0]
            contrasts.append(
                Contrast(float(means[j] - means[0]), float(np.sqrt(difference @ difference) / n))
            )
        diagnostics: Diagnostics = {
            "propensity_model": "multinomial logistic",
            "propensity_min_own_arm": float(raw[onehot].min()),
            "n_clipped": float(clipped.any(axis=1).sum()),
            "share_clipped": float(clipped.any(axis=1).mean()),
            "trim": float(self.trim),
            "max_normalized_weight": float((weights.max(axis=0) / weights.sum(axis=0)).max()),
            "propensity_converged": "yes" if converged else "no",
        }
        for j in range(k):
            label = "control" if j == 0 else f"arm_{j}"
            diagnostics[f"ess_{label}"] = kish(weights[t == j, j])
            diagnostics[f"weighted_mean_{label}"] = float(means[j])
        return FitSummary(
            ate=contrasts[0].estimate,
            stderr=contrasts[0].stderr,
            inference="influence function (stacked M-estimation, estimated multinomial propensity)",
            diagnostics=diagnostics,
            contrasts=tuple(contrasts),
        )


def multinomial_propensity(
    t: NDArray[np.int64], X: NDArray[np.float64], *, C: float = 1e6, max_iter: int = 1000
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], bool]:
    """Design [1, standardised X], coefficients (p x (k-1), arm 0 the base), P(t=j | X), convergence."""
    n, k = t.shape[0], int(t.max()) + 1
    if X.shape[1] == 0:
        share = np.bincount(t, minlength=k) / n
        coef = np.log(share[1:] / share[0])[None, :]
        return np.ones((n, 1)), coef, np.tile(share, (n, 1)), True
    Z, model, converged = fit_logistic(t, X, C=C, max_iter=max_iter)
    full = np.column_stack([model.intercept_, model.coef_]).T  # p x k, softmax-symmetric (k > 2)
    # The same probabilities with arm 0 as the base (two arms: already so, one column).
    coef = full if full.shape[1] == 1 else full[:, 1:] - full[:, :1]
    probabilities = softmax(np.column_stack([np.zeros(n), Z @ coef]), axis=1)
    return Z, coef, probabilities, converged


def multinomial_influence(
    Z: NDArray[np.float64], t: NDArray[np.int64], probabilities: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Per-row influence of the multinomial logistic coefficients (arm 0 the base), n x (k-1)p."""
    n, p = Z.shape
    k = probabilities.shape[1]
    score = np.concatenate([Z * ((t == j) - probabilities[:, j])[:, None] for j in range(1, k)], axis=1)
    hessian = np.empty(((k - 1) * p, (k - 1) * p))
    for j in range(1, k):
        for arm in range(1, k):
            w = probabilities[:, j] * ((j == arm) - probabilities[:, arm])
            block = (Z * w[:, None]).T @ Z / n
            hessian[(j - 1) * p : j * p, (arm - 1) * p : arm * p] = block
    return np.asarray(np.linalg.solve(hessian, score.T).T)


class OverlapWeighting(CausalEstimator):
    """Overlap weights (Li, Morgan & Zaslavsky 2018): the average effect in the overlap population.

    Treated units get weight 1 - e(x), controls e(x), for a logistic propensity e; the weights
    emphasise units whose treatment was most uncertain, never explode, and balance the
    covariate means exactly. The estimand is the ATO (equal to the ATE when the effect is
    constant). SE from the stacked estimating equations with the estimated propensity.

    Parameters
    ----------
    C : float, default 1e6
        Inverse regularisation strength of the logistic model.
    max_iter : int, default 1000
        Iteration limit for the lbfgs solver.
    """

    adjustment_kind = Adjustment.PROPENSITY
    relies_on_overlap = False

    method = "overlap_weights"
    needs_covariates = True
    model_form = "linear"
    estimand = "ATO"

    def __init__(self, *, C: float = 1e6, max_iter: int = 1000) -> None:
        self.C = C
        self.max_iter = max_iter

    def _check_params(self) -> None:
        if not isinstance(self.C, Real) or not self.C > 0:
            raise EstimationError(f"C must be a positive number, got {self.C!r}")
        if not isinstance(self.max_iter, Integral) or self.max_iter < 1:
            raise EstimationError(f"max_iter must be a positive integer, got {self.max_iter!r}")

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        n = y.shape[0]
        Z, coef, converged = logistic_propensity(t, X, C=float(self.C), max_iter=int(self.max_iter))
        propensity = expit(Z @ coef)
        w_treated = t * (1 - propensity)
        w_control = (1 - t) * propensity
        mu_treated = float(w_treated @ y / w_treated.sum())
        mu_control = float(w_control @ y / w_control.sum())
        if_beta = logistic_influence(Z, t, coef, float(self.C))
        slope = propensity * (1 - propensity)
        d_treated = -(t * (y - mu_treated) * slope) @ Z / n
        d_control = ((1 - t) * (y - mu_control) * slope) @ Z / n
        if_treated = (w_treated * (y - mu_treated) + if_beta @ d_treated) / w_treated.mean()
        if_control = (w_control * (y - mu_control) + if_beta @ d_control) / w_control.mean()
        influence = if_treated - if_control
        return FitSummary(
            ate=mu_treated - mu_control,
            stderr=float(np.sqrt(influence @ influence) / n),
            inference="influence function (stacked M-estimation, estimated propensity)",
            diagnostics={
                **propensity_summary(propensity, t),
                "ess_treated": kish(w_treated[t == 1]),
                "ess_control": kish(w_control[t == 0]),
                "max_abs_smd_after": weighted_max_smd(X, t, w_treated + w_control),
                "propensity_converged": "yes" if converged else "no",
            },
        )


class EntropyBalancing(CausalEstimator):
    """Entropy balancing (Hainmueller 2012) for the ATT, with a seeded bootstrap SE.

    Control weights closest to uniform in Kullback-Leibler divergence are found such that the
    weighted control means of every covariate equal the treated means (the convex dual,
    solved by Newton's method). ATT = treated mean - weighted control mean. Consistent if
    either the control outcome or the propensity log-odds is linear in the covariates.

    Parameters
    ----------
    se : {"sandwich", "bootstrap"}, default "sandwich"
        Standard error from the stacked estimating equations (treated means, balance
        conditions, weighted control mean, treated mean), or a seeded bootstrap.
    n_bootstrap : int, default 200
        Bootstrap replications (rows resampled, weights re-solved) when se="bootstrap".
    max_iter : int, default 100
        Newton iterations for the weights.
    tol : float, default 1e-8
        Largest standardised mean imbalance accepted.
    random_state : int, default 0
        Seed of the bootstrap.
    """

    adjustment_kind = Adjustment.PROPENSITY

    method = "entropy_balancing"
    needs_covariates = True
    model_form = "linear"
    estimand = "ATT"

    def __init__(
        self,
        *,
        se: str = "sandwich",
        n_bootstrap: int = 200,
        max_iter: int = 100,
        tol: float = 1e-8,
        random_state: int = 0,
    ) -> None:
        self.se = se
        self.n_bootstrap = n_bootstrap
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _check_params(self) -> None:
        if self.se not in ("sandwich", "bootstrap"):
            raise EstimationError(f"se must be 'sandwich' or 'bootstrap', got {self.se!r}")
        if not isinstance(self.n_bootstrap, Integral) or self.n_bootstrap < 20:
            raise EstimationError(f"n_bootstrap must be an integer >= 20, got {self.n_bootstrap!r}")
        if not isinstance(self.max_iter, Integral) or self.max_iter < 1:
            raise EstimationError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        if not isinstance(self.tol, Real) or not self.tol > 0:
            raise EstimationError(f"tol must be a positive number, got {self.tol!r}")

    def _fit(self, y: NDArray[np.float64], t: NDArray[np.int64], X: NDArray[np.float64]) -> FitSummary:
        weights, iterations = self._balance(t, X)
        if weights is None:
            raise EstimationError(
                "no overlap: entropy balancing found no control weights matching the treated "
                "covariate means (a treated mean lies outside the controls' range)"
            )
        att = float(y[t == 1].mean() - weights @ y[t == 0])
        control_weights = np.zeros(y.shape[0])
        control_weights[t == 0] = weights
        diagnostics: Diagnostics = {
            "ess_control": kish(weights),
            "max_normalized_weight": float(weights.max()),
            "newton_iterations": float(iterations),
            "max_abs_smd_after": weighted_max_smd(X, t, control_weights + t / max(t.sum(), 1)),
        }
        if self.se == "sandwich":
            return FitSummary(
                ate=att,
                stderr=_entropy_balancing_se(y, t, X, control_weights, att),
                inference="M-estimation sandwich (treated means, balance conditions and both arm means stacked)",
                diagnostics=diagnostics,
            )
        rng = np.random.default_rng(self.random_state)
        n = y.shape[0]
        draws: list[float] = []
        for _ in range(int(self.n_bootstrap)):
            rows = rng.integers(0, n, n)
            t_b = t[rows]
            if min(int(t_b.sum()), int((1 - t_b).sum())) < 2:
                continue
            w_b, _ = self._balance(t_b, X[rows])
            if w_b is not None:
                draws.append(float(y[rows][t_b == 1].mean() - w_b @ y[rows][t_b == 0]))
        if len(draws) < 0.9 * int(self.n_bootstrap):
            raise EstimationError(
                f"entropy balancing failed in {int(self.n_bootstrap) - len(draws)} of "
                f"{self.n_bootstrap} bootstrap samples: overlap is too weak for a reliable SE"
            )
        return FitSummary(
            ate=att,
            stderr=float(np.std(draws, ddof=1)),
            inference=f"bootstrap (B={len(draws)}, rows resampled, weights re-solved)",
            bootstrap_reps=len(draws),
            diagnostics=diagnostics,
        )

    def _balance(
        self, t: NDArray[np.int64], X: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64] | None, int]:
        """Control weights (summing to 1) matching the treated means, or None if none exist."""
        n_control = int((1 - t).sum())
        if X.shape[1] == 0:
            return np.full(n_control, 1.0 / n_control), 0
        scale = X.std(axis=0)
        standardised = X / np.where(scale > 0, scale, 1.0)
        gaps = standardised[t == 0] - standardised[t == 1].mean(axis=0)
        lam = np.zeros(gaps.shape[1])

        def objective(point: NDArray[np.float64]) -> float:
            a = gaps @ point
            top = a.max()
            return float(top + np.log(np.exp(a - top).sum()))

        for iteration in range(int(self.max_iter)):
            a = gaps @ lam
            w = np.exp(a - a.max())
            w /= w.sum()
            gradient = w @ gaps
            if np.abs(gradient).max() < self.tol:
                return w, iteration
            hessian = (gaps * w[:, None]).T @ gaps - np.outer(gradient, gradient)
            step = np.linalg.lstsq(hessian + 1e-12 * np.eye(lam.size), gradient, rcond=None)[0]
            current, size = objective(lam), 1.0
            while size > 1e-10 and objective(lam - size * step) > current - 1e-4 * size * (gradient @ step):
                size /= 2
            if size <= 1e-10:
                return None, iteration
            lam = lam - size * step
        return None, int(self.max_iter)


def _entropy_balancing_se(
    y: NDArray[np.float64],
    t: NDArray[np.int64],
    X: NDArray[np.float64],
    control_weights: NDArray[np.float64],
    att: float,
) -> float:
    """SE of the entropy-balancing ATT from its stacked estimating equations.

    theta = (m, lambda, mu0, mu1) solves the sample means of
      T (Z - m),  u (Z - m),  u (Y - mu0),  T (Y - mu1),
    with Z the standardised covariates, m their treated mean and u = exp(lambda'Z) on controls
    (proportional to the balancing weights; the proportionality constant cancels in the
    sandwich). Var(theta) = A^-1 B A^-T / n; ATT = mu1 - mu0.
    """
    n, p = X.shape
    scale = X.std(axis=0) if p else np.empty(0)
    Z = X / np.where(scale > 0, scale, 1.0) if p else X
    treated = (t == 1).astype(float)
    u = control_weights * int((t == 0).sum())  # mean one over the controls
    m = Z[t == 1].mean(axis=0)
    mu1 = float(y[t == 1].mean())
    mu0 = mu1 - att
    centred = Z - m
    psi = np.column_stack(
        [treated[:, None] * centred, u[:, None] * centred, u * (y - mu0), treated * (y - mu1)]
    )
    k = 2 * p + 2
    A = np.zeros((k, k))
    A[:p, :p] = -treated.mean() * np.eye(p)
    A[p : 2 * p, :p] = -u.mean() * np.eye(p)
    A[p : 2 * p, p : 2 * p] = (centred * u[:, None]).T @ Z / n
    A[2 * p, p : 2 * p] = (u * (y - mu0)) @ Z / n
    A[2 * p, 2 * p] = -u.mean()
    A[2 * p + 1, 2 * p + 1] = -treated.mean()
    B = psi.T @ psi / n
    inverse = np.linalg.pinv(A)
    covariance = inverse @ B @ inverse.T / n
    contrast = np.zeros(k)
    contrast[2 * p + 1], contrast[2 * p] = 1.0, -1.0
    return float(np.sqrt(contrast @ covariance @ contrast))


def weighted_max_smd(
    X: NDArray[np.float64], t: NDArray[np.int64], weights: NDArray[np.float64]
) -> float | None:
    """Largest absolute standardised mean difference of the covariates after weighting."""
    if X.shape[1] == 0:
        return None
    scale = X.std(axis=0)
    treated = weights * t
    control = weights * (1 - t)
    gap = treated @ X / treated.sum() - control @ X / control.sum()
    return float((np.abs(gap) / np.where(scale > 0, scale, 1.0)).max())
