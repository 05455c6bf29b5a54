"""Evaluation measures: class entropy of an annotated set, products of Gaussians."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from bsqkit._deprecation import renamed_keywords

__all__ = [
    "class_entropy",
    "dice_score",
    "gaussian_product",
    "latent_coverage",
    "mean_surface_distance",
]


def class_entropy(labels: ArrayLike, n_classes: int | None = None) -> float:
    """Entropy ``H(c) = -sum_c p(c) log p(c)`` (nats) of the class proportions (Fig. A.6).

    Its upper limit, reached by uniform proportions, is ``log(n_classes)``.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Class labels of the annotated samples: ints in ``[0, n_classes)``, or any
        hashable values (strings, floats) counted as they are.
    n_classes : int, optional
        Number of classes; checks that integer labels lie in ``[0, n_classes)`` and
        that there are no more distinct labels than classes (absent classes add nothing).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.metrics import class_entropy
    >>> round(class_entropy([0, 1, 2, 3], n_classes=4), 4), round(float(np.log(4)), 4)
    (1.3863, 1.3863)
    >>> round(class_entropy(["cat", "dog", "dog", "cat"]), 4)  # log 2
    0.6931
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        raise ValueError("labels contains NaN or inf")
    values, counts = np.unique(labels, return_counts=True)
    if n_classes is not None:
        numeric = labels.dtype.kind in "iuf"
        if numeric and labels.dtype.kind == "f" and not np.all(values == np.round(values)):
            raise ValueError("with n_classes, labels must be whole numbers (class indices)")
        if numeric and (values[0] < 0 or values[-1] >= n_classes):
            raise ValueError(
                f"labels must be class indices in [0, {n_classes}), "
                f"got values from {values[0]} to {values[-1]}"
            )
        if len(values) > n_classes:
            raise ValueError(f"labels hold {len(values)} distinct classes, n_classes={n_classes}")
    p = counts / labels.size
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

    Examples
    --------
    >>> from bsqkit.metrics import gaussian_product
    >>> mean, std = gaussian_product([0.0, 2.0], [1.0, 1.0])  # two unit Gaussians at 0 and 2
    >>> round(mean, 4), round(std, 4)
    (1.0, 0.7071)
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


@renamed_keywords(codes_annotated="codes_labeled")
def latent_coverage(codes_labeled: ArrayLike, codes_pool: ArrayLike) -> tuple[float, float]:
    """Where the annotated set sits in the latent space (paper Fig. A.7): the product of
    its per-dimension Gaussians (:func:`gaussian_product`), its mean minus the pool's.

    Parameters
    ----------
    codes_labeled : array-like of shape (n_labeled, n_dims)
        The annotated set's codes.
    codes_pool : array-like of shape (n_pool, n_dims)
        The whole pool's codes, annotated ones included.

    Returns
    -------
    mean_shift : float
        0 when the annotated set is centred on the pool.
    std : float
        The annotated product's standard deviation.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.metrics import latent_coverage
    >>> pool = np.random.RandomState(0).normal(size=(1000, 5))
    >>> shift, std = latent_coverage(pool[pool[:, 0] > 1], pool)  # one side of the pool
    >>> shift > 0.2, abs(latent_coverage(pool[::2], pool)[0]) < 0.05
    (True, True)
    """
    from bsqkit.functional import fit_diagonal_gaussian

    pool_mean, _ = gaussian_product(*fit_diagonal_gaussian(np.asarray(codes_pool)))
    mean, std = gaussian_product(
        *fit_diagonal_gaussian(np.asarray(codes_labeled), min_sigma=1e-12)
    )
    return mean - pool_mean, std


def dice_score(
    prediction: ArrayLike, target: ArrayLike, labels: Sequence[int] | None = None
) -> NDArray:
    """Dice ``2 |P n G| / (|P| + |G|)`` per label (paper Sec. 3).

    Parameters
    ----------
    prediction, target : array-like of int, same shape (any dimension)
        Label maps (or two binary masks).
    labels : sequence of int, optional
        The labels to score; by default every non-zero label present in either map, in
        increasing order (for two masks: the foreground), or ``[1.0]`` when neither map
        has foreground.

    Returns
    -------
    ndarray of shape (n_labels,)
        1.0 where a label is absent from both maps (nothing to find, nothing found).

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.metrics import dice_score
    >>> target = np.array([[0, 1, 1], [0, 2, 2]])
    >>> prediction = np.array([[0, 1, 0], [0, 2, 2]])
    >>> dice_score(prediction, target, labels=[1, 2])  # 2 |A & B| / (|A| + |B|)
    array([0.66666667, 1.        ])
    >>> dice_score(prediction > 0, target > 0)  # two masks: the foreground's Dice
    array([0.85714286])
    """
    prediction, target = np.asarray(prediction), np.asarray(target)
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {prediction.shape} and target {target.shape} differ")
    if labels is None:
        present = np.union1d(np.unique(prediction), np.unique(target))
        labels = present[present != 0].tolist()
        if not labels:
            return np.ones(1)  # no foreground in either: nothing to find, nothing found
    out = np.empty(len(labels))
    for k, label in enumerate(labels):
        p, g = prediction == label, target == label
        total = p.sum() + g.sum()
        out[k] = 1.0 if total == 0 else 2.0 * np.logical_and(p, g).sum() / total
    return out


