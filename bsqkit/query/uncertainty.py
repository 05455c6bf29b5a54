"""Uncertainty sampling: MC-dropout variance (paper Eq. 2), entropy as a fallback."""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from sklearn.utils._param_validation import Interval, StrOptions

from bsqkit._dask import is_dask_array, shared, unit_count
from bsqkit.base import QueryStrategy
from bsqkit.functional import GROUP_AGGREGATES, aggregate_by_group, top_k
from bsqkit.functional.selection import best_units
from bsqkit.functional.uncertainty import block_uncertainty, estimate_uncertainty

__all__ = ["UncertaintyQuery", "estimate_uncertainty", "most_uncertain_groups"]


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
        With ``predict_proba_mc`` (MC dropout) or ``predict_proba`` (entropy).
    X : array-like of shape (n_samples, ...)
        The candidates.
    groups : ndarray of int of shape (n_samples,)
        Group numbers ``0 .. n_groups - 1``; ``arange(n_samples)`` ranks single samples.
    n_select : int
        Clipped to the number of groups.
    n_mc : int
        MC-dropout passes.
    group_aggregate : {"mean", "max", "sum"}
        How a group's members' uncertainties make the group's.
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


def _uncertainty_words(strategy: Any) -> str:
    return (
        f"MC-dropout variance (paper Eq. 2, {strategy.n_mc} passes; the predictive entropy "
        "for a model without MC dropout), in a group query the "
        f"{strategy.group_aggregate} over a group's members"
    )


def shortlist_description(strategy: Any) -> str:
    """What a shortlisting strategy's ``"uncertainty"`` pick detail means."""
    return (
        f"{_uncertainty_words(strategy)}: the picks are among the {strategy.n_uncertain} "
        "most uncertain candidates"
    )


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
    """Query the most uncertain samples (the paper's Uncertainty).

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
            "uncertainty": _uncertainty_words(self),
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


# -- on Dask pools: block by block, the same kernels ------------------------------


def uncertain_units(
    strategy: Any,
    estimator: Any,
    X: Any,
    groups: NDArray | None,
    n_select: int,
    rng: np.random.RandomState,
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """The ``n_select`` most uncertain rows or groups of a Dask pool (MC dropout per block,
    the estimator sent once per worker), most uncertain first."""
    if estimator is None:
        raise ValueError("an estimator is required to estimate uncertainty")
    seed = int(rng.randint(2**31 - 1))
    n_groups = unit_count(X, groups)
    return best_units(
        (block_uncertainty, X),
        groups,
        n_groups,
        strategy.group_aggregate,
        min(n_select, n_groups),
        shared(estimator),
        strategy.n_mc,
        seed,
        X.shape[0],
    )
