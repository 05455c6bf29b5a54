"""Small transformers that let plain scikit-learn models work on image arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, TransformerMixin

__all__ = ["FlattenTransformer"]


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
