"""Input checks shared by the strategies and the learner: clear errors, never a silent NaN."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
from sklearn.utils import check_random_state


def as_indexable(X: Any, name: str) -> Any:
    """Return ``X`` unchanged if it indexes by integer arrays, else as an ndarray.

    pandas objects become ndarrays: their ``[]`` selects columns, not rows.
    """
    if isinstance(X, (np.ndarray, torch.Tensor)):
        return X
    if hasattr(X, "iloc") and hasattr(X, "to_numpy"):
        return X.to_numpy()
    if hasattr(X, "shape") and hasattr(X, "__getitem__") and hasattr(X, "__len__"):
        return X  # lazily indexing array-likes (memmaps, h5py datasets...)
    try:
        return np.asarray(X)
    except Exception as exc:  # pragma: no cover - message only
        raise TypeError(f"{name} must be array-like, got {type(X).__name__}") from exc


def check_finite(X: Any, name: str) -> None:
    """Raise ``ValueError`` if a numeric array or tensor holds NaN or inf."""
    if isinstance(X, torch.Tensor):
        if X.is_floating_point() and not bool(torch.isfinite(X).all()):
            raise ValueError(f"{name} contains NaN or inf")
    elif isinstance(X, np.ndarray) and np.issubdtype(X.dtype, np.inexact):
        flat = X.reshape(-1)
        # in chunks: no boolean array the size of the pool
        for start in range(0, flat.size, 2**22):
            if not np.isfinite(flat[start : start + 2**22]).all():
                raise ValueError(f"{name} contains NaN or inf")


def check_samples(X: Any, name: str, *, allow_empty: bool = False) -> Any:
    """Validate an array of samples: dense, numeric, real, at least 2-D, finite.

    Returns ``X`` as an indexable array (numpy arrays, tensors and lazily indexing
    array-likes are kept as they are; pandas objects become numpy arrays).
    """
    if X is None:
        raise ValueError(f"{name} is required: an array-like of shape (n_samples, ...)")
    if hasattr(X, "toarray") or hasattr(X, "tocsr"):
        raise TypeError(
            f"{name} is a sparse matrix; bsqkit's strategies take dense arrays "
            "(call .toarray() if it fits in memory)"
        )
    X = as_indexable(X, name)
    dtype = getattr(X, "dtype", None)
    if isinstance(dtype, np.dtype):
        if dtype.kind == "O":
            try:
                X = np.asarray(X, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"{name} has dtype object with values that are not numbers: {exc}"
                ) from exc
        elif np.issubdtype(dtype, np.complexfloating):
            raise ValueError(f"{name} is complex: Complex data not supported")
        elif not (np.issubdtype(dtype, np.number) or dtype.kind == "b"):
            raise TypeError(f"{name} must hold numbers, got dtype {dtype}")
    if len(X.shape) < 2:
        raise ValueError(
            f"{name} must have shape (n_samples, n_features) or (n_samples, *image_shape), "
            f"got {tuple(X.shape)}. Reshape your data: X.reshape(-1, 1) if it has a single "
            "feature, X.reshape(1, -1) if it is a single sample"
        )
    if len(X) == 0 and not allow_empty:
        raise ValueError(f"{name} is empty: 0 samples")
    if 0 in tuple(X.shape[1:]):
        raise ValueError(
            f"{name} has 0 feature(s) (shape={tuple(X.shape)}) while a minimum of 1 is required."
        )
    check_finite(X, name)
    return X


def check_pool(X_pool: Any, X_labeled: Any = None) -> tuple[Any, Any]:
    """Validate the candidate pool and the labeled set of one query.

    Returns both as indexable arrays (``X_labeled`` may be None; an empty one becomes
    None).
    """
    X_pool = check_samples(X_pool, "X_pool", allow_empty=True)
    if len(X_pool) == 0:
        raise ValueError("X_pool is empty: there is nothing to query")
    if X_labeled is not None:
        X_labeled = check_samples(X_labeled, "X_labeled", allow_empty=True)
        if len(X_labeled) == 0:
            X_labeled = None
    if X_labeled is not None and tuple(X_labeled.shape[1:]) != tuple(X_pool.shape[1:]):
        raise ValueError(
            f"X_pool's sample shape {tuple(X_pool.shape[1:])} differs from the labeled "
            f"set's {tuple(X_labeled.shape[1:])}"
        )
    return X_pool, X_labeled


def fresh_or_seeded(random_state: Any) -> np.random.RandomState:
    """sklearn's ``check_random_state``, except that None gives a fresh generator seeded
    from the OS, not numpy's global one (library code never draws from it)."""
    if random_state is None:
        return np.random.RandomState()
    return check_random_state(random_state)


def check_n_instances(
    n_instances: Any, n_candidates: int, name: str = "n_instances", what: str = "candidates"
) -> int:
    """Validate a batch size against the number of candidates (or groups)."""
    if isinstance(n_instances, (bool, np.bool_)) or not isinstance(n_instances, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {n_instances!r}")
    n_instances = int(n_instances)
    if n_instances < 1:
        raise ValueError(f"{name} must be >= 1, got {n_instances}")
    if n_instances > n_candidates:
        raise ValueError(
            f"{name}={n_instances} is larger than the number of {what} ({n_candidates})"
        )
    return n_instances


def concat(first: Any, second: Any) -> Any:
    """Concatenate two sample arrays along axis 0 (numpy or torch); either may be None."""
    if first is None:
        return second
    if second is None:
        return first
    if isinstance(first, torch.Tensor) or isinstance(second, torch.Tensor):
        return torch.cat([torch.as_tensor(first), torch.as_tensor(second)])
    return np.concatenate([np.asarray(first), np.asarray(second)])


def take(X: Any, indices: np.ndarray) -> Any:
    """Rows of ``X`` at ``indices`` for numpy arrays, tensors, pandas objects (by
    position) and indexable array-likes."""
    if hasattr(X, "iloc"):
        return X.iloc[np.asarray(indices)]
    if isinstance(X, torch.Tensor):
        return X[torch.as_tensor(indices, dtype=torch.long, device=X.device)]
    if isinstance(X, np.ndarray):
        return X[indices]
    # h5py-style datasets need sorted indices; restore the order afterwards
    order = np.argsort(indices)
    rows = np.asarray(X[np.asarray(indices)[order]])
    return rows[np.argsort(order)]
