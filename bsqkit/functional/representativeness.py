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
_OVERFLOW = (
    "codes are too large to fit a Gaussian in float64 (their mean or spread overflows); "
    "rescale the encoder's output"
)


def _float_rows(x: ArrayLike) -> NDArray[np.floating]:
    # float32 and float64 codes are used as they are (no float64 copy of a float32 pool);
    # every score is computed in float64, one chunk of rows at a time
    x = np.asarray(x)
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)


def _moments(parts: Sequence[NDArray]) -> tuple[int, NDArray[np.float64], NDArray[np.float64]]:
    """Count, mean and (population) standard deviation of row blocks, without overflow.

    Two passes in row chunks (no ``(n, d)`` temporary). The squared deviations are
    accumulated relative to a running per-dimension scale (the largest deviation seen,
    as LAPACK's ``dnrm2`` does), so codes of magnitude 1e154 and beyond, whose squares
    overflow float64, still give a finite spread.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
        n = sum(p.shape[0] for p in parts)
        d = parts[0].shape[1]
        chunk = max(1, 2**21 // max(d, 1))
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


def _combined_moments(
    moments: Sequence[tuple[int, NDArray, NDArray]],
) -> tuple[int, NDArray[np.float64], NDArray[np.float64]]:
    """Count, mean and standard deviation of row blocks from each block's ``_moments``
    (Chan et al.'s parallel formula), scaled like :func:`_moments` against overflow."""
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
    parts = [_float_rows(p) for p in codes]
    parts = [p for p in parts if p.size]
    n = sum(p.shape[0] for p in parts)
    if n == 0 or any(p.ndim != 2 for p in parts) or len({p.shape[1] for p in parts}) != 1:
        shapes = [p.shape for p in parts]
        raise ValueError(
            f"codes must be non-empty arrays of shape (n_samples, n_latent), got {shapes}"
        )
    return parts


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
        Per-dimension (population, ``ddof=0``) standard deviation, at least
        ``sigma_floor``; two-pass, and finite for codes whose squares overflow.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.functional import fit_diagonal_gaussian
    >>> mu, sigma = fit_diagonal_gaussian(np.array([[0.0, 1.0], [2.0, 1.0]]), sigma_floor=0.1)
    >>> mu, sigma
    (array([1., 1.]), array([1. , 0.1]))
    """
    _, mu, sigma = _moments(_as_code_blocks((codes, *more_codes)))
    return mu, np.maximum(sigma, sigma_floor)


def _constant_dimensions(mu: NDArray, sigma: NDArray) -> NDArray[np.bool_]:
    # a spread of a few units in the last place of the mean is rounding, not data
    return sigma <= 16 * np.finfo(np.float64).eps * np.abs(mu)


def fit_bsq_gaussians(
    pool_codes: Sequence[ArrayLike],
    annotated_codes: ArrayLike | None,
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
    return _with_annotated_gaussian(mu_pool, sigma_pool, annotated_codes, relative_floor)


def _with_annotated_gaussian(
    mu_pool: NDArray, sigma_pool: NDArray, annotated_codes: ArrayLike | None, relative_floor: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray | None, NDArray | None]:
    """:func:`fit_bsq_gaussians` from the pool's moments (however they were computed)."""
    sigma_pool = sigma_pool.copy()
    sigma_pool[_constant_dimensions(mu_pool, sigma_pool)] = np.inf
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
    chunk (about 16 MB by default) instead of several ``(n_samples, n_latent)`` arrays;
    float32 codes are read as they are, each chunk computed in float64.

    Parameters
    ----------
    codes : array-like of shape (n_samples, n_latent)
    mu, sigma : array-like of shape (n_latent,)
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
    codes = _float_rows(codes)
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if np.any(sigma <= 0):
        raise ValueError("sigma must be positive in every dimension; use a sigma floor")
    n, d = codes.shape
    chunk_size = chunk_size or max(1, 2**21 // max(d, 1))
    out = np.empty(n, dtype=np.float64)
    for start in range(0, n, chunk_size):
        tmp = np.subtract(codes[start : start + chunk_size], mu, dtype=np.float64)
        np.abs(tmp, out=tmp)
        tmp /= sigma
        np.negative(tmp, out=tmp)
        log_ndtr(tmp, out=tmp)
        out[start : start + chunk_size] = tmp.sum(axis=1)
        del tmp  # before the next chunk is made: one chunk alive at a time
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


def _standardised_pass(
    codes: NDArray,
    rows: NDArray[np.intp] | None,
    mu_pool: NDArray,
    sigma_pool: NDArray,
    mean_a: NDArray | None,
    sigma_a: NDArray | None,
    distances_out: NDArray[np.float32] | None = None,
    sums_out: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Summed log tail likelihood of rows, in coordinates standardised by the pool Gaussian.

    With ``mean_a`` None the pool term (``u = (z - mu_pool) / sigma_pool`` under N(0, 1)),
    else the annotated term (``u`` under N(mean_a, sigma_a)). ``distances_out`` (all rows)
    receives ``x = |u - mean_a| / sigma_a``, the standardised distances that bound later
    score changes, and ``sums_out`` (shape (n, 2)) their sums and sums of squares.
    Chunks of about 16 MB; the same operations in the same order on every call, so a
    row's value does not depend on which other rows are scored with it.
    """
    n = codes.shape[0] if rows is None else len(rows)
    d = codes.shape[1]
    chunk = max(1, 2**21 // max(d, 1))
    out = np.empty(n)
    for start in range(0, n, chunk):
        part = slice(start, start + chunk)
        block = codes[part] if rows is None else codes[rows[part]]
        with np.errstate(over="ignore", invalid="ignore"):
            x = np.subtract(block, mu_pool, dtype=np.float64)
            x /= sigma_pool
        if not np.isfinite(x).all():
            raise ValueError("codes overflow float64 once centred on the pool mean; rescale them")
        if mean_a is not None:
            x -= mean_a
        np.abs(x, out=x)
        if sigma_a is not None:
            x /= sigma_a
        if distances_out is not None:
            with np.errstate(over="ignore"):  # beyond float32's range: inf, never bounded
                distances_out[part] = x
            sums_out[part, 0] = x.sum(axis=1)
            sums_out[part, 1] = np.einsum("ij,ij->i", x, x)
        np.negative(x, out=x)
        log_ndtr(x, out=x)
        out[part] = x.sum(axis=1)
        del x, block  # before the next chunk is made: one chunk alive at a time
    out += d * _LOG2
    return out


def greedy_bsq_selection(
    codes: ArrayLike,
    codes_annotated: ArrayLike,
    mu_pool: ArrayLike,
    sigma_pool: ArrayLike,
    n_select: int,
    relative_floor: float = 1e-3,
    groups: ArrayLike | None = None,
    group_aggregate: str = "mean",
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Select codes (or groups of codes) one at a time, refitting the annotated Gaussian.

    The paper's batch mode takes the top ``n_select`` scores at once, which can pile a
    whole batch into one under-covered region; here each pick joins the annotated set
    before the next score is computed. The annotated moments are merged pick by pick
    (Chan et al.'s pairwise update, numerically stable), in coordinates standardised by
    the pool Gaussian: the selection depends on ``|z - mu| / sigma`` only, as the score
    does, so shifting or scaling the codes does not change it.

    Each pick changes only the annotated Gaussian, so the pool term is computed once,
    and a pick rescores only the candidates that can still win: with ``x`` a code's
    standardised distances under the Gaussian of the last full pass,
    ``-log(2 Phi(-x))`` is convex with slope below ``x + 1``, which bounds how much each
    score can have grown since (a function of ``sum x``, ``sum x**2`` and how far the
    annotated mean and spread moved). Candidates whose bound is below the best exact
    score are skipped; a full pass is made again when too many would need rescoring.
    The picks and their scores are those of rescoring every candidate at every pick.
    The distances are kept in float32: extra memory the size of float32 codes. The
    saving is largest when the annotated set differs from the pool; when it is a sample
    of the pool, scores are close together and full passes come every few picks.

    Parameters
    ----------
    codes : array-like of shape (n_candidates, n_latent)
        float32 codes are not copied to float64; scores are computed in float64 chunks.
    codes_annotated : array-like of shape (n_annotated, n_latent)
        May be empty (then the first pick uses the pool Gaussian alone).
    mu_pool, sigma_pool : array-like of shape (n_latent,)
        The pool Gaussian (:func:`fit_bsq_gaussians`; ``inf`` marks a constant
        dimension, which adds 0 to every score).
    n_select : int
        Number of picks: ``1 <= n_select <= n_candidates`` (or the number of groups).
    relative_floor : float, default=1e-3
        Floor of the annotated standard deviations relative to the pool's (one annotated
        code has standard deviation 0).
    groups : array-like of int of shape (n_candidates,), optional
        Group of each candidate in ``[0, n_groups)``, every group non-empty. Groups are
        then picked whole: a group's score is the ``group_aggregate`` of its members'
        scores, and all its members join the annotated Gaussian before the next pick.
    group_aggregate : {"mean", "max", "sum"}, default="mean"

    Returns
    -------
    indices : ndarray of shape (n_select,)
        Positions in ``codes`` (or group numbers, with ``groups``), in pick order.
    scores : ndarray of shape (n_select,)
        The BSQ score of each pick when it was picked.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.functional import fit_diagonal_gaussian, greedy_bsq_selection
    >>> codes = np.array([[-2.0], [-1.9], [0.0], [1.9], [2.0]])
    >>> annotated = np.array([[0.0], [0.1]])
    >>> mu, sigma = fit_diagonal_gaussian(codes, annotated)
    >>> idx, scores = greedy_bsq_selection(codes, annotated, mu, sigma, n_select=2)
    >>> idx  # one pick on each side of the annotated mass, not two on one side
    array([0, 4])
    """
    return _greedy_bsq(
        codes, codes_annotated, mu_pool, sigma_pool, n_select, relative_floor, groups,
        group_aggregate,
    )  # fmt: skip


def _greedy_bsq(
    codes, codes_annotated, mu_pool, sigma_pool, n_select, relative_floor=1e-3, groups=None,
    group_aggregate="mean", trace=None, start=None,
):  # fmt: skip
    """:func:`greedy_bsq_selection`; ``trace`` (a list) receives the annotated Gaussian
    (standardised mean and spread, or None before any annotation) each pick was made
    under; ``start`` (count, mean, M2 in standardised coordinates) replaces the annotated
    moments computed from ``codes_annotated``."""
    from bsqkit.functional.groups import aggregate_by_group

    mu_pool = np.asarray(mu_pool, dtype=np.float64)
    sigma_pool = np.asarray(sigma_pool, dtype=np.float64)
    if np.any(~(sigma_pool > 0)):
        raise ValueError("sigma_pool must be positive in every dimension")
    if not relative_floor > 0:
        raise ValueError(f"relative_floor must be > 0, got {relative_floor}")
    codes = _float_rows(codes)
    n_candidates, d = codes.shape
    annotated = np.asarray(codes_annotated, dtype=np.float64)
    if annotated.size == 0:
        annotated = annotated.reshape(0, d)
    if annotated.ndim != 2 or annotated.shape[1] != d:
        raise ValueError(
            f"codes_annotated must have shape (n_annotated, {d}), got {annotated.shape}"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        u_annotated = (annotated - mu_pool) / sigma_pool
    if not np.isfinite(u_annotated).all():
        raise ValueError("codes overflow float64 once centred on the pool mean; rescale them")
    if groups is None:
        group_of, n_groups = None, n_candidates
    else:
        group_of = np.asarray(groups)
        if group_of.shape != (n_candidates,) or group_of.dtype.kind not in "iu":
            raise ValueError(
                f"groups must be integers of shape ({n_candidates},), got {group_of.dtype} "
                f"of shape {group_of.shape}"
            )
        n_groups = int(group_of.max()) + 1 if len(group_of) else 0
        if len(group_of) and (group_of.min() < 0 or len(np.unique(group_of)) != n_groups):
            raise ValueError("groups must number the groups 0 .. n_groups - 1, each used")
    if not 1 <= n_select <= n_groups:
        raise ValueError(f"n_select must be in [1, {n_groups}], got {n_select}")

    def members(units: NDArray[np.intp]) -> NDArray[np.intp]:
        if group_of is None:
            return units
        return np.concatenate([by_group[bounds[g] : bounds[g + 1]] for g in units])

    def to_units(row_values: NDArray, rows: NDArray[np.intp] | None = None) -> NDArray:
        """Unit scores from the scores of all rows or of ``rows`` (nan for the others)."""
        if group_of is not None:
            of = group_of if rows is None else group_of[rows]
            return aggregate_by_group(row_values, of, n_groups, group_aggregate)
        if rows is None:
            return row_values
        out = np.full(n_groups, np.nan)
        out[rows] = row_values
        return out

    if group_of is not None:
        # the members of every group in ascending row order: a group aggregated from a
        # subset of rows sums in the same order as from all rows
        by_group = np.argsort(group_of, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(group_of, minlength=n_groups))])
    pool_term = _standardised_pass(codes, None, mu_pool, sigma_pool, None, None)
    # annotated moments (standardised coordinates) as count, mean and M2
    n_a, mean_a, m2_a = 0, np.zeros(d), np.zeros(d)
    if start is not None:
        n_a, mean_a, m2_a = start
    elif len(u_annotated):
        n_a, mean_a, sigma_a = _moments([u_annotated])
        m2_a = n_a * np.square(sigma_a)
    open_units = np.ones(n_groups, dtype=bool)
    indices = np.empty(n_select, dtype=np.intp)
    scores = np.empty(n_select, dtype=np.float64)
    reference = None  # the Gaussian, row scores and distances of the last full pass
    distances = sums = None
    for step in range(n_select):
        if n_a == 0:
            unit_scores = to_units(pool_term)
            if trace is not None:
                trace.append(None)
        else:
            sigma_a = np.maximum(np.sqrt(m2_a / n_a), relative_floor)
            if trace is not None:
                trace.append((mean_a, sigma_a))
            unit_scores = None
            if reference is not None:
                unit_scores = _pruned_unit_scores(
                    codes, reference, mean_a, sigma_a, mu_pool, sigma_pool,
                    pool_term, open_units, members, to_units,
                )  # fmt: skip
            if unit_scores is None:  # first pass, or too many candidates to rescore
                if distances is None:
                    # float32, its rounding allowed for in the bound
                    distances = np.empty((n_candidates, d), dtype=np.float32)
                    sums = np.empty((n_candidates, 2))
                annotated_term = _standardised_pass(
                    codes, None, mu_pool, sigma_pool, mean_a, sigma_a, distances, sums
                )
                row_scores = pool_term - annotated_term
                unbounded = ~np.isfinite(distances).all(axis=1)
                reference = (mean_a, sigma_a, row_scores, distances, sums, unbounded)
                unit_scores = to_units(row_scores)
        units = np.flatnonzero(open_units)
        utility = unit_scores[units]
        if np.isnan(utility).any():
            raise ValueError("BSQ scores are NaN; check the codes and the pool Gaussian")
        pick = int(top_k(utility, 1)[0])
        best = int(units[pick])
        indices[step], scores[step] = best, utility[pick]
        open_units[best] = False
        picked = codes[members(np.array([best]))]
        n_a, mean_a, m2_a = _merged_moments(n_a, mean_a, m2_a, picked, mu_pool, sigma_pool)
    return indices, scores


def _merged_moments(
    n_a: int, mean_a: NDArray, m2_a: NDArray, picked: NDArray, mu_pool: NDArray, sigma_pool
) -> tuple[int, NDArray[np.float64], NDArray[np.float64]]:
    """Annotated count, mean and M2 (standardised coordinates) once the picked codes join
    them (Chan et al. 1979's pairwise update)."""
    n_b, mean_b, sigma_b = _moments([(np.asarray(picked, np.float64) - mu_pool) / sigma_pool])
    m2_b = n_b * np.square(sigma_b)
    n_new = n_a + n_b
    delta = mean_b - mean_a
    mean_a = mean_a + delta * (n_b / n_new)
    m2_a = m2_a + m2_b + np.square(delta) * (n_a * n_b / n_new)
    return n_new, mean_a, m2_a


def _growth_coefficients(
    mean_ref: NDArray, sigma_ref: NDArray, mean_a: NDArray, sigma_a: NDArray
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """``quad, lin, const`` such that a row's annotated term grows by at most
    ``sum_d quad x**2 + lin x + const`` from the Gaussian (mean_ref, sigma_ref) to
    (mean_a, sigma_a), with ``x`` its standardised distances under the first.

    Per dimension, with x the distance under the reference Gaussian, the distance now is
    at most y = r x + g. f(t) = -log(2 Phi(-t)) is convex and increasing, its slope
    between a t + b and t + c (the lower line averages two lines below the slope: t,
    and its tangent at 0, c + (2 / pi) t), so f(now) - f(x) <= (a y + b) (y - x) where
    y < x, <= (y + c) (y - x) where y >= x: at most A x**2 + B x + C, the same for every
    row.
    """
    r = sigma_ref / sigma_a
    g = np.abs(mean_a - mean_ref) / sigma_a
    c = np.sqrt(2.0 / np.pi)
    a, b = (1.0 + 2.0 / np.pi) / 2.0, c / 2.0
    p = np.maximum(r - 1.0, 0.0)  # max(0, y - x) <= p x + g
    quad = a * r * (r - 1.0) + (1.0 - a) * r * p
    lin = a * r * g + (a * g + b) * (r - 1.0) + (1.0 - a) * r * g + ((1.0 - a) * g + c - b) * p
    const = float(np.sum((a * g + b) * g + ((1.0 - a) * g + c - b) * g))
    return quad, lin, const


def _pruned_unit_scores(
    codes, reference, mean_a, sigma_a, mu_pool, sigma_pool, pool_term, open_units, members,
    to_units,
):  # fmt: skip
    """Unit scores under the current annotated Gaussian, exact wherever they can win.

    Returns an array in which every open unit that could be the best carries its exact
    score and every other open unit an upper bound below the best exact score (so
    ``top_k`` picks what a full rescoring would), or None when a full pass is cheaper.
    """
    mean_ref, sigma_ref, row_ref, distances, sums, unbounded = reference
    quad, lin, const = _growth_coefficients(mean_ref, sigma_ref, mean_a, sigma_a)
    # the stored distances are float32 (relative rounding at most 2**-24): widen the
    # coefficients so that the bound holds for every x the stored value stands for
    eps = 2.0**-23
    quad = (quad + np.abs(quad) * (2 * eps + eps * eps)).astype(np.float32)
    lin = (lin + np.abs(lin) * eps).astype(np.float32)
    n_rows, d = distances.shape
    growth = np.empty(n_rows)
    chunk = max(1, 2**21 // max(d, 1))
    for start in range(0, n_rows, chunk):
        x = distances[start : start + chunk]
        part = x @ lin
        part += np.square(x) @ quad
        growth[start : start + chunk] = part
    growth += const
    # slack for rounding: the float32 products sum d terms (error at most d + 2 units in
    # the last place of the sum of their magnitudes), and the exact scores
    magnitude = np.abs(lin).max() * sums[:, 0] + np.abs(quad).max() * sums[:, 1] * 1.01
    growth += (d + 2) * 2.0**-23 * magnitude + 1e-9 * (np.abs(row_ref) + const + d)
    upper_rows = row_ref + growth
    upper_rows[unbounded] = np.inf
    upper = to_units(upper_rows)
    upper[~open_units] = -np.inf
    exact = np.zeros(len(upper), dtype=bool)
    budget = max(1024, n_rows // 16)  # rows rescored before a full pass is cheaper
    batch = min(64, int(open_units.sum()))
    while True:
        todo = np.flatnonzero(~exact & open_units)
        if batch < len(todo):
            todo = todo[top_k(upper[todo], batch)]
        rows = np.sort(members(todo))
        budget -= len(rows)
        if budget < 0:
            return None
        now = _standardised_pass(codes, rows, mu_pool, sigma_pool, mean_a, sigma_a)
        fresh = to_units(pool_term[rows] - now, rows)
        upper[todo] = fresh[todo]
        exact[todo] = True
        best = upper[exact & open_units].max()
        pending = ~exact & open_units & (upper >= best)
        if not pending.any():
            return upper
        batch = int(pending.sum())
