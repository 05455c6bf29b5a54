"""The query contract shared by every bsqkit strategy.

A strategy is a scikit-learn estimator: ``__init__`` stores its arguments, learned state
ends in ``_``. :meth:`QueryStrategy.query` returns ``(indices into X_pool, scores)``;
calling the strategy as ``strategy(learner, X_pool, n_instances=k)`` is modAL's
convention and returns the same tuple (never a bare index array: modAL's learner
re-calls a strategy whose result does not unpack into two).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from bsqkit._validation import check_n_instances, check_pool

__all__ = ["QueryStrategy", "SupportsImageDescriptors", "SupportsMCDropout"]


@runtime_checkable
class SupportsMCDropout(Protocol):
    """An estimator that can draw Monte-Carlo dropout predictions.

    ``predict_proba_mc`` must stream: it yields one array (or tensor, on any device) per
    batch of ``X``, in order, of shape ``(n_mc, n_batch, n_classes, *spatial)``, so that
    memory depends on the batch size and never on ``len(X)``. Only the dropout layers are
    stochastic (batch normalisation stays in inference mode); ``random_state`` (an int)
    makes the draws reproducible.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from bsqkit import SupportsMCDropout
    >>> from bsqkit.nets import NeuralNetSegmenter
    >>> isinstance(NeuralNetSegmenter(), SupportsMCDropout)
    True
    >>> isinstance(LogisticRegression(), SupportsMCDropout)  # predict_proba only
    False
    """

    def predict_proba_mc(
        self, X: Any, *, n_mc: int, random_state: int | None = None
    ) -> Iterable[Any]: ...


@runtime_checkable
class SupportsImageDescriptors(Protocol):
    """An estimator that describes each image by a vector (Suggestive Annotation).

    ``image_descriptors(X)`` returns an array of shape ``(n_samples, n_features)``, e.g. the
    global average pool of a segmenter's coarsest ("abstraction") layer.

    Examples
    --------
    >>> from bsqkit import SupportsImageDescriptors
    >>> from bsqkit.nets import NeuralNetSegmenter
    >>> isinstance(NeuralNetSegmenter(), SupportsImageDescriptors)
    True
    """

    def image_descriptors(self, X: Any) -> NDArray: ...


class QueryStrategy(BaseEstimator):
    """Base class of the query strategies.

    Subclasses implement ``_select(X_pool, X_labeled, estimator, n_instances, rng)``.

    Parameters
    ----------
    n_instances : int, default=1
        Batch size used when a query does not give one.
    random_state : int, RandomState instance or None, default=None
        Seeds every random choice of the strategy. An int makes a fresh strategy (or a
        ``clone``) repeat the same sequence of queries.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit import QueryStrategy
    >>> from bsqkit.functional import top_k
    >>> class BrightestQuery(QueryStrategy):
    ...     # annotate the brightest images first (a toy strategy)
    ...     def _select(self, X_pool, *, X_labeled, estimator, n_instances, rng):
    ...         brightness = X_pool.reshape(len(X_pool), -1).mean(axis=1)
    ...         idx = top_k(brightness, n_instances)
    ...         return idx, brightness[idx]
    ...
    >>> X_pool = np.stack([np.full((4, 4), v) for v in (0.1, 0.9, 0.5)])
    >>> BrightestQuery(n_instances=2).query(X_pool)
    (array([1, 2]), array([0.9, 0.5]))
    """

    def __init__(self, n_instances: int = 1, random_state: Any = None):
        self.n_instances = n_instances
        self.random_state = random_state

    def fit(self, X: Any = None, y: Any = None) -> QueryStrategy:
        """Learn what the strategy needs from the unlabelled pool (no-op by default).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...), optional
            All pool images, annotated and not.
        y : ignored

        Returns
        -------
        self
        """
        return self

    def query(
        self,
        X_pool: Any,
        *,
        estimator: Any = None,
        X_labeled: Any = None,
        n_instances: int | None = None,
    ) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """Choose which samples of ``X_pool`` to annotate next.

        Parameters
        ----------
        X_pool : array-like of shape (n_candidates, ...)
            The not yet annotated samples to choose from (numpy array, torch tensor or a
            lazily indexing array-like).
        estimator : estimator, optional
            The current model (needed by uncertainty-based strategies).
        X_labeled : array-like of shape (n_labeled, ...), optional
            The annotated samples; same sample shape as ``X_pool``.
        n_instances : int, optional
            Batch size; defaults to ``self.n_instances``.

        Returns
        -------
        indices : ndarray of shape (n_instances,)
            Positions in ``X_pool``, unique, in the order the strategy chose them.
        scores : ndarray of shape (n_instances,)
            The utility of each chosen sample as the selection saw it (higher = more
            wanted).
        """
        X_pool, X_labeled = check_pool(X_pool, X_labeled)
        n = check_n_instances(
            self.n_instances if n_instances is None else n_instances, len(X_pool)
        )
        if not hasattr(self, "random_state_"):
            self.random_state_ = check_random_state(self.random_state)
        indices, scores = self._select(
            X_pool,
            X_labeled=X_labeled,
            estimator=estimator,
            n_instances=n,
            rng=self.random_state_,
        )
        scores = np.asarray(scores, dtype=np.float64)
        if np.isnan(scores).any():
            # never hand back a NaN ranking (+inf is legitimate: k-center's first
            # center when nothing is annotated has no distance to compare)
            raise ValueError(f"{type(self).__name__} produced NaN scores")
        return np.asarray(indices, dtype=np.intp), scores

    def __call__(
        self, learner: Any, X_pool: Any, n_instances: int | None = None, **kwargs: Any
    ) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """modAL's strategy signature: ``strategy(learner, X_pool, n_instances=k)``.

        Reads ``learner.estimator`` and ``learner.X_training`` (bsqkit's or modAL's
        ``ActiveLearner``) and returns ``(indices, scores)`` like :meth:`query`.
        """
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}")
        return self.query(
            X_pool,
            estimator=getattr(learner, "estimator", None),
            X_labeled=getattr(learner, "X_training", None),
            n_instances=n_instances,
        )

    def _select(
        self,
        X_pool: Any,
        *,
        X_labeled: Any,
        estimator: Any,
        n_instances: int,
        rng: np.random.RandomState,
    ) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        raise NotImplementedError
