"""Pools as Dask arrays: the query step computed block by block on the active scheduler.

Dask is optional (``pip install "bsqkit[dask]"``). A pool given as a
:class:`dask.array.Array` is never gathered: every pass maps its blocks (along the first
axis) to small summaries (moments, each block's best candidates, per-group partial sums)
that are combined on the client. The tasks run wherever ``dask.compute`` sends them: a
``dask.distributed.Client`` when one is active, the local threaded scheduler otherwise.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bsqkit._validation import check_finite
from bsqkit.functional.selection import top_k

INSTALL_HINT = 'pip install "bsqkit[dask]"'
# greedy BSQ's first shortlist: this many units per pick, at least SHORTLIST_MIN
SHORTLIST_PER_PICK = 64
SHORTLIST_MIN = 4096

# Calls into a model (MC dropout, an encoder) are serialised within a process: a torch
# module switches its dropout layers' modes and seeds the RNG around a call, which two
# threads of one worker must not interleave. Scoring (numpy) runs unlocked.
_MODEL_LOCK = threading.RLock()


def is_dask_array(x: Any) -> bool:
    """Whether ``x`` is a ``dask.array.Array`` (without importing Dask)."""
    return type(x).__module__.startswith("dask.") and hasattr(x, "chunks") and hasattr(x, "dask")


def require_dask() -> None:
    try:
        import dask
        import dask.array  # noqa: F401
    except ImportError as exc:  # pragma: no cover - only without the extra
        raise ImportError(f"a Dask pool needs Dask: {INSTALL_HINT}") from exc


def check_dask_pool(X: Any, name: str = "X_pool") -> Any:
    """Validate a Dask pool; return it chunked along the first axis only."""
    require_dask()
    if any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError(
            f"{name} is a Dask array with unknown chunk sizes (after a boolean filter, for "
            f"instance): call {name}.compute_chunk_sizes() first"
        )
    if X.ndim < 2:
        raise ValueError(
            f"{name} must have shape (n_samples, n_features) or (n_samples, *image_shape), "
            f"got {tuple(X.shape)}"
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: there is nothing to query")
    if 0 in X.shape[1:]:
        raise ValueError(f"{name} has 0 feature(s) (shape={tuple(X.shape)})")
    if not (np.issubdtype(X.dtype, np.number) or X.dtype.kind == "b") or X.dtype.kind == "c":
        raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
    if 0 in X.chunks[0]:
        # empty blocks (compute_chunk_sizes after a filter leaves them) hold no candidate
        X = X.rechunk({0: tuple(c for c in X.chunks[0] if c)})
    if any(len(c) > 1 for c in X.chunks[1:]):
        # a block must hold whole samples: the encoder and the model see complete images
        X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
    return X


def as_numpy(x: Any) -> Any:
    """A Dask array computed (labelled sets and group ids are small); others unchanged."""
    return x.compute() if is_dask_array(x) else x


def shared(obj: Any) -> Any:
    """``obj`` as an argument of many tasks, sent once per worker.

    With a ``dask.distributed`` client the object is scattered to every worker (the tasks
    receive the future); with the local schedulers the threads share it as it is.
    """
    import dask.base

    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        return obj
    if getattr(dask.base.get_scheduler(), "__self__", None) is not client:
        return obj  # another scheduler was chosen (dask.config): the client is not used
    return client.scatter(obj, broadcast=True, hash=False)


def block_starts(X: Any) -> NDArray[np.intp]:
    """Row of ``X`` at which each block (along axis 0) starts."""
    sizes = np.asarray(X.chunks[0], dtype=np.intp)
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)


def per_block(fn: Callable, X: Any, *args: Any, sliced: tuple = ()) -> list:
    """``fn(block, start, *sliced_parts, *args)`` for every block of ``X``, computed at once.

    ``sliced`` holds numpy arrays aligned with ``X``'s rows: each task receives only its
    block's rows of them. Returns the results in block order.
    """
    import dask

    blocks = X.to_delayed().reshape(-1)
    starts = block_starts(X)
    stops = starts + np.asarray(X.chunks[0])
    # pure=False: keys from a counter, so that a model among the arguments is never
    # pickled just to hash it
    task = dask.delayed(fn, pure=False)
    tasks = [
        task(block, int(a), *(s[a:b] for s in sliced), *args)
        for block, a, b in zip(blocks, starts, stops, strict=True)
    ]
    return list(dask.compute(*tasks))


def rows_of(X: Any, rows: NDArray[np.intp]) -> NDArray:
    """The rows of a Dask array at sorted positions, gathered to the client."""
    return np.asarray(X[np.asarray(rows, dtype=np.intp)].compute())


def map_codes(X: Any, encode: Callable[[Any], NDArray], probe: NDArray) -> Any:
    """Codes of every block of ``X`` as a lazy Dask array of shape (n_samples, n_latent).

    ``encode`` maps a block of samples to codes; ``probe`` (the codes of one sample,
    computed on the client) gives their width and dtype.
    """
    return X.map_blocks(
        _encode_block,
        shared(encode),
        name=f"bsqkit-codes-{uuid.uuid4().hex}",  # a name, not a hash of the encoder
        dtype=probe.dtype,
        chunks=(X.chunks[0], (probe.shape[1],)),
        drop_axis=list(range(2, X.ndim)),
    )


def _encode_block(block: NDArray, encode: Callable) -> NDArray:
    check_finite(block, "X_pool")
    with _MODEL_LOCK:
        return encode(block)


def top_rows(values: Any, k: int, *args: Any, sliced: tuple = ()) -> tuple[NDArray, NDArray]:
    """The ``k`` best rows of per-row values computed block by block, exactly as
    :func:`~bsqkit.functional.top_k` on all values would choose them.

    ``values`` is either a lazy Dask array of shape (n_rows,) or a pair
    ``(fn, X)`` with ``fn(block, start, *sliced_parts, *args)`` returning a block's values.
    Each block keeps its own ``k`` best; the client picks among them.
    """
    fn, X = values if isinstance(values, tuple) else (_identity, values)

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


def _identity(block: NDArray, start: int) -> NDArray:
    return block


def group_values(
    values: Any, groups: NDArray[np.intp], n_groups: int, how: str, *args: Any, sliced=()
) -> NDArray[np.float64]:
    """Per-group aggregates (as :func:`~bsqkit.functional.aggregate_by_group`) of per-row
    values computed block by block, shape (n_groups, n_columns): a block's values may have
    a second axis, aggregated column by column. ``values`` as in :func:`top_rows`."""
    fn, X = values if isinstance(values, tuple) else (_identity, values)

    def partial(block, start, g, *rest):
        v = np.asarray(fn(block, start, *rest), dtype=np.float64)
        v = v.reshape(len(v), -1)
        ids, inverse = np.unique(g, return_inverse=True)
        if how == "max":
            out = np.full((len(ids), v.shape[1]), -np.inf)
            np.maximum.at(out, inverse, v)
        else:
            out = np.stack(
                [np.bincount(inverse, weights=col, minlength=len(ids)) for col in v.T], axis=1
            )
        return ids, out, np.bincount(inverse, minlength=len(ids))

    parts = per_block(partial, X, *args, sliced=(groups, *sliced))
    width = parts[0][1].shape[1]
    counts = np.zeros(n_groups)
    total = np.full((n_groups, width), -np.inf if how == "max" else 0.0)
    for ids, out, c in parts:
        total[ids] = np.maximum(total[ids], out) if how == "max" else total[ids] + out
        counts[ids] += c
    if how == "mean":
        total /= counts[:, None]
    if np.isnan(total).any():
        raise ValueError("the strategy produced NaN values")
    return total


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


def moments_of(codes: Any, *more: NDArray) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean and standard deviation of a Dask array's rows (and of ``more`` rows held in
    memory), per block then combined (overflow-safe, as
    :func:`~bsqkit.functional.fit_diagonal_gaussian`)."""
    from bsqkit.functional.moments import code_moments, combined_moments, float_rows

    parts = per_block(_block_moments, codes)
    parts += [code_moments([float_rows(m)]) for m in more if len(m)]
    _, mu, sigma = combined_moments(parts)
    return mu, sigma


