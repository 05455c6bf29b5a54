"""Diagonal Gaussians of latent codes: the moments BSQ fits to the pool and to the
annotated set (paper Eqs. 5-7), numerically stable (pairwise merges, standardised
coordinates) and overflow-safe, for codes held in memory or arriving block by block.

``float_rows``, ``code_moments``, ``combined_moments`` and ``with_labeled_gaussian``
are the building blocks the greedy selection and the Dask path share; the package's
public functions are ``fit_diagonal_gaussian`` and ``fit_bsq_gaussians``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bsqkit._dask import per_block
from bsqkit._deprecation import renamed_keywords

__all__ = ["fit_bsq_gaussians", "fit_diagonal_gaussian"]

_OVERFLOW = (
    "codes are too large to fit a Gaussian in float64 (their mean or spread overflows); "
    "rescale the encoder's output"
)


def float_rows(x: ArrayLike) -> NDArray[np.floating]:
    # float32 and float64 codes are used as they are (no float64 copy of a float32 pool);
    # every score is computed in float64, one chunk of rows at a time
    x = np.asarray(x)
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)


# values per chunk of a pass over the codes (16 MB of float64): one chunk alive at a time
_CHUNK_VALUES = 2**21


def chunk_rows(n_latent: int) -> int:
    """Rows per chunk of a pass over codes of width ``n_latent`` (16 MB of float64)."""
    return max(1, _CHUNK_VALUES // max(n_latent, 1))


def code_moments(parts: Sequence[NDArray]) -> tuple[int, NDArray[np.float64], NDArray[np.float64]]:
    """Count, mean and (population) standard deviation of row blocks, without overflow.

    Two passes in row chunks (no ``(n, d)`` temporary). The squared deviations are
    accumulated relative to a running per-dimension scale (the largest deviation seen,
    as LAPACK's ``dnrm2`` does), so codes of magnitude 1e154 and beyond, whose squares
    overflow float64, still give a finite spread.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
        n = sum(p.shape[0] for p in parts)
        d = parts[0].shape[1]
        chunk = chunk_rows(d)
        mu = np.zeros(d)
        for p in parts:
            for start in range(0, p.shape[0], chunk):
                mu += np.divide(p[start : start + chunk], n, dtype=np.float64).sum(axis=0)
        scale = np.zeros(d)
        ssq = np.zeros(d)
        for p in parts:
            for start in range(0, p.shape[0], chunk):
                dev = np.subtract(p[start : start + chunk], mu, dtype=np.float64)
                np.abs(dev, out=dev)
                new_scale = np.maximum(scale, dev.max(axis=0))
                ok = new_scale > 0
                ssq[ok] *= np.square(scale[ok] / new_scale[ok])
                np.divide(dev, new_scale, out=dev, where=ok)
                dev *= dev
                ssq += dev.sum(axis=0)
                scale = new_scale
                del dev  # before the next chunk is made: one chunk alive at a time
        sigma = scale * np.sqrt(ssq / n)
        if not (np.isfinite(mu).all() and np.isfinite(scale).all()):
            raise ValueError(_OVERFLOW)
    return n, mu, sigma


def combined_moments(
    moments: Sequence[tuple[int, NDArray, NDArray]],
) -> tuple[int, NDArray[np.float64], NDArray[np.float64]]:
    """Count, mean and standard deviation of row blocks from each block's ``code_moments``
    (Chan et al.'s parallel formula), scaled like :func:`code_moments` against overflow."""
    moments = [m for m in moments if m[0] > 0]
    n = sum(m[0] for m in moments)
    with np.errstate(over="ignore", invalid="ignore"):
        mu = sum(np.multiply(m[1], m[0] / n) for m in moments)
        scale = np.zeros_like(mu)
        for _, mean, sigma in moments:
            scale = np.maximum(scale, np.maximum(sigma, np.abs(mean - mu)))
        ok = scale > 0
        ssq = np.zeros_like(mu)
        for count, mean, sigma in moments:
            ssq[ok] += count * (
                np.square(sigma[ok] / scale[ok]) + np.square((mean[ok] - mu[ok]) / scale[ok])
            )
        sigma = scale * np.sqrt(ssq / n)
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ValueError(_OVERFLOW)
    return n, mu, sigma


def _as_code_blocks(codes: Sequence[ArrayLike]) -> list[NDArray[np.floating]]:
    parts = [float_rows(p) for p in codes]
    parts = [p for p in parts if p.size]
    n = sum(p.shape[0] for p in parts)
    if n == 0 or any(p.ndim != 2 for p in parts) or len({p.shape[1] for p in parts}) != 1:
        shapes = [p.shape for p in parts]
        raise ValueError(
            f"codes must be non-empty arrays of shape (n_samples, n_latent), got {shapes}"
        )
    return parts


@renamed_keywords(sigma_floor="min_sigma")
def fit_diagonal_gaussian(
    codes: ArrayLike, *more_codes: ArrayLike, min_sigma: float | ArrayLike = 0.0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Fit a diagonal Gaussian to latent codes.

    Parameters
    ----------
    codes : array-like of shape (n_samples, n_latent)
        Latent codes, ``n_samples >= 1`` in all.
    *more_codes : array-like of shape (n_samples_i, n_latent)
        Further rows, fitted together with ``codes`` without concatenating them (the
        pool Gaussian of annotated plus non-annotated codes needs no copy of the pool).
    min_sigma : float or array-like of shape (n_latent,), default=0.0
        Lower bound on every standard deviation, in the codes' units. A single code has
        standard deviation 0, which would make the tail likelihood a step function; the
        floor keeps it smooth. (``sigma_floor`` elsewhere, as in
        :class:`~bsqkit.BayesianSampleQuery`, is relative to the pool's spread.)

    Returns
    -------
    mu : ndarray of shape (n_latent,)
        Per-dimension mean.
    sigma : ndarray of shape (n_latent,)
        Per-dimension (population, ``ddof=0``) standard deviation, at least
        ``min_sigma``; two-pass, and finite for codes whose squares overflow.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.functional import fit_diagonal_gaussian
    >>> mu, sigma = fit_diagonal_gaussian(np.array([[0.0, 1.0], [2.0, 1.0]]), min_sigma=0.1)
    >>> mu, sigma
    (array([1., 1.]), array([1. , 0.1]))
    """
    _, mu, sigma = code_moments(_as_code_blocks((codes, *more_codes)))
    return mu, np.maximum(sigma, min_sigma)


def _constant_dimensions(mu: NDArray, sigma: NDArray) -> NDArray[np.bool_]:
    # a spread of a few units in the last place of the mean is rounding, not data
    return sigma <= 16 * np.finfo(np.float64).eps * np.abs(mu)


@renamed_keywords(annotated_codes="codes_labeled")
def fit_bsq_gaussians(
    pool_codes: Sequence[ArrayLike],
    codes_labeled: ArrayLike | None,
    relative_floor: float = 1e-3,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray | None, NDArray | None]:
    """The two Gaussians of BSQ: the whole pool's and the annotated set's.

    A dimension in which the pool is constant carries no information: its pool and
    annotated standard deviations are ``inf``, so that it adds exactly 0 to every
    score (a Gaussian infinitely wide, under which every code is equally likely). The
    annotated standard deviations are floored at ``relative_floor`` times the pool's,
    so that one annotated code (standard deviation 0) still gives finite scores.

    Parameters
    ----------
    pool_codes : sequence of array-like of shape (n_i, n_latent)
        The pool's codes (annotated and not), in any number of parts.
    codes_labeled : array-like of shape (n_labeled, n_latent) or None
        The annotated set's codes; None or empty: no annotated Gaussian.
    relative_floor : float, default=1e-3
        Floor of the annotated standard deviations, as a fraction of the pool's.

    Returns
    -------
    mu_pool, sigma_pool : ndarray of shape (n_latent,)
    mu_labeled, sigma_labeled : ndarray of shape (n_latent,), or None without
        labeled codes

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
    return with_labeled_gaussian(mu_pool, sigma_pool, codes_labeled, relative_floor)


def with_labeled_gaussian(
    mu_pool: NDArray, sigma_pool: NDArray, codes_labeled: ArrayLike | None, relative_floor: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray | None, NDArray | None]:
    """:func:`fit_bsq_gaussians` from the pool's moments (however they were computed)."""
    sigma_pool = sigma_pool.copy()
    sigma_pool[_constant_dimensions(mu_pool, sigma_pool)] = np.inf
    if codes_labeled is None or len(codes_labeled) == 0:
        return mu_pool, sigma_pool, None, None
    mu_an, sigma_an = fit_diagonal_gaussian(codes_labeled, min_sigma=relative_floor * sigma_pool)
    return mu_pool, sigma_pool, mu_an, sigma_an


# -- on Dask pools: block by block, the same kernels ------------------------------


def moments_of(codes: Any, *more: NDArray) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean and standard deviation of a Dask array's rows (and of ``more`` rows held in
    memory), per block then combined (overflow-safe, as
    :func:`~bsqkit.functional.fit_diagonal_gaussian`)."""

    parts = per_block(_block_moments, codes)
    parts += [code_moments([float_rows(m)]) for m in more if len(m)]
    _, mu, sigma = combined_moments(parts)
    return mu, sigma


def _block_moments(block, start):

    return code_moments([float_rows(block)])
