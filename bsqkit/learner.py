"""A modAL-style active learner: an estimator, a query strategy and the labeled set."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from bsqkit._validation import as_indexable, check_finite, concat, take
from bsqkit.query import UncertaintyQuery

__all__ = ["ActiveLearner"]


def _check_xy(X: Any, y: Any, name_x: str = "X", name_y: str = "y") -> tuple[Any, Any]:
    X = as_indexable(X, name_x)
    y = as_indexable(y, name_y)
    if len(X) != len(y):
        raise ValueError(
            f"{name_y} has {len(y)} entries but {name_x} has {len(X)} samples; "
            "they must match along axis 0"
        )
    if len(X) == 0:
        raise ValueError(f"{name_x} is empty")
    check_finite(X, name_x)
    return X, y


class ActiveLearner:
    """Pool-based active learner with modAL's API.

    Parameters
    ----------
    estimator : estimator
        Any scikit-learn-style model (``fit``, ``predict``; ``predict_proba`` or
        ``predict_proba_mc`` for uncertainty), e.g. a
        :class:`~bsqkit.nets.NeuralNetSegmenter`.
    query_strategy : callable, default=UncertaintyQuery()
        A bsqkit strategy, or any callable with modAL's signature
        ``strategy(learner, X_pool, n_instances=k) -> (indices, scores)``.
    X_training : array-like of shape (n_samples, ...), optional
        Initial labeled samples; the estimator is fitted on them at construction.
    y_training : array-like of shape (n_samples, ...), optional
        Their labels (class labels or label maps).
    **fit_kwargs
        Passed to ``estimator.fit`` at every (re)fit.

    Attributes
    ----------
    X_training, y_training : array-like or None
        The labeled set so far.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from bsqkit import ActiveLearner, RandomQuery
    >>> X, y = load_digits(return_X_y=True)
    >>> learner = ActiveLearner(LogisticRegression(max_iter=300), RandomQuery(random_state=0),
    ...                         X_training=X[:20], y_training=y[:20])
    >>> idx, X_new = learner.query(X[20:], n_instances=5)
    >>> learner.teach(X_new, y[20:][idx])
    >>> len(learner.X_training)
    25
    """

    def __init__(
        self,
        estimator: Any,
        query_strategy: Any = None,
        X_training: Any = None,
        y_training: Any = None,
        **fit_kwargs: Any,
    ):
        self.estimator = estimator
        self.query_strategy = UncertaintyQuery() if query_strategy is None else query_strategy
        if not callable(self.query_strategy):
            raise TypeError(
                "query_strategy must be callable as strategy(learner, X_pool, n_instances=k), "
                f"got {type(self.query_strategy).__name__}"
            )
        self.fit_kwargs = fit_kwargs
        self.X_training = None
        self.y_training = None
        if (X_training is None) != (y_training is None):
            raise ValueError("X_training and y_training must be given together")
        if X_training is not None:
            self.X_training, self.y_training = _check_xy(
                X_training, y_training, "X_training", "y_training"
            )
            self._fit_to_known(**fit_kwargs)

    def _fit_to_known(self, **fit_kwargs: Any) -> None:
        self.estimator.fit(self.X_training, self.y_training, **{**self.fit_kwargs, **fit_kwargs})

    def teach(self, X: Any, y: Any, only_new: bool = False, **fit_kwargs: Any) -> None:
        """Add annotated samples and refit the estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Newly annotated samples; same sample shape as the labeled set.
        y : array-like of shape (n_samples, ...)
            Their labels.
        only_new : bool, default=False
            Fit on the new samples only (fine-tuning a network) instead of the whole
            labeled set; the labeled set grows either way.
        **fit_kwargs
            Passed to ``estimator.fit``.
        """
        X, y = _check_xy(X, y)
        if self.X_training is not None and tuple(X.shape[1:]) != tuple(self.X_training.shape[1:]):
            raise ValueError(
                f"X's sample shape {tuple(X.shape[1:])} differs from the labeled set's "
                f"{tuple(self.X_training.shape[1:])}"
            )
        self.X_training = concat(self.X_training, X)
        self.y_training = concat(self.y_training, y)
        if only_new:
            self.estimator.fit(X, y, **{**self.fit_kwargs, **fit_kwargs})
        else:
            self._fit_to_known(**fit_kwargs)

    def query(
        self,
        X_pool: Any,
        n_instances: int | None = None,
        *,
        groups: Any = None,
        return_metrics: bool = False,
    ) -> tuple[NDArray[np.intp], Any] | tuple[NDArray[np.intp], Any, NDArray[np.float64]]:
        """Ask the strategy which samples of ``X_pool`` to annotate next.

        Parameters
        ----------
        X_pool : array-like of shape (n_candidates, ...)
            The not yet annotated samples (a pandas DataFrame is indexed by row
            position).
        n_instances : int, optional
            Batch size; defaults to the strategy's ``n_instances``. With ``groups``, a
            number of groups.
        groups : array-like of shape (n_candidates,), optional
            A group id per candidate (volume, patient): the strategy then chooses whole
            groups and every candidate of the chosen groups is returned
            (:meth:`bsqkit.QueryStrategy.query`).
        return_metrics : bool, default=False
            Also return the strategy's scores of the chosen samples (or groups).

        Returns
        -------
        indices : ndarray of shape (n_selected,)
        X_query : array-like of shape (n_selected, ...)
            The rows of ``X_pool`` at ``indices``.
        scores : ndarray of shape (n_instances,)
            Only with ``return_metrics=True``; one per chosen group in a group query.
        """
        kwargs = {} if n_instances is None else {"n_instances": n_instances}
        if groups is not None:
            kwargs["groups"] = groups
        result = self.query_strategy(self, X_pool, **kwargs)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(
                "query_strategy must return a tuple (indices, scores), "
                f"got {type(result).__name__}"
            )
        indices, scores = result
        indices = np.asarray(indices, dtype=np.intp)
        X_query = take(
            X_pool if hasattr(X_pool, "iloc") else as_indexable(X_pool, "X_pool"), indices
        )
        if return_metrics:
            return indices, X_query, np.asarray(scores)
        return indices, X_query

    def predict(self, X: Any) -> Any:
        """``estimator.predict(X)``."""
        return self.estimator.predict(X)

    def predict_proba(self, X: Any) -> Any:
        """``estimator.predict_proba(X)``."""
        return self.estimator.predict_proba(X)

    def score(self, X: Any, y: Any, **kwargs: Any) -> float:
        """``estimator.score(X, y)``."""
        return self.estimator.score(X, y, **kwargs)
