"""Reductions of model predictions to one uncertainty value per image."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from scipy.special import entr

from bsqkit._dask import on_model

__all__ = [
    "estimate_uncertainty",
    "mc_dropout_variance",
    "mc_progress",
    "predictive_entropy",
]

# whether estimate_uncertainty shows a progress bar when not told (mc_progress)
_SHOW_PROGRESS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "bsqkit_mc_progress", default=False
)


@contextlib.contextmanager
def mc_progress(show: bool = True) -> Iterator[None]:
    """Show (or hide) the "MC dropout" progress bar of every uncertainty estimate made
    inside the block, the strategies' included (on a terminal).

    Parameters
    ----------
    show : bool, default=True
        True shows the bar, False hides it, in estimates not given ``progress``; the
        previous setting returns when the block ends.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from bsqkit.functional import estimate_uncertainty, mc_progress
    >>> clf = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> with mc_progress():
    ...     estimate_uncertainty(clf, np.zeros((2, 1))).shape
    (2,)
    """
    token = _SHOW_PROGRESS.set(show)
    try:
        yield
    finally:
        _SHOW_PROGRESS.reset(token)


def in_memory_order(tensor: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    """A view of ``tensor`` with its axes in memory order, and the order.

    Element-wise operations and reductions run several times faster on the CPU over
    a contiguous view than over a permuted one (the MC head's logits come out
    channels-last, for instance). For a dense tensor the view is contiguous; axis ``a``
    of ``tensor`` is axis ``order.index(a)`` of the view.
    """
    order = sorted(range(tensor.ndim), key=lambda a: (-tensor.stride(a), a))
    return tensor.permute(order), order


def softmax_(logits: torch.Tensor, dim: int) -> torch.Tensor:
    """Softmax over ``dim``, in place (``logits`` becomes the probabilities).

    No second tensor the size of the logits; the largest logit is subtracted first,
    so that ``exp`` cannot overflow. ``logits`` must own its elements (no expanded,
    zero-stride axis): they are overwritten.
    """
    view, order = in_memory_order(logits)
    dim = order.index(dim % logits.ndim)
    view.sub_(view.amax(dim, keepdim=True)).exp_()
    view.div_(view.sum(dim, keepdim=True))
    return logits


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
    # two passes (mean, then squared deviations) over the memory-order view: several
    # times faster than Tensor.var on the CPU, and as stable
    view, order = in_memory_order(probas.detach())
    mc, image = order.index(0), order.index(1)
    deviation = view - view.mean(dim=mc, keepdim=True)
    deviation.square_()
    # population variance per pixel and class, then the spatial mean (Eq. 2), then the
    # mean over classes: with equal-size classes, one mean over all but the image axis
    others = [a for a in range(view.ndim) if a != image]
    per_image = deviation.mean(dim=others)
    return per_image.cpu().numpy().astype(np.float64)


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


def estimate_uncertainty(
    estimator: Any,
    X: Any,
    *,
    n_mc: int = 17,
    random_state: int | None = None,
    progress: bool | None = None,
    position: tuple[int, int] | None = None,
) -> NDArray[np.float64]:
    """One uncertainty value per sample of ``X`` from a fitted estimator.

    With an estimator that supports MC sampling (:class:`bsqkit.SupportsMCDropout`),
    the MC-dropout variance of paper Eq. 2, reduced batch by batch as the estimator
    streams them (memory independent of ``len(X)``). Otherwise the predictive entropy
    of ``predict_proba`` (a documented fallback for plain scikit-learn classifiers).

    Parameters
    ----------
    estimator : fitted estimator
        With ``predict_proba_mc`` (MC dropout) or ``predict_proba``.
    X : array-like of shape (n_samples, ...)
        The samples to score, in the form the estimator predicts on.
    n_mc : int, default=17
        MC passes (the paper's value).
    random_state : int, optional
        Seed of the MC draws.
    progress : bool or None, default=None
        A progress bar named "MC dropout" over the images (on a terminal); None: as
        :func:`mc_progress` says (off by default).
    position : tuple of 2 int, optional
        ``(start, n_total)``: ``X`` is a block of a pool, passed on to an estimator whose
        ``predict_proba_mc`` takes it (:class:`~bsqkit.nets.NeuralNetSegmenter`), so that
        the block gets the masks it gets in the whole pool.

    Returns
    -------
    ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from bsqkit.functional import estimate_uncertainty
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> clf = LogisticRegression().fit(X, [0, 0, 1, 1])
    >>> unc = estimate_uncertainty(clf, np.array([[-5.0], [1.5]]))  # entropy without MC dropout
    >>> unc.shape, bool(unc[1] > unc[0])
    ((2,), True)
    """
    if estimator is None:
        raise ValueError("an estimator is required to estimate uncertainty")
    if callable(getattr(estimator, "predict_proba_mc", None)):  # SupportsMCDropout
        if n_mc < 2:
            raise ValueError(f"n_mc must be >= 2, got {n_mc}")
        from tqdm.auto import tqdm

        desc = f"MC dropout ({n_mc} passes)"
        show = _SHOW_PROGRESS.get() if progress is None else progress
        disable = None if show else True  # shown: on a terminal only
        parts = []
        with tqdm(total=len(X), desc=desc, unit="image", disable=disable, leave=False) as bar:
            where = {} if position is None else {"position": position}
            batches = estimator.predict_proba_mc(X, n_mc=n_mc, random_state=random_state, **where)
            for batch in batches:
                parts.append(mc_dropout_variance(batch))
                bar.update(len(parts[-1]))
        values = np.concatenate(parts) if parts else np.empty(0)
    elif hasattr(estimator, "predict_proba"):
        values = predictive_entropy(estimator.predict_proba(X))
    else:
        raise TypeError(
            f"estimator ({type(estimator).__name__}) supports neither predict_proba_mc "
            "nor predict_proba"
        )
    if values.shape != (len(X),):
        raise ValueError(
            f"estimator returned {values.shape[0]} uncertainties for {len(X)} samples"
        )
    if not np.isfinite(values).all():
        raise ValueError("estimator produced NaN or inf probabilities")
    return values


# -- on Dask pools: block by block, the same kernels ------------------------------


def block_uncertainty(
    block: NDArray, start: int, estimator: Any, n_mc: int, seed: int, n_total: int
) -> NDArray[np.float64]:
    """Uncertainty of a block of samples, the same wherever the block runs. An estimator
    whose ``predict_proba_mc`` takes ``position`` (bsqkit's segmenter) draws each row's
    masks as in the whole pool, so the values equal the in-memory ones; another gets
    masks seeded from ``seed`` and the block's first row."""
    import inspect

    sample = getattr(estimator, "predict_proba_mc", None)
    if sample is not None and "position" in inspect.signature(sample).parameters:
        where = {"random_state": seed, "position": (start, n_total)}
    else:
        block_seed = np.random.SeedSequence([seed, start]).generate_state(1)[0] % (2**31 - 1)
        where = {"random_state": int(block_seed)}
    return on_model(
        block, lambda b: estimate_uncertainty(estimator, b, n_mc=n_mc, progress=False, **where)
    )
