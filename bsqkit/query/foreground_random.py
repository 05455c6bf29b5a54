"""Random sampling among the images the current model segments something in."""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval

from bsqkit.base import QueryStrategy
from bsqkit.functional import aggregate_by_group, top_k

__all__ = ["ForegroundRandomQuery"]


class ForegroundRandomQuery(QueryStrategy):
    """Query at random among the candidates the current model predicts foreground in.

    The baseline that nnActive (Lüth et al. 2025) found hardest to beat in 3-D medical
    segmentation: random sampling, restricted to images where the current segmenter
    predicts at least ``min_pixels`` foreground pixels (any label but ``background``).
    When fewer candidates than ``n_instances`` qualify, the batch is completed at random
    from the others. A candidate's score is a uniform draw, plus 1 when it shows
    foreground, so scores rank the batch as it was chosen. In a group query, groups are
    drawn uniformly among those with a foreground member.

    Parameters
    ----------
    min_pixels : int, default=1
        Predicted foreground pixels that make an image "foreground".
    background : int, default=0
        The background label.
    batch_size : int, default=256
        Images predicted at once (memory bound of the prediction).
    n_instances : int, default=1
        Batch size when a query does not give one (a number of groups in a group
        query).
    random_state : int, RandomState instance or None, default=None
        Seeds every random choice of the strategy (and its MC-dropout masks): an int
        repeats the same queries; None draws fresh randomness every time.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.query import ForegroundRandomQuery
    >>> class Thresholder:  # any estimator whose predict returns label maps
    ...     def predict(self, X):
    ...         return (X > 0.5).astype(int)
    ...
    >>> X = np.zeros((6, 4, 4))
    >>> X[[1, 4], 1:3, 1:3] = 1.0  # only images 1 and 4 show something
    >>> idx, scores = ForegroundRandomQuery(n_instances=2, random_state=0).query(
    ...     X, estimator=Thresholder())
    >>> sorted(idx.tolist())
    [1, 4]
    """

    _parameter_constraints: ClassVar[dict] = {
        **QueryStrategy._parameter_constraints,
        "min_pixels": [Interval(Integral, 1, None, closed="left")],
        "background": [Integral],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }
    _supports_groups = True

    def __init__(
        self,
        min_pixels: int = 1,
        background: int = 0,
        batch_size: int = 256,
        n_instances: int = 1,
        random_state: Any = None,
    ):
        super().__init__(n_instances=n_instances, random_state=random_state)
        self.min_pixels = min_pixels
        self.background = background
        self.batch_size = batch_size

    def _foreground(self, estimator: Any, X_pool: Any) -> np.ndarray:
        """Whether the estimator predicts foreground in each image."""
        counts = []
        for lo in range(0, len(X_pool), self.batch_size):
            pred = np.asarray(estimator.predict(X_pool[lo : lo + self.batch_size]))
            counts.append((pred.reshape(len(pred), -1) != self.background).sum(axis=1))
        counts = np.concatenate(counts)
        if counts.shape != (len(X_pool),):
            raise ValueError(
                f"estimator.predict returned {counts.shape[0]} maps for {len(X_pool)}"
            )
        return counts >= self.min_pixels

    def _pick(self, foreground, groups, n_units, n_instances, rng):
        if groups is not None:
            foreground = aggregate_by_group(foreground, groups, n_units, "max")
        scores = rng.random_sample(n_units) + foreground
        picks = top_k(scores, n_instances)
        self._note("foreground", picks, foreground[picks])
        return picks, scores[picks]

    def _select(self, X_pool, *, X_labeled, estimator, n_instances, rng, groups, labeled_groups):
        _check_predicts(estimator)
        n_groups = int(groups.max()) + 1
        return self._pick(self._foreground(estimator, X_pool), groups, n_groups, n_instances, rng)

    def _select_dask(self, X_pool, *, estimator, n_instances, rng, groups, **kwargs):
        from bsqkit._dask import on_model, per_block, shared, unit_count

        _check_predicts(estimator)

        def flags_of(block, start, model):
            return on_model(block, lambda b: self._foreground(model, b))

        # one flag per row, block by block (a byte a row), then as in memory
        flags = np.concatenate(per_block(flags_of, X_pool, shared(estimator)))
        n_units = unit_count(X_pool, groups)
        return self._pick(flags, groups, n_units, n_instances, rng)

    def describe_picks(self) -> dict[str, str]:
        """What :attr:`pick_details_` holds (see :meth:`QueryStrategy.describe_picks`)."""
        return {
            "score": "a uniform random number in [0, 1), plus 1 where the current model "
            "segments something: random among the images with predicted foreground first",
            "foreground": "1 if the current model predicts foreground in the pick, else 0",
        }


def _check_predicts(estimator: Any) -> None:
    if estimator is None or not hasattr(estimator, "predict"):
        raise TypeError(
            "ForegroundRandomQuery needs a fitted estimator with predict(X) returning "
            f"label maps; got {type(estimator).__name__}"
        )
