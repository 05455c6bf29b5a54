"""Suggestive Annotation (Yang et al. 2017; paper Eqs. 9-10, the paper's Baseline)."""

from __future__ import annotations

from functools import partial
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from bsqkit.base import QueryStrategy, SupportsImageDescriptors, torch_device_of
from bsqkit.functional import GROUP_AGGREGATES, greedy_max_cover, group_means
from bsqkit.functional.groups import group_values
from bsqkit.functional.selection import max_cover_blocks
from bsqkit.query._encoder import EncoderMixin
from bsqkit.query.uncertainty import shortlist_description, uncertain_shortlist

__all__ = ["SuggestiveAnnotationQuery"]


class SuggestiveAnnotationQuery(EncoderMixin, QueryStrategy):
    """The ``n_uncertain`` most uncertain candidates, then greedy maximum set-cover.

    Among the most uncertain candidates, adds one at a time the image whose descriptor
    most increases ``sum_{x in X_non} max_{s in S} cos(x, s)`` over all not-annotated
    images ``X_non`` (paper Eq. 10). Memory ``n_uncertain x len(X_pool)``, on the
    estimator's ``device`` (a skorch estimator's; the CPU otherwise), where the
    similarities are one matrix product (:func:`~bsqkit.functional.greedy_max_cover`).

    Parameters
    ----------
    descriptor : transformer or None, default=None
        Maps images to descriptor vectors (fitted or fittable, fitted once on the pool).
        ``None`` asks the estimator (``estimator.image_descriptors(X)``, e.g. the global
        average pool of a segmenter's abstraction layer, as in the paper).
    n_uncertain : int, default=64
        Size of the uncertainty pre-selection; clipped to the number of candidates.
    n_instances : int, default=1
        Batch size when a query does not give one (a number of groups in a group
        query).
    n_mc : int, default=17
        MC-dropout passes for the uncertainty.
    group_aggregate : {"mean", "max", "sum"}, default="mean"
        In a group query, how the members' uncertainties make the group's, which picks
        the ``n_uncertain`` most uncertain groups; max-cover then runs on the groups'
        mean descriptors over all groups of the pool.
    random_state : int, RandomState instance or None, default=None
        Seeds every random choice of the strategy (and its MC-dropout masks): an int
        repeats the same queries; None draws fresh randomness every time.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from bsqkit import SuggestiveAnnotationQuery
    >>> from bsqkit.preprocessing import FlattenTransformer
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=200).fit(X[:50], y[:50])
    >>> sa = SuggestiveAnnotationQuery(descriptor=FlattenTransformer(), n_uncertain=20,
    ...                                n_instances=5)
    >>> idx, gains = sa.query(X[50:], estimator=clf)
    >>> idx.shape
    (5,)
    """

    _encoder_param = "descriptor"
    _state_params = ("random_state", "descriptor")
    _parameter_constraints: ClassVar[dict] = {
        **QueryStrategy._parameter_constraints,
        "descriptor": [HasMethods(["transform"]), None],
        "n_uncertain": [Interval(Integral, 1, None, closed="left")],
        "n_mc": [Interval(Integral, 2, None, closed="left")],
        "group_aggregate": [StrOptions(set(GROUP_AGGREGATES))],
    }
    _supports_groups = True

    def __init__(
        self,
        descriptor: Any = None,
        n_uncertain: int = 64,
        n_instances: int = 1,
        n_mc: int = 17,
        group_aggregate: str = "mean",
        random_state: Any = None,
    ):
        super().__init__(n_instances=n_instances, random_state=random_state)
        self.descriptor = descriptor
        self.n_uncertain = n_uncertain
        self.n_mc = n_mc
        self.group_aggregate = group_aggregate

    def describe_picks(self) -> dict[str, str]:
        """What :attr:`pick_details_` holds (see :meth:`QueryStrategy.describe_picks`)."""
        described = "the segmenter's" if self.descriptor is None else "the descriptor's"
        return {
            "score": "how much the pick raised the cover of the pool (max-cover gain of "
            f"cosine similarities of {described} image descriptors) when it was picked: it "
            "falls pick after pick",
            "uncertainty": shortlist_description(self),
        }

    def _descriptors(self, X_pool, X_labeled, estimator):
        if self.descriptor is not None:
            self._fitted_encoder(X_pool, X_labeled)
            return self._encode(X_pool)
        _check_describes(estimator)
        return _estimator_descriptors(estimator, X_pool)

    def _select(self, X_pool, *, X_labeled, estimator, n_instances, rng, groups, labeled_groups):
        candidates = uncertain_shortlist(self, estimator, X_pool, groups, n_instances, rng)
        descriptors = group_means(
            self._descriptors(X_pool, X_labeled, estimator), groups, int(groups.max()) + 1
        )
        picks, gains = greedy_max_cover(
            descriptors[candidates], descriptors, n_instances, device=torch_device_of(estimator)
        )
        return candidates[picks], gains

    def _select_dask(self, X_pool, *, X_labeled, estimator, n_instances, rng, groups, **kw):
        from bsqkit._dask import map_codes, rows_of

        candidates = uncertain_shortlist(self, estimator, X_pool, groups, n_instances, rng)
        if self.descriptor is not None:
            descriptors = self._dask_codes(X_pool)
        else:
            _check_describes(estimator)
            describe = partial(_estimator_descriptors, estimator)
            # persisted: the network runs once per block, not once per pass
            descriptors = map_codes(X_pool, describe, describe(X_pool[:1].compute())).persist()
        if groups is not None:
            means = group_values(descriptors, groups, int(groups.max()) + 1, "mean")
            picks, gains = greedy_max_cover(means[candidates], means, n_instances)
            return candidates[picks], gains
        # the shortlisted descriptors, gathered in shortlist order
        order = np.argsort(candidates)
        gathered = np.empty((len(candidates), descriptors.shape[1]))
        gathered[order] = rows_of(descriptors, candidates[order])
        picks, gains = max_cover_blocks(gathered, descriptors, n_instances)
        return candidates[picks], gains


def _check_describes(estimator):
    if not isinstance(estimator, SupportsImageDescriptors):
        raise TypeError(
            "SuggestiveAnnotationQuery needs descriptors: pass descriptor=<transformer> "
            f"or an estimator with image_descriptors(X); got {type(estimator).__name__}"
        )


def _estimator_descriptors(estimator, X):
    """``estimator.image_descriptors(X)`` as float64, its shape and values checked."""
    codes = np.asarray(estimator.image_descriptors(X), dtype=np.float64)
    if codes.ndim != 2 or codes.shape[0] != len(X):
        raise ValueError(
            f"image_descriptors must return shape (n_samples, n_features), got {codes.shape}"
        )
    if not np.isfinite(codes).all():
        raise ValueError("image_descriptors produced NaN or inf")
    return codes
