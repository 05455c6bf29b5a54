"""Core-set selection by k-center greedy (Sener & Savarese 2018), a common peer baseline."""

from __future__ import annotations

from typing import Any

from bsqkit.base import QueryStrategy
from bsqkit.functional import k_center_greedy
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
    random_state : int, RandomState instance or None, default=None
        Draws the first center when nothing is annotated yet.

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

    def __init__(self, encoder: Any = None, n_instances: int = 1, random_state: Any = None):
        super().__init__(n_instances=n_instances, random_state=random_state)
        self.encoder = encoder

    def _select(self, X_pool, *, X_labeled, estimator, n_instances, rng):
        codes, codes_labeled = self._encode_pool(X_pool, X_labeled)
        return k_center_greedy(codes, codes_labeled, n_instances, random_state=rng)
