"""Evaluation measures: class entropy of an annotated set, products of Gaussians."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["class_entropy", "gaussian_product"]


def class_entropy(labels: ArrayLike, n_classes: int | None = None) -> float:
    """Entropy ``H(c) = -sum_c p(c) log p(c)`` (nats) of the class proportions (Fig. A.6).

    Its upper limit, reached by uniform proportions, is ``log(n_classes)``.

    Parameters
    ----------
    labels : array-like of int of shape (n_samples,)
        Class labels of the annotated samples, in ``[0, n_classes)``.
    n_classes : int, optional
        Number of classes (only checks the labels; absent classes add nothing).

    Returns
    -------
    float
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    if labels.min() < 0 or (n_classes is not None and labels.max() >= n_classes):
        raise ValueError(
            f"labels must lie in [0, {n_classes}), got [{labels.min()}, {labels.max()}]"
        )
    p = np.bincount(labels) / labels.size
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def gaussian_product(mu: ArrayLike, sigma: ArrayLike) -> tuple[float, float]:
    """Mean and standard deviation of the product of univariate Gaussians (Bromiley 2003).

    ``1 / s^2 = sum_d 1 / sigma_d^2`` and ``m = s^2 sum_d mu_d / sigma_d^2``: the 1-D
    summary of a diagonal Gaussian that the paper plots over query iterations (Fig. A.7).

    Parameters
    ----------
    mu, sigma : array-like of shape (n_dims,)
        Per-dimension means and (positive) standard deviations.

    Returns
    -------
    mean : float
    std : float
    """
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if mu.shape != sigma.shape or mu.ndim != 1 or mu.size == 0:
        raise ValueError(f"mu and sigma must be 1-D of one length, got {mu.shape}, {sigma.shape}")
    if np.any(sigma <= 0):
        raise ValueError("sigma must be positive")
    precision = 1.0 / np.square(sigma)
    var = 1.0 / precision.sum()
    return float(var * (precision * mu).sum()), float(np.sqrt(var))
