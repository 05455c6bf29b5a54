"""Representativeness in a latent space: the Bayesian Sample Querying score (paper Eqs. 3-8)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import log_ndtr

from bsqkit.functional.selection import top_k

__all__ = [
    "bsq_scores",
    "fit_bsq_gaussians",
    "fit_diagonal_gaussian",
    "greedy_bsq_selection",
    "log_tail_likelihood",
    "summed_log_tail_likelihood",
]

_LOG2 = float(np.log(2.0))


def fit_diagonal_gaussian(
    codes: ArrayLike, *more_codes: ArrayLike, sigma_floor: float | ArrayLike = 0.0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Fit a diagonal Gaussian to latent codes.

    Parameters
    ----------
    codes : array-like of shape (n_samples, n_latent)
        Latent codes, ``n_samples >= 1`` in all.
    *more_codes : array-like of shape (n_samples_i, n_latent)
        Further rows, fitted together with ``codes`` without concatenating them (the
        pool Gaussian of annotated plus non-annotated codes needs no copy of the pool).
    sigma_floor : float or array-like of shape (n_latent,), default=0.0
        Lower bound on every standard deviation. A single code has standard deviation 0,
        which would make the tail likelihood a step function; the floor keeps it smooth.

    Returns
    -------
    mu : ndarray of shape (n_latent,)
        Per-dimension mean.
    sigma : ndarray of shape (n_latent,)
        Per-dimension (population, ``ddof=0``) standard deviation, at least ``sigma_floor``.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.functional import fit_diagonal_gaussian
    >>> mu, sigma = fit_diagonal_gaussian(np.array([[0.0, 1.0], [2.0, 1.0]]), sigma_floor=0.1)
    >>> mu, sigma
    (array([1., 1.]), array([1. , 0.1]))
    """
    parts = [np.asarray(p, dtype=np.float64) for p in (codes, *more_codes)]
    parts = [p for p in parts if p.size]
    n = sum(p.shape[0] for p in parts)
    if n == 0 or any(p.ndim != 2 for p in parts) or len({p.shape[1] for p in parts}) != 1:
        shapes = [p.shape for p in parts]
        raise ValueError(
            f"codes must be non-empty arrays of shape (n_samples, n_latent), got {shapes}"
        )
    mu = sum(p.sum(axis=0) for p in parts) / n
    # two-pass variance in row chunks: exact and without an (n, d) temporary
    chunk = max(1, 2**22 // parts[0].shape[1])
    sq = np.zeros_like(mu)
    for p in parts:
        for start in range(0, p.shape[0], chunk):
            dev = p[start : start + chunk] - mu
            dev *= dev
            sq += dev.sum(axis=0)
    sigma = np.maximum(np.sqrt(sq / n), sigma_floor)
    return mu, sigma


def fit_bsq_gaussians(
    pool_codes: Sequence[ArrayLike],
    annotated_codes: ArrayLike | None,
    relative_floor: float = 1e-3,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray | None, NDArray | None]:
    """The two Gaussians of BSQ: the whole pool's and the annotated set's.

    The pool's standard deviations are kept positive (a constant dimension then scores
    0 for every code); the annotated ones are floored at ``relative_floor`` times the
    pool's, so that one annotated code (standard deviation 0) still gives finite scores.

    Parameters
    ----------
    pool_codes : sequence of array-like of shape (n_i, n_latent)
        The pool's codes (annotated and not), in any number of parts.
    annotated_codes : array-like of shape (n_annotated, n_latent) or None
    relative_floor : float, default=1e-3

    Returns
    -------
    mu_pool, sigma_pool : ndarray of shape (n_latent,)
    mu_annotated, sigma_annotated : ndarray of shape (n_latent,), or None without
        annotated codes

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.functional import fit_bsq_gaussians
    >>> pool = np.random.RandomState(0).normal(size=(100, 2))
    >>> mu_p, sigma_p, mu_a, sigma_a = fit_bsq_gaussians([pool], pool[:1])
    >>> sigma_a / sigma_p  # one annotated code: its spread is floored relative to the pool's
    array([0.001, 0.001])
    """
    mu_pool, sigma_pool = fit_diagonal_gaussian(*pool_codes)
    sigma_pool = np.maximum(sigma_pool, np.finfo(np.float64).tiny)
    if annotated_codes is None or len(annotated_codes) == 0:
        return mu_pool, sigma_pool, None, None
    mu_an, sigma_an = fit_diagonal_gaussian(
        annotated_codes, sigma_floor=relative_floor * sigma_pool
    )
    return mu_pool, sigma_pool, mu_an, sigma_an


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

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.functional import log_tail_likelihood
    >>> codes = np.array([[0.0], [1.0], [40.0]])
    >>> log_tail_likelihood(codes, [0.0], [1.0]).round(3)  # finite far in the tail
    array([[   0.   ],
           [  -1.148],
           [-803.915]])
    """
    codes = np.asarray(codes, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if np.any(sigma <= 0):
        raise ValueError("sigma must be positive in every dimension; use a sigma floor")
    return log_ndtr(-np.abs(codes - mu) / sigma) + _LOG2


def summed_log_tail_likelihood(
    codes: ArrayLike, mu: ArrayLike, sigma: ArrayLike, chunk_size: int | None = None
) -> NDArray[np.float64]:
    """``log_tail_likelihood(codes, mu, sigma).sum(axis=1)``, in bounded memory.

    Rows are processed in chunks with in-place operations, so the extra memory is one
    chunk (about 32 MB by default) instead of several ``(n_samples, n_latent)`` arrays.

    Parameters
    ----------
    codes : array-like of shape (n_samples, n_latent)
    mu, sigma : array-like of shape (n_latent,)
    chunk_size : int, optional
        Rows per chunk; default ``2**22 // n_latent``.

    Returns
    -------
    ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.functional import summed_log_tail_likelihood
    >>> codes = np.zeros((3, 200))
    >>> codes[1] = 3.0  # 3 sigma in each of 200 dimensions: 1 + erf underflows, the log does not
    >>> summed_log_tail_likelihood(codes, np.zeros(200), np.ones(200)).round(1)
    array([    0. , -1182.9,     0. ])
    """
    codes = np.asarray(codes, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if np.any(sigma <= 0):
        raise ValueError("sigma must be positive in every dimension; use a sigma floor")
    n, d = codes.shape
    chunk_size = chunk_size or max(1, 2**22 // max(d, 1))
    out = np.empty(n, dtype=np.float64)
    for start in range(0, n, chunk_size):
        tmp = codes[start : start + chunk_size] - mu
        np.abs(tmp, out=tmp)
        tmp /= sigma
        np.negative(tmp, out=tmp)
        log_ndtr(tmp, out=tmp)
        out[start : start + chunk_size] = tmp.sum(axis=1)
    out += d * _LOG2
    return out


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

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.functional import bsq_scores
    >>> codes = np.array([[0.0], [-1.0], [2.0]])
    >>> bsq_scores(codes, [0.0], [1.0], [-1.0], [1.5]).round(3)
    array([ 0.683, -1.148,  0.   ])
    """
    pool = summed_log_tail_likelihood(codes, mu_pool, sigma_pool)
    return pool - summed_log_tail_likelihood(codes, mu_annotated, sigma_annotated)


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

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.functional import fit_diagonal_gaussian, greedy_bsq_selection
    >>> codes = np.array([[-2.0], [-1.9], [0.0], [1.9], [2.0]])
    >>> annotated = np.array([[0.0], [0.1]])
    >>> mu, sigma = fit_diagonal_gaussian(codes, annotated)
    >>> idx, scores = greedy_bsq_selection(
    ...     codes, annotated, mu, sigma, n_select=2, sigma_floor=0.1
    ... )
    >>> idx  # one pick on each side of the annotated mass, not two on one side
    array([0, 4])
    """
    codes = np.asarray(codes, dtype=np.float64)
    annotated = np.asarray(codes_annotated, dtype=np.float64).reshape(-1, codes.shape[1])
    pool_term = summed_log_tail_likelihood(codes, mu_pool, sigma_pool)
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
            utility = pool_term - summed_log_tail_likelihood(codes, mu_a, sigma_a)
        utility[~available] = -np.inf
        best = int(top_k(utility, 1)[0])
        indices[step] = best
        scores[step] = utility[best]
        available[best] = False
        total += codes[best]
        total_sq += np.square(codes[best])
        n_annotated += 1
    return indices, scores
