"""The query contract shared by every bsqkit strategy.

A strategy is a scikit-learn estimator: ``__init__`` stores its arguments, learned state
ends in ``_``. :meth:`QueryStrategy.query` returns ``(indices into X_pool, scores)``;
calling the strategy as ``strategy(learner, X_pool, n_instances=k)`` is modAL's
convention and returns the same tuple (never a bare index array: modAL's learner
re-calls a strategy whose result does not unpack into two).
"""

from __future__ import annotations

from collections.abc import Iterable
from numbers import Integral
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval

from bsqkit._dask import as_numpy, check_dask_pool, is_dask_array
from bsqkit._validation import check_n_instances, check_pool, check_samples, fresh_or_seeded
from bsqkit.functional.groups import encode_groups

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

    Subclasses implement ``_select(X_pool, *, X_labeled, estimator, n_instances, rng)``
    returning ``(indices, scores)``. A strategy that also ranks groups of samples sets
    ``_supports_groups = True`` and accepts ``groups`` (an int array of shape
    ``(n_pool,)`` numbering the groups ``0 .. n_groups - 1``, every number used; each
    sample its own group in a plain query) and ``labeled_groups`` (the same numbering
    for ``X_labeled``, groups with no member left in the pool numbered from
    ``n_groups`` on; or None); it then returns group numbers and
    one score per group, and :meth:`query` expands them to samples. A strategy that
    takes Dask pools also implements ``_select_dask`` with the same arguments, where
    ``X_pool`` is a ``dask.array.Array`` chunked along its first axis only and ``groups``
    is None in a plain query (each sample its own unit, no ``(n_pool,)`` array made).

    Parameters
    ----------
    n_instances : int, default=1
        Batch size used when a query does not give one (a number of groups in a group
        query).
    random_state : int, RandomState instance or None, default=None
        Seeds every random choice of the strategy. An int makes a fresh strategy (or a
        ``clone``) repeat the same sequence of queries, including the fit of an encoder
        fitted inside the strategy; None draws fresh randomness every time.

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

    _parameter_constraints: ClassVar[dict] = {
        "n_instances": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }
    _supports_groups = False
    # parameters whose change makes the learned state (fitted encoder, random stream) stale
    _state_params: tuple[str, ...] = ("random_state",)

    def __init__(self, n_instances: int = 1, random_state: Any = None):
        self.n_instances = n_instances
        self.random_state = random_state

    def set_params(self, **params: Any) -> QueryStrategy:
        """Set parameters (sklearn's ``set_params``); a changed encoder, descriptor or
        ``random_state`` drops the learned state, so that the strategy then behaves like
        a fresh one built with the new parameters.

        Parameters
        ----------
        **params
            Parameter names and values, nested ones as ``encoder__n_components``.

        Returns
        -------
        self
        """
        super().set_params(**params)
        if {key.split("__", 1)[0] for key in params} & set(self._state_params):
            for attr in [a for a in vars(self) if a.endswith("_") and not a.startswith("_")]:
                delattr(self, attr)
        return self

    def fit(self, X: Any = None, y: Any = None) -> QueryStrategy:
        """Learn what the strategy needs from the unlabeled pool (no-op by default).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...), optional
            All pool images, annotated and not.
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        if X is not None:
            X = check_samples(X, "X")
            self.n_features_in_ = int(np.prod(X.shape[1:]))
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # images (n_samples, H, W) are welcome
        return tags

    def query(
        self,
        X_pool: Any,
        *,
        estimator: Any = None,
        X_labeled: Any = None,
        n_instances: int | None = None,
        groups: Any = None,
        labeled_groups: Any = None,
    ) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """Choose which samples (or groups of samples) of ``X_pool`` to annotate next.

        Parameters
        ----------
        X_pool : array-like of shape (n_candidates, ...)
            The not yet annotated samples to choose from (numpy array, torch tensor,
            pandas DataFrame or a lazily indexing array-like). A ``dask.array.Array``
            is computed block by block on the active Dask scheduler and never gathered
            (bsqkit's strategies; see "Pools beyond one machine" in the user guide).
        estimator : estimator, optional
            The current model (needed by uncertainty-based strategies).
        X_labeled : array-like of shape (n_labeled, ...), optional
            The annotated samples; same sample shape as ``X_pool``.
        n_instances : int, optional
            Batch size, in samples, or in groups when ``groups`` is given; defaults to
            ``self.n_instances``.
        groups : array-like of shape (n_candidates,), optional
            A group id per candidate (volume, patient; any hashable). The strategy then
            ranks groups by an aggregate of their members (``group_aggregate``) and
            returns every candidate of the chosen groups.
        labeled_groups : array-like of shape (n_labeled,), optional
            Group ids of ``X_labeled``, in the same id space as ``groups`` (a group may
            be partly annotated). Used where a strategy compares groups with annotated
            groups (:class:`~bsqkit.CoreSetQuery`); without it every annotated sample
            counts as a group of its own.

        Returns
        -------
        indices : ndarray of shape (n_instances,) or (n_members,)
            Positions in ``X_pool``, unique, in the order the strategy chose them. In a
            group query: the members of the first chosen group (in pool order), then
            those of the second, and so on.
        scores : ndarray of shape (n_instances,)
            The utility of each chosen sample, or of each chosen group in a group query,
            as the selection saw it (higher = more wanted). In a group query
            ``scores[j]`` belongs to the ``j``-th chosen group:
            ``np.repeat(scores, sizes)`` lines it up with ``indices``, where ``sizes``
            counts each chosen group's members (``groups[indices]`` names the group of
            each index).

        Notes
        -----
        After a query, ``pick_details_`` holds what drove each pick: a dict of arrays of
        the shape of ``scores``, in the same order, with ``"score"`` (``scores``
        itself) and the quantities the strategy's selection computed, such as
        ``"uncertainty"`` (the MC-dropout variance that put a pick on the shortlist) or
        ``"representativeness"`` (BSQ's score against the annotated set before the
        batch); :meth:`describe_picks` says what each means. They are the selection's
        own numbers, not recomputed.
        """
        self._validate_params()
        # what the selection records of its picks (_note), for pick_details_
        self._notes: list[tuple[str, NDArray[np.intp], NDArray[np.float64]]] = []
        self.__dict__.pop("pick_details_", None)  # a query that fails leaves none
        dask_pool = is_dask_array(X_pool)
        if dask_pool:
            if not _defines_dask_path(type(self)):
                raise TypeError(
                    f"{type(self).__name__} does not take Dask pools: pass a numpy array, "
                    "or use one of bsqkit's strategies"
                )
            X_pool = check_dask_pool(X_pool)
            X_labeled, groups, labeled_groups = map(as_numpy, (X_labeled, groups, labeled_groups))
        X_pool, X_labeled = check_pool(X_pool, X_labeled)
        if not hasattr(self, "random_state_"):
            self.random_state_ = fresh_or_seeded(self.random_state)
        kwargs = {
            "X_labeled": X_labeled,
            "estimator": estimator,
            "rng": self.random_state_,
        }
        requested = self.n_instances if n_instances is None else n_instances
        if groups is None:
            if labeled_groups is not None:
                raise ValueError("labeled_groups needs groups (the pool's group ids)")
            n = check_n_instances(requested, len(X_pool))
            if dask_pool:
                # no (n_pool,) arange: each sample is its own unit
                kwargs.update(groups=None, labeled_groups=None)
                indices, scores = self._select_dask(X_pool, n_instances=n, **kwargs)
            else:
                if self._supports_groups:
                    kwargs.update(groups=np.arange(len(X_pool)), labeled_groups=None)
                indices, scores = self._select(X_pool, n_instances=n, **kwargs)
            chosen = indices
        else:
            if not self._supports_groups:
                raise TypeError(f"{type(self).__name__} does not support group queries")
            group_of, ids = encode_groups(groups, len(X_pool))
            n = check_n_instances(
                requested, len(ids), "n_instances (a number of groups)", "groups"
            )
            kwargs.update(
                groups=group_of,
                labeled_groups=_labeled_group_numbers(labeled_groups, ids, X_labeled),
            )
            select = self._select_dask if dask_pool else self._select
            chosen, scores = select(X_pool, n_instances=n, **kwargs)
            indices = _members(group_of, np.asarray(chosen, dtype=np.intp))
        indices = np.asarray(indices, dtype=np.intp)
        scores = np.asarray(scores, dtype=np.float64)
        details = _pick_details(self._notes, np.asarray(chosen), scores)
        del self._notes
        order = [k for k in self.describe_picks() if k in details]
        self.pick_details_ = {k: details[k] for k in [*order, *sorted(set(details) - set(order))]}
        if np.isnan(scores).any():
            # never hand back a NaN ranking (+inf is legitimate: k-center's first
            # center when nothing is annotated has no distance to compare)
            raise ValueError(f"{type(self).__name__} produced NaN scores")
        if len(np.unique(indices)) != len(indices):
            raise RuntimeError(f"{type(self).__name__} selected a sample twice")
        return indices, scores

    def describe_picks(self) -> dict[str, str]:
        """What each entry of :attr:`pick_details_` means, for this strategy's settings.

        Returns
        -------
        dict of str to str
            One sentence per quantity (``"score"`` always).

        Examples
        --------
        >>> from bsqkit import RandomQuery
        >>> RandomQuery().describe_picks()["score"]
        'a uniform random number: the picks are a random sample'
        """
        return {"score": "the utility the selection ranked by (higher = more wanted)"}

    def _note(self, name: str, units: Any, values: Any) -> None:
        """Record a quantity the selection computed for some units (samples, or group
        numbers in a group query): :attr:`pick_details_` gives it for each pick. A name
        noted again overrides the earlier values for the units it covers."""
        self._notes.append(
            (name, np.asarray(units, dtype=np.intp).ravel(), np.asarray(values, float).ravel())
        )

    def __call__(
        self,
        learner: Any,
        X_pool: Any,
        n_instances: int | None = None,
        groups: Any = None,
        **kwargs: Any,
    ) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """modAL's strategy signature: ``strategy(learner, X_pool, n_instances=k)``.

        Reads ``learner.estimator`` and ``learner.X_training`` (bsqkit's or modAL's
        ``ActiveLearner``) and returns ``(indices, scores)`` like :meth:`query`;
        ``groups`` makes it a group query.
        """
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}")
        return self.query(
            X_pool,
            estimator=getattr(learner, "estimator", None),
            X_labeled=getattr(learner, "X_training", None),
            n_instances=n_instances,
            groups=groups,
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


def torch_device_of(model: Any) -> Any:
    """Where a selection's matrix products run: a skorch model's ``device`` (None there
    means: leave tensors where they are); the CPU for anything else, including a
    ``device`` attribute torch does not read as one."""
    import torch

    device = getattr(model, "device", None)
    try:
        return torch.device(device) if device is not None else torch.device("cpu")
    except (RuntimeError, TypeError, ValueError):
        return torch.device("cpu")


def _defines_dask_path(cls: type) -> bool:
    """Whether ``cls`` has a ``_select_dask`` as recent as its ``_select`` (a subclass
    that overrides ``_select`` alone must not run its parent's Dask path)."""
    owner = {name: next((c for c in cls.__mro__ if name in vars(c)), None)
             for name in ("_select", "_select_dask")}  # fmt: skip
    return owner["_select_dask"] is not None and issubclass(
        owner["_select_dask"], owner["_select"]
    )


def _labeled_group_numbers(labeled_groups: Any, ids: NDArray, X_labeled: Any) -> NDArray | None:
    """``labeled_groups`` in the pool's group numbering, extended (``n_groups``,
    ``n_groups + 1``, ...) for groups that have no member left in the pool."""
    if labeled_groups is None:
        return None
    values = np.asarray(labeled_groups)
    n_labeled = 0 if X_labeled is None else len(X_labeled)
    if values.shape != (n_labeled,):
        raise ValueError(
            f"labeled_groups must have shape ({n_labeled},), one id per X_labeled sample; "
            f"got {values.shape}"
        )
    pool_types = {type(v) for v in ids.tolist()}
    labeled_types = {type(v) for v in values.tolist()}
    if not labeled_types <= pool_types and not (labeled_types | pool_types <= {int, float, bool}):
        names = sorted(t.__name__ for t in labeled_types)
        raise TypeError(
            f"labeled_groups holds ids of type {names} but groups of type "
            f"{sorted(t.__name__ for t in pool_types)}: use one kind of id for both"
        )
    number = {v: i for i, v in enumerate(ids.tolist())}
    return np.fromiter(
        (number.setdefault(v, len(number)) for v in values.tolist()), np.intp, n_labeled
    )


def _pick_details(
    notes: list[tuple[str, NDArray, NDArray]], chosen: NDArray, scores: NDArray
) -> dict[str, NDArray[np.float64]]:
    """``scores`` and every noted quantity, for each chosen unit (NaN if not noted)."""
    details = {"score": scores}
    for name, units, values in notes:
        lookup = dict(zip(units.tolist(), values.tolist(), strict=True))
        previous = details.get(name)
        details[name] = np.array(
            [
                lookup.get(u, np.nan if previous is None else previous[k])
                for k, u in enumerate(chosen.tolist())
            ],
            dtype=np.float64,
        )
    return details


def _members(group_of: NDArray, chosen: NDArray) -> NDArray[np.intp]:
    """Positions of the members of each chosen group, group after group, in pool order."""
    order = np.argsort(group_of, kind="stable")
    sizes = np.bincount(group_of)
    ends = np.cumsum(sizes)
    starts = ends - sizes
    return np.concatenate([order[starts[g] : ends[g]] for g in chosen])
