"""Random sampling, the baseline every strategy must beat."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from bsqkit.base import QueryStrategy
from bsqkit.functional import top_k

__all__ = ["RandomQuery"]


class RandomQuery(QueryStrategy):
    """Query samples uniformly at random, without replacement (the paper's Random).

    The score of a sample is a uniform draw; the batch is the ``n_instances`` largest
    draws, so scores and selection agree like for every other strategy. In a group
    query, groups are drawn uniformly (whatever their sizes).

    Parameters
    ----------
    n_instances : int, default=1
        Batch size when a query does not give one (a number of groups in a group
        query).
    random_state : int, RandomState instance or None, default=None
        Seeds every random choice of the strategy (and its MC-dropout masks): an int
        repeats the same queries; None draws fresh randomness every time.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit import RandomQuery
    >>> idx, scores = RandomQuery(n_instances=3, random_state=0).query(np.zeros((10, 2)))
    >>> len(set(idx.tolist()))
    3
    """

    _supports_groups = True

    def describe_picks(self) -> dict[str, str]:
        """What :attr:`pick_details_` holds (see :meth:`QueryStrategy.describe_picks`)."""
        return {"score": "a uniform random number: the picks are a random sample"}

    def _select(self, X_pool, *, X_labeled, estimator, n_instances, rng, groups, labeled_groups):
        return _random_top(rng, int(groups.max()) + 1, n_instances)

    def _select_dask(self, X_pool, *, groups, n_instances, rng, **kwargs):
        # no data read: only the number of units matters
        from bsqkit._dask import unit_count

        return _random_top(rng, unit_count(X_pool, groups), n_instances)


def _random_top(
    rng: np.random.RandomState, n_units: int, k: int, chunk: int = 2**20
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """The ``k`` largest of ``n_units`` uniform draws, drawn a chunk at a time (the same
    draws as one ``rng.random_sample(n_units)``; memory ``chunk + k``)."""
    best = np.empty(0, dtype=np.intp)
    best_draws = np.empty(0)
    for start in range(0, n_units, chunk):
        draws = rng.random_sample(min(chunk, n_units - start))
        keep = top_k(draws, min(k, len(draws)))
        # earlier units first, so that ties go to the lower unit as in top_k
        best = np.concatenate([best, start + keep])
        best_draws = np.concatenate([best_draws, draws[keep]])
        order = np.argsort(best, kind="stable")
        best, best_draws = best[order], best_draws[order]
        pick = top_k(best_draws, min(k, len(best_draws)))
        best, best_draws = best[pick], best_draws[pick]
    return best, best_draws
