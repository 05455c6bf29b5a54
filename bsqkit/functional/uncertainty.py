"""Reductions of model predictions to one uncertainty value per image."""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from scipy.special import entr

__all__ = ["mc_dropout_variance", "predictive_entropy"]


def mc_dropout_variance(mc_probas: ArrayLike | torch.Tensor) -> NDArray[np.float64]:
    """MC-dropout uncertainty of paper Eq. 2, for one batch of images.

    Per pixel and class, the variance over the MC passes (population variance,
    ``ddof=0``); then the spatial mean (Eq. 2); then the mean over classes (the paper's
    multi-class rule). Works on numpy arrays and on torch tensors on any device (the
    reduction runs there; only the ``(n_images,)`` result comes back).

    Parameters
    ----------
    mc_probas : array-like or torch.Tensor of shape (n_mc, n_images, n_classes, ...)
        Class probabilities of ``n_mc >= 2`` stochastic passes. The trailing spatial axes may
        be none (a classifier) or ``(H, W)``, ``(D, H, W)``...

    Returns
    -------
    ndarray of shape (n_images,)

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.functional import mc_dropout_variance
    >>> stable, flipped = [0.9, 0.1], [0.1, 0.9]
    >>> p = np.array([[stable, stable], [stable, flipped], [stable, stable]])
    >>> mc_dropout_variance(p).round(4)
    array([0.    , 0.1422])
    """
    probas = torch.as_tensor(mc_probas)
    if probas.ndim < 3:
        raise ValueError(
            "mc_probas must have shape (n_mc, n_images, n_classes, *spatial), "
            f"got {tuple(probas.shape)}"
        )
    if probas.shape[0] < 2:
        raise ValueError(f"need at least 2 MC passes for a variance, got {probas.shape[0]}")
    probas = probas.to(torch.float64) if not probas.is_floating_point() else probas
    var = probas.var(dim=0, correction=0)  # (n_images, n_classes, *spatial)
    per_image = var.flatten(start_dim=1).mean(dim=1)  # equal-size classes: mean of means
    return per_image.detach().cpu().numpy().astype(np.float64)


def predictive_entropy(probas: ArrayLike) -> NDArray[np.float64]:
    """Shannon entropy (nats) of predicted class probabilities.

    The uncertainty used for estimators without MC sampling (plain scikit-learn
    classifiers with ``predict_proba``).

    Parameters
    ----------
    probas : array-like of shape (n_samples, n_classes, ...)
        Probabilities along axis 1; for segmentation maps the pixel entropies are
        averaged over the spatial axes.

    Returns
    -------
    ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.functional import predictive_entropy
    >>> predictive_entropy(np.array([[1.0, 0.0], [0.5, 0.5]])).round(4)  # 0 and log 2
    array([0.    , 0.6931])
    """
    probas = np.asarray(probas, dtype=np.float64)
    if probas.ndim < 2:
        raise ValueError(f"probas must have shape (n_samples, n_classes, ...), got {probas.shape}")
    ent = entr(probas).sum(axis=1)
    return ent.reshape(ent.shape[0], -1).mean(axis=1)
