"""The Bayesian Sample Querying score (paper Eq. 8): the two-sided tail likelihood of
each code under the pool's and the annotated set's Gaussians, summed over dimensions as
logs (``log_ndtr``: finite far in the tails).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import log_ndtr

from bsqkit._deprecation import renamed_keywords
from bsqkit.functional.moments import chunk_rows, float_rows

__all__ = ["bsq_scores", "log_tail_likelihood", "summed_log_tail_likelihood"]

LOG2 = float(np.log(2.0))


def log_tail_likelihood(codes: ArrayLike, mu: ArrayLike, sigma: ArrayLike) -> NDArray[np.float64]:
    """Per-dimension log of the two-sided tail probability of a diagonal Gaussian (Eq. 8).

    ``log(1 + erf(-|z - mu| / (sigma sqrt 2))) = log(2 Phi(-|z - mu| / sigma))``, computed
    with :func:`scipy.special.log_ndtr` so that it stays finite far in the tails (about
    ``-1254`` at 50 sigma instead of ``log(0)``).

    Parameters
    ----------
    codes : array-like of shape (n_samples, n_latent)
        The latent codes ``z`` to evaluate.
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
    return log_ndtr(-np.abs(codes - mu) / sigma) + LOG2


def summed_log_tail_likelihood(
    codes: ArrayLike, mu: ArrayLike, sigma: ArrayLike, chunk_size: int | None = None
) -> NDArray[np.float64]:
    """``log_tail_likelihood(codes, mu, sigma).sum(axis=1)``, in bounded memory.

    Rows are processed in chunks with in-place operations, so the extra memory is one
    chunk (about 16 MB by default) instead of several ``(n_samples, n_latent)`` arrays;
    float32 codes are read as they are, each chunk computed in float64.

    Parameters
    ----------
    codes : array-like of shape (n_samples, n_latent)
        The latent codes to evaluate.
    mu, sigma : array-like of shape (n_latent,)
        Mean and standard deviation of the diagonal Gaussian; ``sigma`` must be positive.
    chunk_size : int, optional
        Rows per chunk; default ``2**21 // n_latent``.

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
    codes = float_rows(codes)
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if np.any(sigma <= 0):
        raise ValueError("sigma must be positive in every dimension; use a sigma floor")
    n, d = codes.shape
    chunk_size = chunk_size or chunk_rows(d)
    out = np.empty(n, dtype=np.float64)
    for start in range(0, n, chunk_size):
        tmp = np.subtract(codes[start : start + chunk_size], mu, dtype=np.float64)
        np.abs(tmp, out=tmp)
        tmp /= sigma
        np.negative(tmp, out=tmp)
        log_ndtr(tmp, out=tmp)
        out[start : start + chunk_size] = tmp.sum(axis=1)
        del tmp  # before the next chunk is made: one chunk alive at a time
    out += d * LOG2
    return out


@renamed_keywords(mu_annotated="mu_labeled", sigma_annotated="sigma_labeled")
def bsq_scores(
    codes: ArrayLike,
    mu_pool: ArrayLike,
    sigma_pool: ArrayLike,
    mu_labeled: ArrayLike,
    sigma_labeled: ArrayLike,
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
    mu_labeled, sigma_labeled : array-like of shape (n_latent,)
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
    return pool - summed_log_tail_likelihood(codes, mu_labeled, sigma_labeled)
