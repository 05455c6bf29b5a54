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

INSTALL_HINT = 'pip install "bsqkit[dask]"'
# Calls into a model (MC dropout, an encoder) are serialised within a process: a torch
# module switches its dropout layers' modes and seeds the RNG around a call, which two
# threads of one worker must not interleave. Scoring (numpy) runs unlocked.
MODEL_LOCK = threading.RLock()


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
    """A Dask array computed (labeled sets and group ids are small); others unchanged."""
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


def on_model(block: NDArray, call: Callable[[NDArray], Any]) -> Any:
    """``call(block)`` for a model on a pool block: the block checked for NaN and inf
    (as the in-memory pool is), and the model held under :data:`MODEL_LOCK`."""
    check_finite(block, "X_pool")
    with MODEL_LOCK:
        return call(block)


def _encode_block(block: NDArray, encode: Callable) -> NDArray:
    return on_model(block, encode)


def block_values(block: NDArray, start: int) -> NDArray:
    """A block's own values: the ``fn`` of :func:`per_block` when the pool holds scores."""
    return block


def unit_count(X: Any, groups: NDArray | None) -> int:
    """Number of units of a Dask query: rows, or groups when ``groups`` is given."""
    return len(X) if groups is None else int(groups.max()) + 1


def members_of(groups: NDArray[np.intp], chosen: NDArray[np.intp]) -> NDArray[np.intp]:
    """Rows of the chosen groups, in pool order."""
    wanted = np.zeros(int(groups.max()) + 1, dtype=bool)
    wanted[chosen] = True
    return np.flatnonzero(wanted[groups])
