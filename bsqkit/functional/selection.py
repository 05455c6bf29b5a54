"""Selection rules: top-k, greedy maximum set-cover and k-center greedy."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from sklearn.utils import check_random_state

from bsqkit._dask import block_values, per_block
from bsqkit.functional.groups import group_values

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
        The scores to rank; larger is better.
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
    candidates: ArrayLike, population: ArrayLike, n_select: int, *, device: Any = "cpu"
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Greedy maximum set-cover with cosine similarity (paper Eq. 10, Yang et al. 2017).

    Repeatedly adds the candidate ``c`` that most increases
    ``F(S) = sum_{x in population} max_{s in S} cos(x, s)``; ties go to the lower index.
    Before the first pick every ``x`` is covered at -1, the smallest cosine, so all
    gains are finite.

    The similarities are one matrix product in torch on ``device`` (the estimator's,
    in :class:`~bsqkit.SuggestiveAnnotationQuery`), held as float32: memory is
    ``n_candidates x n_population`` plus a quarter of it while they are built, never
    ``n_population x n_population``. The gains are evaluated lazily: ``F`` is
    submodular, so a gain computed before a pick bounds the gain after it, and a
    candidate is only re-evaluated while its old gain could still win. The picks are
    those of the plain greedy that re-evaluates every candidate at every step.

    Parameters
    ----------
    candidates : array-like of shape (n_candidates, n_features)
        Descriptors of the images to choose from.
    population : array-like of shape (n_population, n_features)
        Descriptors of the images to cover.
    n_select : int
        ``1 <= n_select <= n_candidates``.
    device : str or torch.device, default="cpu"
        Where the similarities are computed and held.

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
    device = torch.device(device)
    cand_t = torch.from_numpy(cand).to(device)
    n_pop = pop.shape[0]
    # (n_candidates, n_population) similarities, the population normalised chunk by chunk
    # so that no normalised copy of it is ever held; each chunk's product, a temporary,
    # is at most a quarter of the similarities (the only other temporary: one row)
    similarity = torch.empty((n_cand, n_pop), dtype=torch.float32, device=device)
    chunk = max(1, min(2**22 // max(pop.shape[1], 1), -(-n_pop // 4)))
    for start in range(0, n_pop, chunk):
        units = torch.from_numpy(_unit_rows(pop[start : start + chunk])).to(device)
        similarity[:, start : start + chunk] = cand_t @ units.T
    similarity.clamp_(-1.0, 1.0)
    cover = torch.full((n_pop,), -1.0, dtype=torch.float32, device=device)
    scratch = torch.empty(n_pop, dtype=torch.float32, device=device)
    batch = max(1, n_cand // 16)  # stale candidates re-evaluated per round

    def gains_of(js: NDArray[np.intp]) -> NDArray[np.float64]:
        # gain_j = sum_i max(sim_ji - cover_i, 0), one row at a time through one scratch
        # row (it stays in cache: several times faster on the CPU than a batch of rows).
        # Every sum has the same shape, so torch splits it the same way: a candidate's
        # gain never rises above its value before a pick (the differences only shrink)
        sums = torch.empty(len(js), dtype=torch.float32, device=device)
        for k, j in enumerate(js.tolist()):
            torch.sub(similarity[j], cover, out=scratch).clamp_(min=0)
            sums[k] = scratch.sum()
        return sums.cpu().numpy().astype(np.float64)

    bound = gains_of(np.arange(n_cand))  # exact before the first pick
    fresh = np.ones(n_cand, dtype=bool)
    indices = np.empty(n_select, dtype=np.intp)
    gains = np.empty(n_select, dtype=np.float64)
    for step in range(n_select):
        while True:
            # best bound first, ties to the lower index (lexsort's last key is primary)
            order = np.lexsort((np.arange(n_cand), -bound))
            best = int(order[0])
            if fresh[best]:
                break
            # re-evaluate the stale candidates ranked above the first fresh one (the
            # picks are fresh at -inf): every other is beaten by it
            stale = order[: int(np.argmax(fresh[order]))][:batch]
            bound[stale] = gains_of(stale)
            fresh[stale] = True
        indices[step] = best
        gains[step] = bound[best]
        bound[best] = -np.inf  # never picked twice
        torch.maximum(cover, similarity[best], out=cover)
        fresh[:] = False
        fresh[indices[: step + 1]] = True  # picked: their -inf stays exact
    return indices, gains


def k_center_greedy(
    candidates: ArrayLike,
    centers: ArrayLike | None,
    n_select: int,
    random_state: np.random.RandomState | None = None,
    *,
    device: Any = "cpu",
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """k-center greedy selection (Sener & Savarese 2018).

    Repeatedly picks the candidate farthest (Euclidean) from its nearest center, then
    makes it a center. In float64 torch on ``device``: the distances to the existing
    centers are matrix products over chunks of the candidates, each pick one
    matrix-vector product; memory is linear in the number of candidates.

    Parameters
    ----------
    candidates : array-like of shape (n_candidates, n_features)
        Codes of the samples to choose from.
    centers : array-like of shape (n_centers, n_features) or None
        Codes of the already annotated samples. With none, the first pick is drawn at
        random from ``random_state`` (its score is ``inf``).
    n_select : int
        ``1 <= n_select <= n_candidates``.
    random_state : int, RandomState instance or None, optional
        Draws the first pick when there are no centers (None: a fresh generator seeded
        from the OS on every call).
    device : str or torch.device, default="cpu"
        Where the distances are computed (float64: on Apple's MPS, the CPU does it).

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
    cand = _float64_rows(candidates, device)
    n_cand = cand.shape[0]
    if not 1 <= n_select <= n_cand:
        raise ValueError(f"n_select must be in [1, {n_cand}], got {n_select}")
    sq_norms = _sq_norms(cand)
    if centers is not None and len(centers) > 0:
        ctr = _float64_rows(centers, device)
        if ctr.shape[1] != cand.shape[1]:
            raise ValueError(
                f"centers must have {cand.shape[1]} features like the candidates, "
                f"got {ctr.shape[1]}"
            )
        min_dist = _nearest_center_distances(cand, sq_norms, ctr)
    else:
        min_dist = torch.full((n_cand,), torch.inf, dtype=torch.float64, device=cand.device)
    indices = np.empty(n_select, dtype=np.intp)
    distances = np.empty(n_select, dtype=np.float64)
    for step in range(n_select):
        if step == 0 and torch.isinf(min_dist).all():
            rng = (
                np.random.RandomState()
                if random_state is None
                else check_random_state(random_state)
            )
            best = int(rng.randint(n_cand))
        else:
            best = int(torch.argmax(min_dist))  # the first of equal maxima
        indices[step] = best
        distances[step] = float(min_dist[best])
        _nearer_distances(cand, sq_norms, min_dist, cand[best])
        min_dist[best] = -torch.inf  # never picked twice
    return indices, distances


def _float64_rows(x: Any, device: Any) -> Any:
    device = torch.device(device)
    if device.type == "mps":  # no float64 there: the CPU computes it
        device = torch.device("cpu")
    x = np.ascontiguousarray(x, dtype=np.float64)  # negative strides, read-only views
    if x.ndim != 2:
        raise ValueError(f"expected codes of shape (n_samples, n_features), got {x.shape}")
    return torch.from_numpy(x).to(device) if x.flags.writeable else torch.tensor(x, device=device)


def _sq_norms(rows: Any) -> Any:
    return torch.einsum("ij,ij->i", rows, rows)


def _nearest_center_distances(rows: Any, sq_norms: Any, centers: Any) -> Any:
    """Euclidean distance of each row to its nearest center, float64 tensors on one
    device, ``||r - c||^2 = ||r||^2 + ||c||^2 - 2 r.c`` over chunks of the rows (memory
    ``chunk x n_centers``). Shared by the in-memory and the Dask k-center greedy."""
    ctr_sq = _sq_norms(centers)
    min_sq = torch.empty(len(rows), dtype=torch.float64, device=rows.device)
    chunk = max(1, 2**22 // len(centers))
    for s in range(0, len(rows), chunk):
        d = rows[s : s + chunk] @ centers.T
        d.mul_(-2.0).add_(sq_norms[s : s + chunk, None]).add_(ctr_sq)
        min_sq[s : s + chunk] = d.amin(dim=1)
    return min_sq.clamp_(min=0.0).sqrt_()  # rounding can dip below 0


def _nearer_distances(rows: Any, sq_norms: Any, min_dist: Any, center: Any) -> None:
    """``min_dist`` (in place) once ``center`` joins the centers: one matrix-vector
    product. Shared by the in-memory and the Dask k-center greedy, so that their
    distances agree to the last bit."""
    if rows.device.type == "cpu":  # numpy's BLAS matrix-vector product is faster there
        new_sq = torch.from_numpy(rows.numpy() @ center.numpy())
    else:
        new_sq = rows @ center
    new_sq.mul_(-2.0).add_(sq_norms).add_(_sq_norms(center[None])[0])
    new_sq.clamp_(min=0.0)  # rounding can dip below 0 near the center
    torch.minimum(min_dist, new_sq.sqrt_(), out=min_dist)


# -- on Dask pools: block by block, the same kernels ------------------------------


def top_rows(values: Any, k: int, *args: Any, sliced: tuple = ()) -> tuple[NDArray, NDArray]:
    """The ``k`` best rows of per-row values computed block by block, exactly as
    :func:`~bsqkit.functional.top_k` on all values would choose them.

    ``values`` is either a lazy Dask array of shape (n_rows,) or a pair
    ``(fn, X)`` with ``fn(block, start, *sliced_parts, *args)`` returning a block's values.
    Each block keeps its own ``k`` best; the client picks among them.
    """
    fn, X = values if isinstance(values, tuple) else (block_values, values)

    def best_of_block(block, start, *rest):
        v = np.asarray(fn(block, start, *rest), dtype=np.float64)
        if np.isnan(v).any():
            raise ValueError("the strategy produced NaN scores")
        keep = top_k(v, min(k, len(v)))
        return start + keep, v[keep]

    parts = per_block(best_of_block, X, *args, sliced=sliced)
    rows = np.concatenate([p[0] for p in parts])
    vals = np.concatenate([p[1] for p in parts])
    order = np.argsort(rows, kind="stable")  # ties go to the lower row, as top_k does
    rows, vals = rows[order], vals[order]
    pick = top_k(vals, k)
    return rows[pick], vals[pick]


def best_units(
    values: Any, groups: NDArray | None, n_groups: int, how: str, k: int, *args, sliced=()
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """The ``k`` best rows (``groups`` None) or groups by per-row values, with their
    scores; rows by per-block candidates, groups by per-group partial sums."""
    if groups is None:
        return top_rows(values, k, *args, sliced=sliced)
    per_group = group_values(values, groups, n_groups, how, *args, sliced=sliced)[:, 0]
    chosen = top_k(per_group, k)
    return chosen, per_group[chosen]


def k_center_blocks(
    codes: Any, centers: NDArray | None, k: int, rng: np.random.RandomState
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """k-center greedy (:func:`~bsqkit.functional.k_center_greedy`) over the rows of a
    Dask array: each block keeps its distance to the nearest center (persisted where
    the blocks live), one pass per pick updates it and reports the block's farthest row.
    """
    import dask.array as da

    centers = None if centers is None or len(centers) == 0 else np.asarray(centers, float)
    # numpy arguments as keywords: positional ones would be taken for arrays to align
    distances = codes.map_blocks(
        _start_distances, centers=centers, drop_axis=1, dtype=float
    ).persist()
    indices = np.empty(k, dtype=np.intp)
    scores = np.empty(k)
    for step in range(k):
        if step == 0 and centers is None:
            # nothing annotated: a random first center, drawn as in memory
            best, score = int(rng.randint(len(distances))), np.inf
        else:
            rows, values = zip(*per_block(_farthest, distances), strict=True)
            block = int(np.argmax(values))  # the first maximum, as np.argmax in memory
            best, score = int(rows[block]), float(values[block])
        indices[step], scores[step] = best, score
        center = np.asarray(codes[best].compute(), dtype=np.float64)
        # distances as a column, so that its blocks line up with the rows of codes
        distances = da.map_blocks(
            _nearer, codes, distances[:, None], center=center, picked=best, drop_axis=1,
            dtype=float,
        ).persist()  # fmt: skip
    return indices, scores


def _start_distances(block, centers):
    if centers is None:
        return np.full(len(block), np.inf)
    rows = _float64_rows(block, "cpu")
    return _nearest_center_distances(rows, _sq_norms(rows), _float64_rows(centers, "cpu")).numpy()


def _nearer(block, distances, center, picked, block_info=None):
    """Distances to the nearest center once ``center`` (row ``picked``) joins them."""

    start = block_info[0]["array-location"][0][0]
    rows = _float64_rows(block, "cpu")
    out = _float64_rows(distances, "cpu")[:, 0].clone()
    # the in-memory loop's kernel, so that the distances agree to the last bit
    _nearer_distances(rows, _sq_norms(rows), out, _float64_rows(center[None], "cpu")[0])
    out = out.numpy()
    if start <= picked < start + len(block):
        out[picked - start] = -np.inf  # never picked twice
    return out


def _farthest(block, start):
    i = int(np.argmax(block))
    return start + i, block[i]


def max_cover_blocks(
    candidates: NDArray, population: Any, k: int
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Greedy maximum set-cover (:func:`~bsqkit.functional.greedy_max_cover`) with the
    population a Dask array: its unit rows are persisted where the blocks live, and each
    pick is one pass that sums, per block, every candidate's gain. The cover is never
    stored: it is the best similarity to the picks so far, all of them candidates."""

    cand = _unit_rows(candidates)
    if population.shape[1] != cand.shape[1]:
        raise ValueError(
            f"candidates and population must have the same number of features, got "
            f"{cand.shape[1]} and {population.shape[1]}"
        )
    units = population.map_blocks(_unit_rows, dtype=np.float32).persist()

    def gains(block, start, cand, picked):
        similarity = np.clip(cand @ block.T, -1.0, 1.0)
        cover = similarity[picked].max(axis=0) if len(picked) else np.full(len(block), -1.0)
        cover = cover.astype(np.float32)
        base = cover.sum(dtype=np.float64)
        return np.maximum(similarity, cover).sum(axis=1, dtype=np.float64) - base

    indices = np.empty(k, dtype=np.intp)
    chosen = np.empty(k)
    for step in range(k):
        gain = np.sum(per_block(gains, units, cand, indices[:step]), axis=0)
        gain[indices[:step]] = -np.inf
        best = int(np.argmax(gain))
        indices[step], chosen[step] = best, gain[best]
    return indices, chosen
