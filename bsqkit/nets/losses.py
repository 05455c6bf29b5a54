"""Losses of the networks: MMD with a dimension-scaled Gaussian kernel, class weights."""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

__all__ = ["gaussian_kernel", "inverse_frequency_weights", "mmd"]


def gaussian_kernel(a: torch.Tensor, b: torch.Tensor, bandwidth: float | None = None):
    """``k(a, b) = exp(-||a - b||^2 / bandwidth)``, by default ``bandwidth = n_latent``.

    bsqkit's choice of kernel, documented as such. The paper writes
    ``exp(-||z - z'|| / 2 sigma^2)`` with sigma = 1; at 200 dimensions that kernel is flat
    (two N(0, I) samples are about 20 apart) and MMD carries no signal. Zhao et al.'s
    reference code computes ``exp(-mean_d (z - z')^2 / d)``, i.e.
    ``exp(-||z - z'||^2 / d^2)``, also nearly flat at d = 200 (mean kernel value 0.99).
    Here the squared distance is divided by ``d`` once: the squared distance of two
    N(0, I) samples is about ``2 d``, so typical kernel values stay near ``exp(-2)`` at
    any dimension, and the MMD term separates N(0, I) from shifted codes at d = 5 and
    d = 200 alike (tested).

    Parameters
    ----------
    a : Tensor of shape (n, d)
        First set of points (e.g. latent codes).
    b : Tensor of shape (m, d)
        Second set of points, of the same dimension ``d``.
    bandwidth : float, optional
        Divides the squared distance; None: ``d``, the number of dimensions.

    Returns
    -------
    Tensor of shape (n, m)

    Examples
    --------
    >>> import torch
    >>> from bsqkit.nets import gaussian_kernel
    >>> k = gaussian_kernel(torch.zeros(2, 4), torch.ones(3, 4))
    >>> tuple(k.shape), round(float(k[0, 0]), 4)  # exp(-||a - b||^2 / d) with d = 4
    ((2, 3), 0.3679)
    """
    bandwidth = float(a.shape[1]) if bandwidth is None else bandwidth
    return torch.exp(-torch.cdist(a, b).square() / bandwidth)


def mmd(z: torch.Tensor, z_prior: torch.Tensor, bandwidth: float | None = None) -> torch.Tensor:
    """Maximum mean discrepancy between two samples (paper Eq. 6), biased estimate.

    Parameters
    ----------
    z : Tensor of shape (n, d)
        Encoded codes.
    z_prior : Tensor of shape (m, d)
        Samples of the prior, N(0, I).
    bandwidth : float, optional
        Kernel bandwidth; default ``d``, as :func:`gaussian_kernel`.

    Returns
    -------
    Tensor of shape ()

    Examples
    --------
    >>> import torch
    >>> from bsqkit.nets import mmd
    >>> g = torch.Generator().manual_seed(0)
    >>> prior = torch.randn(500, 5, generator=g)
    >>> near, far = torch.randn(500, 5, generator=g), torch.randn(500, 5, generator=g) + 2
    >>> bool(mmd(near, prior) < 0.05 < mmd(far, prior))
    True
    """
    return (
        gaussian_kernel(z, z, bandwidth).mean()
        + gaussian_kernel(z_prior, z_prior, bandwidth).mean()
        - 2 * gaussian_kernel(z, z_prior, bandwidth).mean()
    )


def inverse_frequency_weights(labels: ArrayLike, n_classes: int) -> NDArray[np.float32]:
    """Class weights ``n_pixels / (n_classes * count_c)`` (classes absent get weight 0).

    Parameters
    ----------
    labels : array-like of int, any shape
        Class of each pixel, in ``[0, n_classes)``.
    n_classes : int
        Number of classes including background: the length of the result.

    Returns
    -------
    ndarray of shape (n_classes,)

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.nets import inverse_frequency_weights
    >>> inverse_frequency_weights(np.array([0, 0, 0, 1]), n_classes=2)
    array([0.6666667, 2.       ], dtype=float32)
    """
    labels = np.asarray(labels)
    counts = np.bincount(labels.ravel(), minlength=n_classes).astype(np.float64)
    if counts.shape[0] > n_classes:
        raise ValueError(f"labels hold classes >= n_classes={n_classes}")
    weights = np.divide(labels.size, n_classes * counts, out=np.zeros(n_classes), where=counts > 0)
    return weights.astype(np.float32)
