"""Representativeness in a latent space: the Bayesian Sample Querying score (paper Eqs. 3-8)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import log_ndtr

from bsqkit.functional.selection import top_k

__all__ = [
    "bsq_scores",
    "fit_diagonal_gaussian",
    "greedy_bsq_selection",
    "log_tail_likelihood",
]

_LOG2 = float(np.log(2.0))


def fit_diagonal_gaussian(
    codes: ArrayLike, sigma_floor: float | ArrayLike = 0.0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Fit a diagonal Gaussian to latent codes.

    Parameters
    ----------
    codes : array-like of shape (n_samples, n_latent)
        Latent codes, ``n_samples >= 1``.
    sigma_floor : float or array-like of shape (n_latent,), default=0.0
        Lower bound on every standard deviation. A single code has standard deviation 0,
        which would make the tail likelihood a step function; the floor keeps it smooth.

    Returns
    -------
    mu : ndarray of shape (n_latent,)
        Per-dimension mean.
    sigma : ndarray of shape (n_latent,)
        Per-dimension (population, ``ddof=0``) standard deviation, at least ``sigma_floor``.
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[0] == 0:
        raise ValueError(
            f"codes must be a non-empty array of shape (n_samples, n_latent), got {codes.shape}"
        )
    mu = codes.mean(axis=0)
    sigma = np.maximum(codes.std(axis=0), sigma_floor)
    return mu, sigma


def log_tail_likelihood(codes: ArrayLike, mu: ArrayLike, sigma: ArrayLike) -> NDArray[np.float64]:
    """Per-dimension log of the two-sided tail probability of a diagonal Gaussian (Eq. 8).

    ``log(1 + erf(-|z - mu| / (sigma sqrt 2))) = log(2 Phi(-|z - mu| / sigma))``, computed
    with :func:`scipy.special.log_ndtr` so that it stays finite far in the tails (about
    ``-1254`` at 50 sigma instead of ``log(0)``).

    Parameters
    ----------
    codes : array-like of shape (n_samples, n_latent)
    mu, sigma : array-like of shape (n_latent,)
        Parameters of the Gaussian; ``sigma`` must be positive.

    Returns
    -------
    ndarray of shape (n_samples, n_latent)
        Values in ``(-inf, 0]``; 0 at ``z = mu``.
    """
    codes = np.asarray(codes, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if np.any(sigma <= 0):
        raise ValueError("sigma must be positive in every dimension; use a sigma floor")
    return log_ndtr(-np.abs(codes - mu) / sigma) + _LOG2


def bsq_scores(
    codes: ArrayLike,
    mu_pool: ArrayLike,
    sigma_pool: ArrayLike,
    mu_annotated: ArrayLike,
    sigma_annotated: ArrayLike,
) -> NDArray[np.float64]:
    """Bayesian Sample Querying representativeness score (paper Eq. 7).

    ``score(z) = sum_d [log q(z_d | X_pool) - log q(z_d | X_an)]`` with ``q`` the two-sided
    tail likelihood of Eq. 8. A sum of logs, not the log of a product: with 200 latent
    dimensions the product underflows to 0. Higher means likely under the pool but
    unlikely under the annotated set, i.e. wanted.

    Parameters
    ----------
    codes : array-like of shape (n_samples, n_latent)
        Codes of the candidates.
    mu_pool, sigma_pool : array-like of shape (n_latent,)
        Diagonal Gaussian of the whole pool (annotated and not).
    mu_annotated, sigma_annotated : array-like of shape (n_latent,)
        Diagonal Gaussian of the annotated codes.

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    pool = log_tail_likelihood(codes, mu_pool, sigma_pool)
    annotated = log_tail_likelihood(codes, mu_annotated, sigma_annotated)
    return (pool - annotated).sum(axis=1)


def greedy_bsq_selection(
    codes: ArrayLike,
    codes_annotated: ArrayLike,
    mu_pool: ArrayLike,
    sigma_pool: ArrayLike,
    n_select: int,
    sigma_floor: float | ArrayLike = 0.0,
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Select codes one at a time, refitting the annotated Gaussian after each pick.

    The paper's batch mode takes the top ``n_select`` scores at once, which can pile a
    whole batch into one under-covered region; here each pick joins the annotated set
    before the next score is computed.

    Parameters
    ----------
    codes : array-like of shape (n_candidates, n_latent)
    codes_annotated : array-like of shape (n_annotated, n_latent)
        May be empty (then the first pick uses the pool Gaussian alone).
    mu_pool, sigma_pool : array-like of shape (n_latent,)
    n_select : int
        Number of picks, ``1 <= n_select <= n_candidates``.
    sigma_floor : float or array-like of shape (n_latent,), default=0.0
        Floor for the annotated standard deviation.

    Returns
    -------
    indices : ndarray of shape (n_select,)
        Positions in ``codes``, in pick order.
    scores : ndarray of shape (n_select,)
        The BSQ score of each pick when it was picked.
    """
    codes = np.asarray(codes, dtype=np.float64)
    annotated = np.asarray(codes_annotated, dtype=np.float64).reshape(-1, codes.shape[1])
    pool_term = log_tail_likelihood(codes, mu_pool, sigma_pool).sum(axis=1)
    n_annotated = annotated.shape[0]
    # Running sums give the refitted mean and std in O(d) per pick.
    total = annotated.sum(axis=0)
    total_sq = np.square(annotated).sum(axis=0)
    available = np.ones(codes.shape[0], dtype=bool)
    indices = np.empty(n_select, dtype=np.intp)
    scores = np.empty(n_select, dtype=np.float64)
    for step in range(n_select):
        if n_annotated == 0:
            utility = pool_term.copy()
        else:
            mu_a = total / n_annotated
            var_a = np.maximum(total_sq / n_annotated - np.square(mu_a), 0.0)
            sigma_a = np.maximum(np.sqrt(var_a), sigma_floor)
            utility = pool_term - log_tail_likelihood(codes, mu_a, sigma_a).sum(axis=1)
        utility[~available] = -np.inf
        best = int(top_k(utility, 1)[0])
        indices[step] = best
        scores[step] = utility[best]
        available[best] = False
        total += codes[best]
        total_sq += np.square(codes[best])
        n_annotated += 1
    return indices, scores