def _contour(mask: NDArray[np.bool_], in_plane_axis: int | None = None) -> NDArray[np.bool_]:
    # mask minus its erosion by a full 3 x 3 (x 3) neighbourhood, or by a 3 x 3 one
    # within each slice across ``in_plane_axis``
    shape = [3] * mask.ndim
    if in_plane_axis is not None:
        shape[in_plane_axis] = 1
    structure = np.ones(shape, dtype=bool)
    return mask & ~ndimage.binary_erosion(mask, structure=structure)


def mean_surface_distance(
    prediction: ArrayLike,
    target: ArrayLike,
    spacing: Sequence[float] | None = None,
    contour: str = "3d",
    slice_axis: int = 0,
) -> float:
    """Symmetric mean surface distance between two binary masks (paper Eq. 11), in mm.

    Contours are each mask minus its erosion by a 3 x 3 x 3 (3 x 3 in 2-D) element; every
    contour point's distance to the nearest point of the other contour is measured with
    the voxel ``spacing`` (anisotropic voxels handled), and the sum over both contours is
    divided by the number of contour points.

    With thick slices the 3-D erosion makes most of a structure's voxels contour (at
    10 mm slices, 40-98 %), so an in-plane shift scores little; ``contour="in-plane"``
    erodes within each slice only (the contour a reader draws on a slice), distances
    staying 3-D.

    Parameters
    ----------
    prediction, target : array-like of bool, same shape (2-D or 3-D)
        The predicted and the true mask of one structure (cast to bool).
    spacing : sequence of float, optional
        Voxel size per axis in mm; 1 by default.
    contour : {"3d", "in-plane"}, default="3d"
        The paper's 3 x 3 x 3 erosion, or a 3 x 3 erosion within each slice.
    slice_axis : int, default=0
        The axis across slices, for ``contour="in-plane"``.

    Returns
    -------
    float
        0.0 when both masks are empty; when exactly one is empty, the length of the
        image's diagonal in mm (the largest distance possible), so that averages stay
        finite and such a miss is penalised the most.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.metrics import mean_surface_distance
    >>> target = np.zeros((8, 8, 8), bool)
    >>> target[2:6, 2:6, 2:6] = True
    >>> shifted = np.roll(target, 1, axis=2)  # one voxel along the last axis
    >>> msd = mean_surface_distance(shifted, target, spacing=(1.0, 1.0, 1.0))
    >>> coarse = mean_surface_distance(shifted, target, spacing=(1.0, 1.0, 2.0))
    >>> round(msd, 3), round(coarse / msd, 3)  # twice the voxel size, twice the distance
    (0.357, 1.8)
    """
    prediction = np.asarray(prediction, dtype=bool)
    target = np.asarray(target, dtype=bool)
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {prediction.shape} and target {target.shape} differ")
    spacing = np.ones(prediction.ndim) if spacing is None else np.asarray(spacing, float)
    if spacing.shape != (prediction.ndim,) or not np.all(np.isfinite(spacing) & (spacing > 0)):
        raise ValueError(
            f"spacing must be {prediction.ndim} positive finite numbers (mm), got {spacing}"
        )
    if contour not in ("3d", "in-plane"):
        raise ValueError(f"contour must be '3d' or 'in-plane', got {contour!r}")
    axis = None if contour == "3d" else slice_axis
    c_pred, c_target = _contour(prediction, axis), _contour(target, axis)
    if not c_pred.any() and not c_target.any():
        return 0.0
    if not c_pred.any() or not c_target.any():
        return float(np.sqrt(np.sum((np.array(prediction.shape) * spacing) ** 2)))
    # the distance maps only over the box that holds both contours: every nearest
    # contour point lies inside it, so the distances are exact (and much cheaper)
    box = tuple(slice(int(idx.min()), int(idx.max()) + 1) for idx in np.nonzero(c_pred | c_target))
    c_pred, c_target = c_pred[box], c_target[box]
    to_target = ndimage.distance_transform_edt(~c_target, sampling=spacing)
    to_pred = ndimage.distance_transform_edt(~c_pred, sampling=spacing)
    total = to_target[c_pred].sum() + to_pred[c_target].sum()
    return float(total / (c_pred.sum() + c_target.sum()))
