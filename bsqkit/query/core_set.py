"""Core-set selection by k-center greedy (Sener & Savarese 2018), a common peer baseline."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import HasMethods

from bsqkit.base import QueryStrategy, torch_device_of
from bsqkit.functional import group_means, k_center_greedy
from bsqkit.functional.groups import group_values
from bsqkit.functional.selection import k_center_blocks
from bsqkit.query._encoder import EncoderMixin

__all__ = ["CoreSetQuery"]


class CoreSetQuery(EncoderMixin, QueryStrategy):
    """Query the candidates farthest from the annotated set, one at a time (k-center greedy).

    Parameters
    ----------
    encoder : transformer or None, default=None
        Same interface as :class:`BayesianSampleQuery`'s: fitted or fittable, fitted once
        on all pool images; ``None`` uses the flattened images.
    n_instances : int, default=1
        Batch size when a query does not give one (a number of groups in a group
        query).
    random_state : int, RandomState instance or None, default=None
        Draws the first center when nothing is annotated yet.

    Notes
    -----
    In a group query every group is represented by the mean code of its candidates,
    and k-center greedy runs on these means. The annotated centers are the mean codes
    of the annotated groups when ``labeled_groups`` is given (a partly annotated group
    then has a center at its annotated members' mean and a candidate at the others'),
    else every annotated sample is a center of its own.

    Attributes
    ----------
    encoder_ : transformer or None

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from bsqkit import CoreSetQuery
    >>> X, _ = load_digits(return_X_y=True)
    >>> idx, dist = CoreSetQuery(n_instances=4).query(X[10:], X_labeled=X[:10])
    >>> bool((dist[:-1] >= dist[1:]).all())
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        **QueryStrategy._parameter_constraints,
        "encoder": [HasMethods(["transform"]), None],
    }
    _supports_groups = True

    def __init__(self, encoder: Any = None, n_instances: int = 1, random_state: Any = None):
        super().__init__(n_instances=n_instances, random_state=random_state)
        self.encoder = encoder

    def describe_picks(self) -> dict[str, str]:
        """What :attr:`pick_details_` holds (see :meth:`QueryStrategy.describe_picks`)."""
        return {
            "score": "distance in the encoder's code space to the nearest annotated or "
            "already picked image when it was picked (k-center greedy; inf for the first "
            "pick when nothing is annotated)"
        }

    def _select(self, X_pool, *, X_labeled, estimator, n_instances, rng, groups, labeled_groups):
        self._fitted_encoder(X_pool, X_labeled)  # fitted on all pool images, once
        codes = self._encode(X_pool)
        codes_labeled = self._labeled_centers(X_labeled, labeled_groups)
        centers = group_means(codes, groups, int(groups.max()) + 1)
        return k_center_greedy(
            centers,
            codes_labeled,
            n_instances,
            random_state=rng,
            device=torch_device_of(self.encoder_),
        )

    def _select_dask(self, X_pool, *, X_labeled, n_instances, rng, groups, labeled_groups, **kw):

        codes = self._dask_codes(X_pool)
        codes_labeled = self._labeled_centers(X_labeled, labeled_groups)
        if groups is None:
            return k_center_blocks(codes, codes_labeled, n_instances, rng)
        centers = group_values(codes, groups, int(groups.max()) + 1, "mean")
        return k_center_greedy(centers, codes_labeled, n_instances, random_state=rng)

    def _labeled_centers(self, X_labeled, labeled_groups):
        """The annotated centers: every annotated sample, or each annotated group's mean."""
        if X_labeled is None:
            return None
        codes_labeled = self._encode(X_labeled)
        if labeled_groups is not None:
            present, numbers = np.unique(labeled_groups, return_inverse=True)
            codes_labeled = group_means(codes_labeled, numbers.reshape(-1), len(present))
        return codes_labeled
