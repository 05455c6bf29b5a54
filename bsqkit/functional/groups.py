"""Groups of samples (volumes, patients): encode ids, aggregate per-sample values, expand."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse

from bsqkit._dask import block_values, per_block

__all__ = ["GROUP_AGGREGATES", "aggregate_by_group", "encode_groups", "group_means"]

GROUP_AGGREGATES = ("mean", "max", "sum")


def encode_groups(groups: ArrayLike, n_samples: int | None = None) -> tuple[NDArray, NDArray]:
    """Group ids as integer codes.

    Parameters
    ----------
    groups : array-like of shape (n_samples,)
        Any hashable ids (int, str, ...), one per sample.
    n_samples : int, optional
        The expected length (the pool's), checked when given.

    Returns
    -------
    codes : ndarray of int of shape (n_samples,)
        ``codes[i]`` is the position of sample ``i``'s id in ``ids``.
    ids : ndarray of shape (n_groups,)
        The distinct ids, in order of first appearance.

    Examples
    --------
    >>> from bsqkit.functional import encode_groups
    >>> codes, ids = encode_groups(["p7", "p7", "p2", "p7"])
    >>> codes, ids
    (array([0, 0, 1, 0]), array(['p7', 'p2'], dtype='<U2'))
    """
    if isinstance(groups, np.ndarray) or hasattr(groups, "to_numpy"):
        values = np.asarray(groups)
    else:
        # a list of ids: tuples must stay ids and 1 must not merge with "1", which
        # np.asarray would do; numbers or strings alone still take the fast path
        items = list(groups)
        kinds = {type(v) for v in items}
        if kinds and (kinds <= {int, bool, np.int64} or kinds == {str}):
            values = np.asarray(items)
        else:
            values = np.empty(len(items), dtype=object)
            values[:] = items
    if values.ndim != 1:
        raise ValueError(f"groups must have shape (n_samples,), got {values.shape}")
    if n_samples is not None and len(values) != n_samples:
        raise ValueError(
            f"groups has {len(values)} entries but X_pool has {n_samples} samples; "
            "give one group id per sample"
        )
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ValueError("groups contains NaN or inf; give every sample a group id")
    if values.dtype == object:
        # mixed or unorderable ids: map by hashing, in order of first appearance
        lookup: dict = {}
        try:
            codes = np.fromiter(
                (lookup.setdefault(v, len(lookup)) for v in values), np.intp, len(values)
            )
        except TypeError as exc:
            raise TypeError(f"group ids must be hashable: {exc}") from exc
        ids = np.empty(len(lookup), dtype=object)
        ids[:] = list(lookup)
        return codes, ids
    ids, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    # renumber by first appearance, so that ids read in the order the pool lists them
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inverse.reshape(-1)].astype(np.intp), ids[order]


def aggregate_by_group(
    values: ArrayLike, codes: ArrayLike, n_groups: int, how: str = "mean"
) -> NDArray[np.float64]:
    """One value per group from per-sample values.

    Parameters
    ----------
    values : array-like of shape (n_samples,)
        One number per sample (e.g. a slice's score).
    codes : array-like of int of shape (n_samples,)
        Group of each sample, in ``[0, n_groups)`` (:func:`encode_groups`).
    n_groups : int
        Number of groups: the length of the result.
    how : {"mean", "max", "sum"}, default="mean"
        ``"mean"`` is the paper's volume score (the mean of its slices' scores).

    Returns
    -------
    ndarray of shape (n_groups,)
        ``nan`` for a group without samples.

    Examples
    --------
    >>> from bsqkit.functional import aggregate_by_group
    >>> aggregate_by_group([1.0, 3.0, 10.0], [0, 0, 1], 2, how="mean")
    array([ 2., 10.])
    >>> aggregate_by_group([1.0, 3.0, 10.0], [0, 0, 1], 2, how="max")
    array([ 3., 10.])
    """
    values = np.asarray(values, dtype=np.float64)
    codes = np.asarray(codes)
    if how not in GROUP_AGGREGATES:
        raise ValueError(f"group_aggregate must be one of {GROUP_AGGREGATES}, got {how!r}")
    if how == "max":
        out = np.full(n_groups, -np.inf)
        np.maximum.at(out, codes, values)
        out[np.bincount(codes, minlength=n_groups) == 0] = np.nan
        return out
    total = np.bincount(codes, weights=values, minlength=n_groups)
    if how == "sum":
        return total
    counts = np.bincount(codes, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / counts


def group_means(codes: ArrayLike, groups: ArrayLike, n_groups: int) -> NDArray[np.float64]:
    """Mean feature vector of each group, without copying or sorting the samples.

    Parameters
    ----------
    codes : array-like of shape (n_samples, n_features)
        One feature vector per sample (e.g. a slice's latent code).
    groups : array-like of int of shape (n_samples,)
        Group of each sample, in ``[0, n_groups)``; every group has at least one sample.
    n_groups : int
        Number of groups: the number of rows of the result.

    Returns
    -------
    ndarray of shape (n_groups, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.functional import group_means
    >>> group_means(np.array([[0.0, 2.0], [2.0, 2.0], [5.0, 5.0]]), [0, 0, 1], 2)
    array([[1., 2.],
           [5., 5.]])
    """
    codes = np.asarray(codes, dtype=np.float64)
    groups = np.asarray(groups)
    if n_groups == len(groups) and np.array_equal(groups, np.arange(n_groups)):
        return codes  # each sample its own group
    counts = np.bincount(groups, minlength=n_groups)
    if (counts == 0).any():
        raise ValueError("every group needs at least one sample")
    # a (n_groups, n_samples) indicator matrix with 1 / size entries: one sparse product
    weights = 1.0 / counts[groups]
    indicator = sparse.csr_matrix(
        (weights, (groups, np.arange(len(groups)))), shape=(n_groups, len(groups))
    )
    return np.asarray(indicator @ codes)


# -- on Dask pools: block by block, the same kernels ------------------------------


def group_values(
    values: Any, groups: NDArray[np.intp], n_groups: int, how: str, *args: Any, sliced=()
) -> NDArray[np.float64]:
    """Per-group aggregates (as :func:`~bsqkit.functional.aggregate_by_group`) of per-row
    values computed block by block, shape (n_groups, n_columns): a block's values may have
    a second axis, aggregated column by column. ``values`` as in
    :func:`~bsqkit.functional.selection.top_rows`."""
    fn, X = values if isinstance(values, tuple) else (block_values, values)

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