def block_uncertainty(
    block: NDArray, start: int, estimator: Any, n_mc: int, seed: int, n_total: int
) -> NDArray[np.float64]:
    """Uncertainty of a block of samples, the same wherever the block runs. An estimator
    whose ``predict_proba_mc`` takes ``position`` (bsqkit's segmenter) draws each row's
    masks as in the whole pool, so the values equal the in-memory ones; another gets
    masks seeded from ``seed`` and the block's first row."""
    import inspect

    from bsqkit.functional.uncertainty import estimate_uncertainty

    check_finite(block, "X_pool")
    sample = getattr(estimator, "predict_proba_mc", None)
    if sample is not None and "position" in inspect.signature(sample).parameters:
        where = {"random_state": seed, "position": (start, n_total)}
    else:
        block_seed = np.random.SeedSequence([seed, start]).generate_state(1)[0] % (2**31 - 1)
        where = {"random_state": int(block_seed)}
    with _MODEL_LOCK:
        return estimate_uncertainty(estimator, block, n_mc=n_mc, progress=False, **where)


def unit_count(X: Any, groups: NDArray | None) -> int:
    """Number of units of a Dask query: rows, or groups when ``groups`` is given."""
    return len(X) if groups is None else int(groups.max()) + 1


def uncertain_units(
    strategy: Any,
    estimator: Any,
    X: Any,
    groups: NDArray | None,
    n_select: int,
    rng: np.random.RandomState,
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """The ``n_select`` most uncertain rows or groups of a Dask pool (MC dropout per block,
    the estimator sent once per worker), most uncertain first."""
    if estimator is None:
        raise ValueError("an estimator is required to estimate uncertainty")
    seed = int(rng.randint(2**31 - 1))
    n_groups = unit_count(X, groups)
    return best_units(
        (block_uncertainty, X),
        groups,
        n_groups,
        strategy.group_aggregate,
        min(n_select, n_groups),
        shared(estimator),
        strategy.n_mc,
        seed,
        X.shape[0],
    )


def members_of(groups: NDArray[np.intp], chosen: NDArray[np.intp]) -> NDArray[np.intp]:
    """Rows of the chosen groups, in pool order."""
    wanted = np.zeros(int(groups.max()) + 1, dtype=bool)
    wanted[chosen] = True
    return np.flatnonzero(wanted[groups])


def _pool_term(block, start, mu_pool, sigma_pool):
    from bsqkit.functional.greedy_bsq import standardised_pass

    return standardised_pass(block, None, mu_pool, sigma_pool, None, None)


def _reference_scores(block, start, mu_pool, sigma_pool, mean_ref, sigma_ref, bound=None):
    from bsqkit.functional.greedy_bsq import standardised_pass

    pool = standardised_pass(block, None, mu_pool, sigma_pool, None, None)
    annotated = standardised_pass(block, None, mu_pool, sigma_pool, mean_ref, sigma_ref, bound)
    return pool - annotated


def _upper_bounds(block, start, mu_pool, sigma_pool, mean_ref, sigma_ref, means, sigmas):
    """Per row and pick, an upper bound of the row's score under that pick's annotated
    Gaussian (``means[j], sigmas[j]``; shape (n_rows, n_picks)), from its exact score
    under the reference one (the in-memory greedy's bound)."""
    from bsqkit.functional.greedy_bsq import ChangeBound

    bound = ChangeBound(*block.shape)
    bound.begin(mean_ref, sigma_ref, None)
    reference = _reference_scores(block, start, mu_pool, sigma_pool, mean_ref, sigma_ref, bound)
    bound.end()
    pairs = zip(means, sigmas, strict=True)
    growth = [bound.growth(m, s, reference) for m, s in pairs]
    return reference[:, None] + np.stack(growth, axis=1)


def _best_bound_outside(block, start, taken, *coefficients):
    """Per pick, the largest bound over the block's rows not in ``taken``."""
    upper = _upper_bounds(block, start, *coefficients)
    upper[np.isin(start + np.arange(len(block)), taken)] = -np.inf
    return upper.max(axis=0)


def _block_moments(block, start):
    from bsqkit.functional.moments import code_moments, float_rows

    return code_moments([float_rows(block)])


def _scores_outside(block, start, taken, mu_pool, sigma_pool, mean_a, sigma_a):
    """Exact scores of a block's rows under an annotated Gaussian, -inf for rows taken."""
    scores = _reference_scores(block, start, mu_pool, sigma_pool, mean_a, sigma_a)
    scores[np.isin(start + np.arange(len(block)), taken)] = -np.inf
    return scores


def greedy_bsq_blocks(
    codes: Any,
    codes_labeled: NDArray | None,
    mu_pool: NDArray,
    sigma_pool: NDArray,
    k: int,
    relative_floor: float,
    groups: NDArray[np.intp] | None,
    n_units: int,
    how: str,
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Greedy BSQ (:func:`~bsqkit.functional.greedy_bsq_selection`) on the codes of a Dask
    pool, with the same picks.

    In rounds: the best units under the current annotated Gaussian are gathered (a
    shortlist of at most ``max(64 k, 4096)`` rows, whole groups in a group query, at least
    the picks left), the greedy runs on them on the client, and one
    pass over the pool checks that no other unit could have won a pick: its score under
    the round's Gaussian bounds its score under every later one (the bound of the
    in-memory pruning). The picks up to the first that fails the check are kept, and
    the next round starts from there. A round costs two passes; once a round keeps
    fewer than two picks, each remaining pick is one exact pass. The check holds for
    many picks when the batch moves the annotated Gaussian little (an annotated set of
    some size); with a handful of annotated codes every pick is a pass.
    """
    from bsqkit.functional.greedy_bsq import _greedy_bsq, _merged_moments
    from bsqkit.functional.moments import code_moments

    d = codes.shape[1]
    annotated = np.empty((0, d)) if codes_labeled is None else np.asarray(codes_labeled, float)
    with np.errstate(over="ignore", invalid="ignore"):
        u_annotated = (annotated - mu_pool) / sigma_pool
    if not np.isfinite(u_annotated).all():
        raise ValueError("codes overflow float64 once centred on the pool mean; rescale them")

    def members(units):
        return np.asarray(units, np.intp) if groups is None else members_of(groups, units)

    n_rows = codes.shape[0]
    sizes = np.ones(n_units, np.intp) if groups is None else np.bincount(groups, minlength=n_units)

    picks: list[int] = []
    scores: list[float] = []
    if len(annotated) == 0:
        # the first pick sees the pool Gaussian alone, as in memory
        unit, score = best_units((_pool_term, codes), groups, n_units, how, 1, mu_pool, sigma_pool)
        picks, scores = [int(unit[0])], [float(score[0])]
        annotated = rows_of(codes, members(unit)).astype(np.float64)
        u_annotated = (annotated - mu_pool) / sigma_pool
    # annotated count, mean and M2 in standardised coordinates, as the in-memory greedy
    n_a, mean_a, sigma_a = code_moments([u_annotated])
    m2_a = n_a * np.square(sigma_a)
    exact_passes = False
    while len(picks) < k:
        now = (mu_pool, sigma_pool, mean_a, np.maximum(np.sqrt(m2_a / n_a), relative_floor))
        taken = np.asarray(picks, dtype=np.intp)
        if exact_passes:
            # one exact pass for this pick
            unit, score = (
                best_units((_scores_outside, codes), groups, n_units, how, 1, taken, *now)
                if groups is None
                else _best_group(codes, groups, n_units, how, taken, now)
            )
            picks.append(int(unit[0]))
            scores.append(float(score[0]))
            n_a, mean_a, m2_a = _merged_moments(
                n_a, mean_a, m2_a, rows_of(codes, members(unit)), mu_pool, sigma_pool
            )
            continue
        # a round: the shortlist under the current Gaussian, the greedy on it, the check
        k_left = k - len(picks)
        budget = max(SHORTLIST_PER_PICK * k_left, SHORTLIST_MIN)  # rows gathered at most
        open_rows = n_rows - sizes[taken].sum()
        if open_rows <= budget:
            shortlist = np.setdiff1d(np.arange(n_units), taken)
        else:
            best, _ = best_units(
                (_reference_scores, codes), groups, n_units, how,
                min(budget + len(taken), n_units), *now,
            )  # fmt: skip
            best = best[~np.isin(best, taken)]  # best first: cut by score, not position
            fits = max(int(np.searchsorted(np.cumsum(sizes[best]), budget, "right")), k_left)
            shortlist = np.sort(best[:fits])
        rows = members(shortlist)
        row_groups = None if groups is None else np.searchsorted(shortlist, groups[rows])
        short_codes = rows_of(codes, rows)
        trace: list = []
        short_picks, short_scores = _greedy_bsq(
            short_codes, annotated, mu_pool, sigma_pool, k_left, relative_floor, row_groups,
            how, trace, (n_a, mean_a, m2_a),
        )  # fmt: skip
        n_verified = k_left
        if len(shortlist) + len(taken) < n_units:  # units left out: check them
            coefficients = (*now, [m for m, _ in trace], [s for _, s in trace])
            outside = np.union1d(shortlist, taken)
            if groups is None:
                upper = np.max(per_block(_best_bound_outside, codes, outside, *coefficients), 0)
            else:
                bound = (_upper_bounds, codes)
                per_group = group_values(bound, groups, n_units, how, *coefficients)
                per_group[outside] = -np.inf
                upper = per_group.max(axis=0)
            failed = np.flatnonzero(~(upper < short_scores))
            n_verified = int(failed[0]) if len(failed) else k_left
        for unit, score in zip(short_picks[:n_verified], short_scores[:n_verified], strict=True):
            picks.append(int(shortlist[unit]))
            scores.append(float(score))
            in_unit = [unit] if groups is None else row_groups == unit
            n_a, mean_a, m2_a = _merged_moments(
                n_a, mean_a, m2_a, short_codes[in_unit], mu_pool, sigma_pool
            )
        # a round costs two passes: below two picks a round, a pass per pick is cheaper
        exact_passes = n_verified < 2
    return np.asarray(picks, dtype=np.intp), np.asarray(scores)


def _best_group(codes, groups, n_units, how, taken, gaussian):
    """The best group not taken under an annotated Gaussian (one exact pass)."""
    per_group = group_values((_reference_scores, codes), groups, n_units, how, *gaussian)[:, 0]
    per_group[taken] = -np.inf
    unit = top_k(per_group, 1)
    return unit, per_group[unit]


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
    from bsqkit.functional.selection import (
        _float64_rows,
        _nearest_center_distances,
        _sq_norms,
    )

    if centers is None:
        return np.full(len(block), np.inf)
    rows = _float64_rows(block, "cpu")
    return _nearest_center_distances(rows, _sq_norms(rows), _float64_rows(centers, "cpu")).numpy()


def _nearer(block, distances, center, picked, block_info=None):
    """Distances to the nearest center once ``center`` (row ``picked``) joins them."""
    from bsqkit.functional.selection import _float64_rows, _nearer_distances, _sq_norms

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
    from bsqkit.functional.selection import _unit_rows

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
