"""Selection rules: top-k, greedy maximum set-cover and k-center greedy."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import pairwise_distances_argmin_min
from sklearn.utils import check_random_state

__all__ = ["greedy_max_cover", "k_center_greedy", "top_k"]


def top_k(scores: ArrayLike, k: int) -> NDArray[np.intp]:
    """Indices of the ``k`` largest scores, best first.

    Linear in ``n`` (:func:`numpy.argpartition`) plus ``k log k`` for the order; ties are
    broken by the lower index, also at the k-th place (so the result is the first ``k``
    of a stable sort by decreasing score, whichever way the scores were split into
    parts before).

    Parameters
    ----------
    scores : array-like of shape (n,)
    k : int
        ``1 <= k <= n``.

    Returns
    -------
    ndarray of shape (k,)

    Examples
    --------
    >>> from bsqkit.functional import top_k
    >>> top_k([0.2, 0.9, 0.1, 0.5], 2)  # best first
    array([1, 3])
    """
    scores = np.asarray(scores)
    n = scores.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}], got {k}")
    if k < n:
        part = np.argpartition(-scores, k - 1)[:k]
        kth = scores[part].min()
        above = np.flatnonzero(scores > kth)
        if len(above) < k:  # else NaN scores: left to the caller's check
            tied = np.flatnonzero(scores == kth)[: k - len(above)]
            if len(above) + len(tied) == k:
                part = np.concatenate([above, tied])
    else:
        part = np.arange(n)
    order = np.lexsort((part, -scores[part]))
    return part[order]


def _unit_rows(x: NDArray) -> NDArray[np.float32]:
    # normalised in float64, each row first divided by its largest entry, so that
    # descriptors beyond float32's range (about 1e38, or squares beyond 1e19, and below
    # 1e-23) keep their direction; only the unit vectors are stored in float32
    x = np.asarray(x, dtype=np.float64)
    scale = np.abs(x).max(axis=1, keepdims=True)
    x = np.divide(x, scale, out=np.zeros_like(x), where=scale > 0)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    # A zero descriptor has no direction: its cosine with anything is defined as 0.
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0).astype(np.float32)


def greedy_max_cover(
    candidates: ArrayLike, population: ArrayLike, n_select: int
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Greedy maximum set-cover with cosine similarity (paper Eq. 10, Yang et al. 2017).

    Repeatedly adds the candidate ``c`` that most increases
    ``F(S) = sum_{x in population} max_{s in S} cos(x, s)``. The gains of all candidates
    are evaluated at once; memory is ``n_candidates x n_population`` (float32), never
    ``n_population x n_population``. Before the first pick every ``x`` is covered at
    -1, the smallest cosine, so all gains are finite.

    Parameters
    ----------
    candidates : array-like of shape (n_candidates, n_features)
        Descriptors of the images to choose from.
    population : array-like of shape (n_population, n_features)
        Descriptors of the images to cover.
    n_select : int
        ``1 <= n_select <= n_candidates``.

    Returns
    -------
    indices : ndarray of shape (n_select,)
        Positions in ``candidates``, in pick order.
    gains : ndarray of shape (n_select,)
        Increase of ``F`` made by each pick; non-increasing (``F`` is submodular).

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.functional import greedy_max_cover
    >>> population = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    >>> candidates = np.array([[1.0, 0.05], [0.0, 1.0], [1.0, 0.0]])
    >>> idx, gains = greedy_max_cover(candidates, population, n_select=2)
    >>> idx, bool(gains[0] >= gains[1])
    (array([0, 1]), True)
    """
    cand = _unit_rows(candidates)
    pop = np.asarray(population)
    if pop.ndim != 2 or cand.shape[1] != pop.shape[1]:
        raise ValueError(
            f"candidates and population must have the same number of features, "
            f"got {cand.shape[1]} and {pop.shape[1:]}"
        )
    n_cand = cand.shape[0]
    if not 1 <= n_select <= n_cand:
        raise ValueError(f"n_select must be in [1, {n_cand}], got {n_select}")
    # (n_candidates, n_population) similarities, the population normalised chunk by chunk
    # so that no normalised copy of it is ever held
    similarity = np.empty((n_cand, pop.shape[0]), dtype=np.float32)
    chunk = max(1, 2**22 // max(pop.shape[1], 1))
    for start in range(0, pop.shape[0], chunk):
        similarity[:, start : start + chunk] = cand @ _unit_rows(pop[start : start + chunk]).T
    np.clip(similarity, -1.0, 1.0, out=similarity)
    cover = np.full(pop.shape[0], -1.0, dtype=np.float32)
    available = np.ones(n_cand, dtype=bool)
    indices = np.empty(n_select, dtype=np.intp)
    gains = np.empty(n_select, dtype=np.float64)
    scratch = np.empty_like(similarity[0])
    for step in range(n_select):
        # gain_j = sum_i max(sim_ji, cover_i) - sum_i cover_i, one row at a time: no
        # second (n_candidates, n_population) array
        base = cover.sum(dtype=np.float64)
        gain = np.empty(n_cand, dtype=np.float64)
        for j in range(n_cand):
            np.maximum(similarity[j], cover, out=scratch)
            gain[j] = scratch.sum(dtype=np.float64) - base
        gain[~available] = -np.inf
        best = int(np.argmax(gain))
        indices[step] = best
        gains[step] = gain[best]
        available[best] = False
        np.maximum(cover, similarity[best], out=cover)
    return indices, gains


def k_center_greedy(
    candidates: ArrayLike,
    centers: ArrayLike | None,
    n_select: int,
    random_state: np.random.RandomState | None = None,
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """k-center greedy selection (Sener & Savarese 2018).

    Repeatedly picks the candidate farthest (Euclidean) from its nearest center, then
    makes it a center. Memory is linear in the number of candidates: the distance to
    the existing centers is computed in chunks by
    :func:`sklearn.metrics.pairwise_distances_argmin_min`.

    Parameters
    ----------
    candidates : array-like of shape (n_candidates, n_features)
    centers : array-like of shape (n_centers, n_features) or None
        Codes of the already annotated samples. With none, the first pick is drawn at
        random from ``random_state`` (its score is ``inf``).
    n_select : int
        ``1 <= n_select <= n_candidates``.
    random_state : int, RandomState instance or None, optional
        Draws the first pick when there are no centers (None: a fresh generator seeded
        from the OS on every call).

    Returns
    -------
    indices : ndarray of shape (n_select,)
        Positions in ``candidates``, in pick order.
    distances : ndarray of shape (n_select,)
        Distance of each pick to its nearest center when it was picked; non-increasing.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.functional import k_center_greedy
    >>> candidates = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [0.0, 3.0]])
    >>> idx, dist = k_center_greedy(candidates, np.array([[0.0, 0.0]]), n_select=2)
    >>> idx, dist
    (array([2, 3]), array([5., 3.]))
    """
    cand = np.asarray(candidates, dtype=np.float64)
    n_cand = cand.shape[0]
    if not 1 <= n_select <= n_cand:
        raise ValueError(f"n_select must be in [1, {n_cand}], got {n_select}")
    if centers is not None and len(centers) > 0:
        _, min_dist = pairwise_distances_argmin_min(cand, np.asarray(centers, dtype=np.float64))
    else:
        min_dist = np.full(n_cand, np.inf)
    indices = np.empty(n_select, dtype=np.intp)
    distances = np.empty(n_select, dtype=np.float64)
    # ||c - b||^2 = ||c||^2 + ||b||^2 - 2 c.b: one matrix-vector product per pick, no
    # (n_candidates, n_features) temporary
    sq_norms = np.einsum("ij,ij->i", cand, cand)
    for step in range(n_select):
        if np.isinf(min_dist).all():
            rng = (
                np.random.RandomState()
                if random_state is None
                else check_random_state(random_state)
            )
            best = int(rng.randint(n_cand))
        else:
            best = int(np.argmax(min_dist))
        indices[step] = best
        distances[step] = min_dist[best]
        new_sq = cand @ cand[best]
        new_sq *= -2.0
        new_sq += sq_norms
        new_sq += sq_norms[best]
        np.maximum(new_sq, 0.0, out=new_sq)  # rounding can dip below 0 near the pick
        np.minimum(min_dist, np.sqrt(new_sq, out=new_sq), out=min_dist)
        min_dist[best] = -np.inf  # never picked twice
    return indices, distances
