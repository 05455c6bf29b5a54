"""Uncertainty sampling: MC-dropout variance (paper Eq. 2), entropy as a fallback."""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from sklearn.utils._param_validation import Interval, StrOptions

from bsqkit._dask import is_dask_array, uncertain_units
from bsqkit.base import QueryStrategy, SupportsMCDropout
from bsqkit.functional import (
    GROUP_AGGREGATES,
    aggregate_by_group,
    mc_dropout_variance,
    predictive_entropy,
    top_k,
)

__all__ = ["UncertaintyQuery", "estimate_uncertainty", "most_uncertain_groups"]


def estimate_uncertainty(
    estimator: Any, X: Any, *, n_mc: int = 17, random_state: int | None = None
) -> NDArray[np.float64]:
    """One uncertainty value per sample of ``X`` from a fitted estimator.

    With an estimator that supports MC sampling (:class:`bsqkit.base.SupportsMCDropout`),
    the MC-dropout variance of paper Eq. 2, reduced batch by batch as the estimator
    streams them (memory independent of ``len(X)``). Otherwise the predictive entropy
    of ``predict_proba`` (a documented fallback for plain scikit-learn classifiers).

    Parameters
    ----------
    estimator : fitted estimator
    X : array-like of shape (n_samples, ...)
    n_mc : int, default=17
        MC passes (the paper's value).
    random_state : int, optional
        Seed of the MC draws.

    Returns
    -------
    ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from bsqkit.query import estimate_uncertainty
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> clf = LogisticRegression().fit(X, [0, 0, 1, 1])
    >>> unc = estimate_uncertainty(clf, np.array([[-5.0], [1.5]]))  # entropy without MC dropout
    >>> unc.shape, bool(unc[1] > unc[0])
    ((2,), True)
    """
    if estimator is None:
        raise ValueError("an estimator is required to estimate uncertainty")
    if isinstance(estimator, SupportsMCDropout):
        if n_mc < 2:
            raise ValueError(f"n_mc must be >= 2, got {n_mc}")
        parts = [
            mc_dropout_variance(batch)
            for batch in estimator.predict_proba_mc(X, n_mc=n_mc, random_state=random_state)
        ]
        values = np.concatenate(parts) if parts else np.empty(0)
    elif hasattr(estimator, "predict_proba"):
        values = predictive_entropy(estimator.predict_proba(X))
    else:
        raise TypeError(
            f"estimator ({type(estimator).__name__}) supports neither predict_proba_mc "
            "nor predict_proba"
        )
    if values.shape != (len(X),):
        raise ValueError(
            f"estimator returned {values.shape[0]} uncertainties for {len(X)} samples"
        )
    if not np.isfinite(values).all():
        raise ValueError("estimator produced NaN or inf probabilities")
    return values


