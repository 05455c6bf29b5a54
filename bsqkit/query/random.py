"""Random sampling, the baseline every strategy must beat."""

from __future__ import annotations

from bsqkit.base import QueryStrategy
from bsqkit.functional import top_k

__all__ = ["RandomQuery"]


class RandomQuery(QueryStrategy):
    """Query samples uniformly at random, without replacement (paper's FCN_Random).

    The score of a sample is a uniform draw; the batch is the ``n_instances`` largest
    draws, so scores and selection agree like for every other strategy. In a group
    query, groups are drawn uniformly (whatever their sizes).

    Parameters
    ----------
    n_instances : int, default=1
    random_state : int, RandomState instance or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit import RandomQuery
    >>> idx, scores = RandomQuery(n_instances=3, random_state=0).query(np.zeros((10, 2)))
    >>> len(set(idx.tolist()))
    3
    """

    _supports_groups = True

    def _select(self, X_pool, *, X_labeled, estimator, n_instances, rng, groups, labeled_groups):
        draws = rng.random_sample(int(groups.max()) + 1)
        indices = top_k(draws, n_instances)
        return indices, draws[indices]
