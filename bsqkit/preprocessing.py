"""Small transformers that let plain scikit-learn models work on image arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, TransformerMixin

__all__ = ["EstimatorDescriptors", "FlattenTransformer"]


class FlattenTransformer(TransformerMixin, BaseEstimator):
    """Reshape images of shape ``(n_samples, *image_shape)`` to ``(n_samples, n_features)``.

    Stateless; put it first in a pipeline, e.g. ``make_pipeline(FlattenTransformer(),
    PCA(5))``, or use it as a descriptor.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.preprocessing import FlattenTransformer
    >>> FlattenTransformer().fit_transform(np.zeros((3, 4, 5))).shape
    (3, 20)
    """

    def fit(self, X: Any, y: Any = None) -> FlattenTransformer:
        """Record the input shape.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : ignored

        Returns
        -------
        self
        """
        self.n_features_in_ = int(np.prod(np.shape(X)[1:]))
        return self

    def transform(self, X: Any) -> NDArray:
        """Flatten.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        X = np.asarray(X)
        return X.reshape(X.shape[0], -1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.requires_fit = False
        return tags


class EstimatorDescriptors(TransformerMixin, BaseEstimator):
    """The descriptors a fitted model gives its images, as a fitted transformer.

    ``transform(X)`` returns ``estimator.image_descriptors(X)`` (for a
    :class:`~bsqkit.nets.NeuralNetSegmenter`, the global average pool of its abstraction
    layer), so that a strategy that takes an encoder, such as
    :class:`~bsqkit.CoreSetQuery`, can work on the current segmenter's features. It is
    used as it is (never refitted): build a new one when the model is retrained.

    Parameters
    ----------
    estimator : fitted estimator
        Has ``image_descriptors(X)`` returning an array of shape (n_samples, n_features).

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.preprocessing import EstimatorDescriptors
    >>> class Means:  # anything with image_descriptors
    ...     def image_descriptors(self, X):
    ...         return X.reshape(len(X), -1).mean(axis=1, keepdims=True)
    ...
    >>> EstimatorDescriptors(Means()).transform(np.ones((3, 4, 4))).shape
    (3, 1)
    """

    def __init__(self, estimator: Any):
        self.estimator = estimator

    def fit(self, X: Any = None, y: Any = None) -> EstimatorDescriptors:
        """Nothing to learn: the estimator is used as it is.

        Parameters
        ----------
        X, y : ignored

        Returns
        -------
        self
        """
        return self

    def transform(self, X: Any) -> NDArray:
        """``estimator.image_descriptors(X)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        if not hasattr(self.estimator, "image_descriptors"):
            raise TypeError(
                f"estimator ({type(self.estimator).__name__}) has no image_descriptors(X)"
            )
        return np.asarray(self.estimator.image_descriptors(X), dtype=np.float64)

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.requires_fit = False
        return tags