def most_uncertain_groups(
    estimator: Any,
    X: Any,
    groups: NDArray[np.intp],
    n_select: int,
    *,
    n_mc: int,
    group_aggregate: str,
    rng: np.random.RandomState,
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """The ``n_select`` groups of highest aggregated uncertainty, most uncertain first.

    Parameters
    ----------
    estimator : fitted estimator
    X : array-like of shape (n_samples, ...)
    groups : ndarray of int of shape (n_samples,)
        Group numbers ``0 .. n_groups - 1``; ``arange(n_samples)`` ranks single samples.
    n_select : int
        Clipped to the number of groups.
    n_mc : int
    group_aggregate : {"mean", "max", "sum"}
    rng : numpy.random.RandomState
        Draws the seed of the MC passes.

    Returns
    -------
    groups : ndarray of shape (min(n_select, n_groups),)
    uncertainty : ndarray of the same shape

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from bsqkit.query.uncertainty import most_uncertain_groups
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> clf = LogisticRegression().fit(X, [0, 0, 1, 1])
    >>> most_uncertain_groups(clf, X, np.array([0, 0, 1, 1]), 1, n_mc=2,
    ...                       group_aggregate="max", rng=np.random.RandomState(0))[0]
    array([0])
    """
    values = estimate_uncertainty(
        estimator, X, n_mc=n_mc, random_state=int(rng.randint(2**31 - 1))
    )
    per_group = aggregate_by_group(values, groups, int(groups.max()) + 1, group_aggregate)
    chosen = top_k(per_group, min(n_select, len(per_group)))
    return chosen, per_group[chosen]


def uncertain_shortlist(
    strategy: Any, estimator: Any, X: Any, groups: NDArray[np.intp], n_instances: int, rng: Any
) -> NDArray[np.intp]:
    """The ``strategy.n_uncertain`` most uncertain groups (a strategy with ``n_mc`` and
    ``group_aggregate``), refusing a shortlist smaller than the batch. On a Dask pool
    ``groups`` may be None (each sample its own unit)."""
    if strategy.n_uncertain < n_instances:
        raise ValueError(
            f"n_uncertain={strategy.n_uncertain} must be >= n_instances={n_instances}"
        )
    if is_dask_array(X):
        shortlist, values = uncertain_units(
            strategy, estimator, X, groups, strategy.n_uncertain, rng
        )
    else:
        shortlist, values = most_uncertain_groups(
            estimator,
            X,
            groups,
            strategy.n_uncertain,
            n_mc=strategy.n_mc,
            group_aggregate=strategy.group_aggregate,
            rng=rng,
        )
    strategy._note("uncertainty", shortlist, values)
    return shortlist


class UncertaintyQuery(QueryStrategy):
    """Query the most uncertain samples (paper's FCN_Uncertainty).

    In a group query, the groups of highest aggregated uncertainty (the paper's volume
    mode: the mean of the slices' uncertainties).

    Parameters
    ----------
    n_instances : int, default=1
        Batch size when a query does not give one.
    n_mc : int, default=17
        MC-dropout passes when the estimator supports them.
    group_aggregate : {"mean", "max", "sum"}, default="mean"
        How a group query reduces its members' uncertainties to one per group.
    random_state : int, RandomState instance or None, default=None
        Seeds the MC draws.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from bsqkit import UncertaintyQuery
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=200).fit(X[:50], y[:50])
    >>> idx, scores = UncertaintyQuery(n_instances=5).query(X[50:], estimator=clf)
    >>> idx.shape, bool(scores[0] >= scores[-1])
    ((5,), True)
    """

    _parameter_constraints: ClassVar[dict] = {
        **QueryStrategy._parameter_constraints,
        "n_mc": [Interval(Integral, 2, None, closed="left")],
        "group_aggregate": [StrOptions(set(GROUP_AGGREGATES))],
    }
    _supports_groups = True

    def __init__(
        self,
        n_instances: int = 1,
        n_mc: int = 17,
        group_aggregate: str = "mean",
        random_state: Any = None,
    ):
        super().__init__(n_instances=n_instances, random_state=random_state)
        self.n_mc = n_mc
        self.group_aggregate = group_aggregate

    def describe_picks(self) -> dict[str, str]:
        """What :attr:`pick_details_` holds (see :meth:`QueryStrategy.describe_picks`)."""
        return {
            "score": "the uncertainty: the picks are the most uncertain",
            "uncertainty": f"MC-dropout variance (paper Eq. 2, {self.n_mc} passes; the "
            "predictive entropy for a model without MC dropout), the "
            f"{self.group_aggregate} over a group's members in a group query",
        }

    def _select(self, X_pool, *, X_labeled, estimator, n_instances, rng, groups, labeled_groups):
        chosen, uncertainty = most_uncertain_groups(
            estimator,
            X_pool,
            groups,
            n_instances,
            n_mc=self.n_mc,
            group_aggregate=self.group_aggregate,
            rng=rng,
        )
        self._note("uncertainty", chosen, uncertainty)
        return chosen, uncertainty

    def _select_dask(self, X_pool, *, estimator, n_instances, rng, groups, **kwargs):
        chosen, uncertainty = uncertain_units(self, estimator, X_pool, groups, n_instances, rng)
        self._note("uncertainty", chosen, uncertainty)
        return chosen, uncertainty
