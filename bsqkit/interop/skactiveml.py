"""bsqkit strategies where scikit-activeml expects a pool query strategy.

scikit-activeml's pool strategies answer ``query(X, y, clf, candidates=...,
batch_size=...)`` with ``y`` holding ``MISSING_LABEL`` for the unlabeled samples, and
return indices into ``X``. :class:`SkactivemlAdapter` gives any bsqkit strategy that
face. Needs ``scikit-activeml`` (the ``bench`` extra).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import clone

try:
    from skactiveml.base import SingleAnnotatorPoolQueryStrategy
    from skactiveml.utils import MISSING_LABEL, is_labeled
except ImportError as exc:  # pragma: no cover - message only
    raise ImportError(
        'bsqkit.interop.skactiveml needs scikit-activeml: pip install "bsqkit[bench]"'
    ) from exc

__all__ = ["SkactivemlAdapter"]


class SkactivemlAdapter(SingleAnnotatorPoolQueryStrategy):
    """A bsqkit strategy as a scikit-activeml pool query strategy.

    Parameters
    ----------
    strategy : bsqkit.QueryStrategy
        E.g. :class:`~bsqkit.BayesianSampleQuery`; cloned, the user's object is never
        changed.
    missing_label : scalar, default=MISSING_LABEL
        scikit-activeml's marker of an unlabeled sample in ``y``.
    random_state : int or None, default=None
        scikit-activeml's parameter; the bsqkit strategy keeps its own.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skactiveml.classifier import SklearnClassifier
    >>> from skactiveml.utils import MISSING_LABEL
    >>> from bsqkit import UncertaintyQuery
    >>> from bsqkit.interop.skactiveml import SkactivemlAdapter
    >>> X, y_true = load_digits(return_X_y=True)
    >>> y = np.full(len(X), MISSING_LABEL)
    >>> y[:30] = y_true[:30]
    >>> clf = SklearnClassifier(LogisticRegression(max_iter=300), classes=np.arange(10))
    >>> qs = SkactivemlAdapter(UncertaintyQuery(random_state=0))
    >>> query_idx = qs.query(X, y, clf, batch_size=3)
    >>> query_idx.shape, bool(np.isnan(y[query_idx]).all())
    ((3,), True)
    """

    def __init__(self, strategy: Any, missing_label: Any = MISSING_LABEL, random_state=None):
        super().__init__(missing_label=missing_label, random_state=random_state)
        self.strategy = strategy

    def query(
        self,
        X: Any,
        y: Any,
        clf: Any = None,
        fit_clf: bool = True,
        candidates: Any = None,
        batch_size: int = 1,
        return_utilities: bool = False,
    ) -> Any:
        """Indices into ``X`` of the samples to label next.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            All samples, labeled and not.
        y : array-like of shape (n_samples,)
            Labels, ``missing_label`` for the unlabeled.
        clf : classifier, optional
            The model for uncertainty-based strategies: a scikit-activeml classifier
            (fitted on ``(X, y)``, which handles missing labels) or any scikit-learn
            classifier (fitted on the labeled samples).
        fit_clf : bool, default=True
            Fit a clone of ``clf`` first; False uses it as it is.
        candidates : array-like of int of shape (n_candidates,), optional
            Indices of the samples to choose from; default every unlabeled sample.
        batch_size : int, default=1
        return_utilities : bool, default=False
            Also return utilities of shape (batch_size, n_samples): the bsqkit score of
            the sample picked at each step, NaN elsewhere (bsqkit ranks, it does not
            score every candidate for every step).

        Returns
        -------
        query_indices : ndarray of shape (batch_size,)
        utilities : ndarray of shape (batch_size, n_samples)
            Only with ``return_utilities=True``.
        """
        X, y, candidates, batch_size, return_utilities = self._validate_data(
            X,
            y,
            candidates,
            batch_size,
            return_utilities,
            reset=True,
            check_X_dict={"allow_nd": True},
        )
        labeled = is_labeled(y, missing_label=self.missing_label_)
        if candidates is None:
            pool = np.flatnonzero(~labeled)
        else:
            pool = np.asarray(candidates)
            if pool.ndim != 1 or not np.issubdtype(pool.dtype, np.integer):
                raise TypeError("candidates must be indices into X (SkactivemlAdapter)")
        estimator = clf
        if clf is not None and fit_clf:
            estimator = clone(clf)
            if hasattr(estimator, "missing_label"):  # scikit-activeml: learns from (X, y)
                estimator.fit(X, y)
            else:
                estimator.fit(X[labeled], y[labeled])
        if not hasattr(self, "strategy_"):
            # one fitted copy across cycles: an encoder is fitted once, the random stream
            # goes on, as with the bsqkit strategy alone
            self.strategy_ = clone(self.strategy)
        idx, scores = self.strategy_.query(
            X[pool],
            estimator=estimator,
            X_labeled=X[labeled] if labeled.any() else None,
            n_instances=batch_size,
        )
        chosen = pool[idx]
        if not return_utilities:
            return chosen
        utilities = np.full((batch_size, len(X)), np.nan)
        utilities[np.arange(batch_size), chosen] = scores
        return chosen, utilities
