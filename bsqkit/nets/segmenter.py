"""``NeuralNetSegmenter``: the MC-dropout FCN as a scikit-learn/skorch estimator."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from skorch import NeuralNet
from skorch.utils import to_tensor
from torch import nn
from torch.utils.data import RandomSampler

from bsqkit.functional.uncertainty import softmax_
from bsqkit.nets._common import ImageNetMixin, as_images, seed_from, seeded
from bsqkit.nets.losses import inverse_frequency_weights
from bsqkit.nets.modules import DCANLikeFCN

__all__ = ["NeuralNetSegmenter"]


def softmax_channels(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the class axis (1) of (N, C, H, W) logits."""
    return torch.softmax(logits, dim=1)


def _mc_head_passes(
    module: nn.Module,
    features: list[torch.Tensor],
    x: torch.Tensor,
    n_mc: int,
    group_bytes: int,
) -> torch.Tensor:
    """Logits of ``n_mc`` stochastic head passes, shape (n_mc, n_batch, n_classes, H, W).

    Repeating the features ``g`` times along the batch axis runs ``g`` passes in one
    call: dropout draws a mask per sample and channel, so the copies are independent
    passes, with ``g`` times fewer kernel launches.
    """
    per_pass = sum(f.numel() * f.element_size() for f in features)
    group = max(1, min(n_mc, group_bytes // max(per_pass, 1)))
    size = tuple(x.shape[-2:])
    draws = []
    for start in range(0, n_mc, group):
        g = min(group, n_mc - start)
        repeated = features if g == 1 else [f.repeat(g, 1, 1, 1) for f in features]
        logits = module.head(repeated, size)
        draws.append(logits.view(g, len(x), *logits.shape[1:]))
    return torch.cat(draws)


def _mc_full_passes(module: nn.Module, x: torch.Tensor, n_mc: int, group_bytes: int):
    """Logits of ``n_mc`` full stochastic passes (dropout in the trunk), stacked in the
    batch axis ``g`` at a time, ``g`` bounded by the memory of one pass's features
    (measured on the first pass)."""
    size = tuple(x.shape[-2:])
    features = module.trunk(x)
    per_pass = sum(f.numel() * f.element_size() for f in features)
    draws = [module.head(features, size)[None]]
    del features
    group = max(1, min(n_mc - 1, group_bytes // max(per_pass, 1)))
    for start in range(1, n_mc, group):
        g = min(group, n_mc - start)
        logits = module(x.repeat(g, 1, 1, 1) if g > 1 else x)
        draws.append(logits.view(g, len(x), *logits.shape[1:]))
    return torch.cat(draws)


class NeuralNetSegmenter(ImageNetMixin, NeuralNet):
    """A segmentation network trained with skorch, with MC-dropout uncertainty.

    Implements bsqkit's ``predict_proba_mc`` (for :class:`~bsqkit.UncertaintyQuery`,
    :class:`~bsqkit.BayesianSampleQuery`) and ``image_descriptors`` (for
    :class:`~bsqkit.SuggestiveAnnotationQuery`). The paper's settings are the defaults:
    Adam with learning rate 5e-4, batches of 8, inverse-frequency weighted cross-entropy,
    random horizontal flips with p = 0.5, ``n_mc`` = 17.

    Parameters
    ----------
    n_classes : int, default=2
        Number of classes including background.
    module : type or nn.Module, default=DCANLikeFCN
        Configured by ``module__*`` parameters (``module__width``, ``module__depth``,
        ``module__in_channels``, ``module__p_dropout``).
    max_steps : int or None, default=None
        Training length in optimiser steps (8000 in the paper); overrides
        ``max_epochs`` when set.
    max_epochs : int, default=10
        Training length in passes over the training images; ignored when ``max_steps``
        is set.
    lr : float, default=5e-4
        Learning rate of the optimiser (Adam by default).
    batch_size : int, default=8
        Training images per optimiser step.
    flip_p : float, default=0.5
        Probability of a horizontal flip of each training image.
    class_weight : {"balanced"} or None, default="balanced"
        Inverse-frequency weights from the training labels of each ``fit``.
    dropout : {"head", "blocks"}, default="head"
        Where the module's spatial dropout sits (:class:`~bsqkit.nets.DCANLikeFCN`):
        before each level's classifier (MC sampling reruns the head only) or after
        every convolution block (every MC pass is a full one).
    random_state : int or None, default=None
        Seeds initialisation, shuffling, flips and dropout during ``fit``.
    mc_group_mb : float or None, default=None
        Memory for running several MC passes at once (repeated trunk features, or
        repeated inputs with dropout in the blocks, per batch); ``None`` is 32 MB on the
        CPU and 256 MB on CUDA, where fewer, larger kernels pay off. A module with a
        batched ``mc_head`` (:class:`~bsqkit.nets.DCANLikeFCN`) runs all head passes at
        once and is bounded by the batch size instead. Memory stays independent of the
        pool size either way.
    inference_batch_size : int, default=64
        Images per batch in ``predict``, ``predict_proba``, ``predict_proba_mc`` and
        ``image_descriptors`` (training uses ``batch_size``); ``predict_proba_mc`` takes
        fewer when a batch's ``n_mc`` passes of probabilities would exceed
        ``mc_group_mb`` (at least 16 MB).
    progress_bar : bool, default=True
        One bar named "segmenter" over the training steps (or epochs), with the training
        loss (on a terminal).
    device : str, default="cpu"
        ``"cpu"`` or ``"cuda"``.
    criterion, optimizer, train_split, predict_nonlinearity, iterator_train__shuffle, \
verbose
        skorch's parameters, with the defaults above (weighted cross-entropy, Adam, no
        validation split, softmax over the class axis, shuffled batches, quiet).
    **kwargs
        Any other skorch ``NeuralNet`` parameter.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.nets import NeuralNetSegmenter
    >>> X = np.random.RandomState(0).rand(4, 20, 20).astype("float32")
    >>> y = (X > 0.5).astype("int64")
    >>> seg = NeuralNetSegmenter(n_classes=2, max_steps=2, progress_bar=False,
    ...                          module__width=4, module__depth=2).fit(X, y)
    >>> seg.predict(X).shape, seg.predict_proba(X).shape
    ((4, 20, 20), (4, 2, 20, 20))
    """

    _progress_desc = "segmenter"

    def __init__(
        self,
        n_classes: int = 2,
        module: Any = DCANLikeFCN,
        *,
        criterion: Any = nn.CrossEntropyLoss,
        optimizer: Any = torch.optim.Adam,
        lr: float = 5e-4,
        max_epochs: int = 10,
        max_steps: int | None = None,
        batch_size: int = 8,
        flip_p: float = 0.5,
        class_weight: str | None = "balanced",
        dropout: str = "head",
        random_state: int | None = None,
        mc_group_mb: float | None = None,
        inference_batch_size: int = 64,
        progress_bar: bool = True,
        train_split: Any = None,
        predict_nonlinearity: Any = softmax_channels,
        iterator_train__shuffle: bool = True,
        verbose: int = 0,
        device: str = "cpu",
        **kwargs: Any,
    ):
        kwargs.setdefault("torch_load_kwargs", {"weights_only": True})
        self.n_classes = n_classes
        self.max_steps = max_steps
        self.flip_p = flip_p
        self.class_weight = class_weight
        self.dropout = dropout
        self.random_state = random_state
        self.mc_group_mb = mc_group_mb
        self.inference_batch_size = inference_batch_size
        self.progress_bar = progress_bar
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            predict_nonlinearity=predict_nonlinearity,
            iterator_train__shuffle=iterator_train__shuffle,
            verbose=verbose,
            device=device,
            **kwargs,
        )

    # -- construction -------------------------------------------------------------
    def initialize_module(self):
        kwargs = self.get_params_for("module")
        if self.dropout not in ("head", "blocks"):
            raise ValueError(f"dropout must be 'head' or 'blocks', got {self.dropout!r}")
        # bsqkit's own options go to modules that take them; any other module (a MONAI
        # UNet, say) is configured by its module__* parameters alone
        accepted = (
            inspect.signature(self.module).parameters if isinstance(self.module, type) else {}
        )
        if "n_classes" in accepted:
            kwargs.setdefault("n_classes", self.n_classes)
        if "dropout" in accepted and accepted["dropout"].default in ("head", "blocks"):
            kwargs.setdefault("dropout", self.dropout)
        elif self.dropout != "head":
            raise ValueError(
                f"dropout={self.dropout!r} needs a module class with a dropout placement "
                f"parameter (like DCANLikeFCN's), got {self.module!r}"
            )
        self.module_ = self.initialized_instance(self.module, kwargs)
        return self

    def initialize_criterion(self):
        kwargs = self.get_params_for("criterion")
        weight = getattr(self, "class_weight_", None)
        if weight is not None:
            kwargs.setdefault("weight", torch.as_tensor(weight))
        # on the net's device also when called again by a warm-started fit
        self.criterion_ = self.initialized_instance(self.criterion, kwargs).to(self.device)
        return self

    def get_iterator(self, dataset, training=False):
        if training and self.max_steps is not None:
            # a training "epoch" is exactly max_steps batches
            kwargs = self.get_params_for("iterator_train")
            kwargs.pop("shuffle", None)
            batch_size = kwargs.pop("batch_size", self.batch_size)
            sampler = RandomSampler(dataset, num_samples=self.max_steps * batch_size)
            return self.iterator_train(
                dataset, batch_size=batch_size, sampler=sampler, drop_last=False, **kwargs
            )
        return super().get_iterator(dataset, training=training)

    # -- training -----------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> NeuralNetSegmenter:
        """Train on images and integer label maps.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, C, H, W)
        y : array-like of int of shape (n_samples, H, W)
            Labels in ``[0, n_classes)``.

        Returns
        -------
        self
        """
        X = as_images(X)
        if y is None:
            raise ValueError("y (label maps of shape (n_samples, H, W)) is required")
        y = np.asarray(y)
        if y.shape != (X.shape[0], *X.shape[2:]):
            raise ValueError(
                f"y must have shape {(X.shape[0], *X.shape[2:])} to match X, got {y.shape}"
            )
        if not np.issubdtype(y.dtype, np.integer):
            raise TypeError(f"y must hold integer labels, got dtype {y.dtype}")
        if y.min() < 0 or y.max() >= self.n_classes:
            raise ValueError(f"y must be in [0, {self.n_classes}), got [{y.min()}, {y.max()}]")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}")
        if self.class_weight not in ("balanced", None):
            raise ValueError(f"class_weight must be 'balanced' or None, got {self.class_weight!r}")
        self.class_weight_ = (
            inverse_frequency_weights(y, self.n_classes) if self.class_weight else None
        )
        if self.warm_start and self.initialized_ and self.class_weight_ is not None:
            # fine-tuning keeps the network but takes the new labels' class weights
            self.initialize_criterion()
        epochs = 1 if self.max_steps is not None else self.max_epochs
        with seeded(seed_from(self.random_state), self.device):
            self._flip_generator = torch.Generator().manual_seed(
                int(torch.randint(2**31 - 1, ()).item())
            )
            if not self.warm_start or not self.initialized_:
                self.initialize()
            self.partial_fit(X, y.astype(np.int64), epochs=epochs, **fit_params)
        return self

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = batch
        if self.flip_p > 0:
            flip = torch.rand(len(Xi), generator=self._flip_generator) < self.flip_p
            Xi = torch.where(flip[:, None, None, None], Xi.flip(-1), Xi)
            yi = torch.where(flip[:, None, None], yi.flip(-1), yi)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    # -- inference ----------------------------------------------------------------
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of shape (n_samples, n_classes, H, W), dropout off."""
        self.check_is_fitted()
        module = self.module_
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                nonlinearity = self._get_predict_nonlinearity()
                parts = [nonlinearity(module(x)).cpu() for x in self._batches(X)]
        finally:
            module.train(was_training)
        return torch.cat(parts).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Label maps of shape (n_samples, H, W)."""
        return self.predict_proba(X).argmax(axis=1)

    def _batches(self, X: Any, size: int | None = None) -> Iterator[torch.Tensor]:
        # plain slicing, not a DataLoader: its iterator draws from torch's global RNG
        X = as_images(X)
        size = size or self.inference_batch_size
        for start in range(0, len(X), size):
            yield to_tensor(torch.from_numpy(X[start : start + size]), self.device)

    def _pool_batches(
        self, X: np.ndarray, size: int, position: tuple[int, int] | None
    ) -> Iterator[tuple[int, torch.Tensor, slice | None]]:
        """The batches of the pool that ``X`` is part of: (batch number in the pool, the
        batch with zeros for the rows outside ``X``, the rows of ``X`` in it or None when
        it is all of ``X``'s)."""
        if position is None:
            for b, x in enumerate(self._batches(X, size)):
                yield b, x, None
            return
        start, total = (int(v) for v in position)
        if not 0 <= start <= total - len(X):
            raise ValueError(f"position (start, n_total) = {position} does not hold {len(X)} rows")
        end = start + len(X)
        for b in range(start // size, (end - 1) // size + 1):
            lo, hi = b * size, min((b + 1) * size, total)
            inside = slice(max(lo, start) - lo, min(hi, end) - lo)
            batch = np.zeros((hi - lo, *X.shape[1:]), dtype=X.dtype)
            batch[inside] = X[max(lo, start) - start : min(hi, end) - start]
            full = inside.start == 0 and inside.stop == hi - lo
            yield b, to_tensor(torch.from_numpy(batch), self.device), None if full else inside

    def predict_proba_mc(
        self,
        X: Any,
        *,
        n_mc: int = 17,
        random_state: int | None = None,
        position: tuple[int, int] | None = None,
    ) -> Iterator[torch.Tensor]:
        """Monte-Carlo dropout probabilities, streamed batch by batch.

        Only the dropout modules are stochastic (batch normalisation stays in inference
        mode). When the module has a deterministic ``trunk`` followed by a stochastic
        ``head``, the trunk runs once per batch and only the head ``n_mc`` times: with
        :class:`~bsqkit.nets.DCANLikeFCN` (``dropout="head"``) all passes at once in
        one batched product (:meth:`~bsqkit.nets.DCANLikeFCN.mc_head`); with another
        module several passes at once (the features repeated along the batch axis, each
        copy with its own dropout masks), in groups of at most ``mc_group_mb`` of
        repeated features. With dropout
        in the trunk (``dropout="blocks"``) every pass is a full one; they are stacked
        along the batch axis the same way, in groups of at most ``mc_group_mb`` of one
        pass's features.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, C, H, W)
        n_mc : int, default=17
        random_state : int, RandomState instance or None, optional
            Seed of the dropout masks (the caller's torch RNG is left untouched); None
            draws fresh masks on every call.
        position : tuple of 2 int, optional
            ``(start, n_total)``: ``X`` holds rows ``start`` to ``start + len(X)`` of a
            pool of ``n_total`` images, and gets the masks those rows get in one call on
            the whole pool (each batch of the pool is seeded by its place in the pool;
            a batch that straddles the edge of ``X`` runs padded to its size in the
            pool), so that a pool split into blocks (Dask) gives the probabilities of
            the pool in memory.

        Yields
        ------
        Tensor of shape (n_mc, n_batch, n_classes, H, W)
            On the estimator's device, made under :func:`torch.inference_mode` (an
            inference tensor: ``clone()`` it before changing it in place outside that
            mode). Its memory order is the fastest for the module (channels-last for
            :class:`~bsqkit.nets.DCANLikeFCN`'s batched head), not necessarily contiguous.
        """
        self.check_is_fitted()
        module = self.module_
        dropouts = [m for m in module.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
        if not dropouts:
            raise TypeError("the module has no dropout layer: MC sampling would be constant")
        split = hasattr(module, "trunk") and hasattr(module, "head")
        stochastic_trunk = split and getattr(module, "stochastic_trunk", False)
        group_mb = self.mc_group_mb
        if group_mb is None:
            group_mb = 256 if torch.device(self.device).type == "cuda" else 32
        if random_state is None:
            # fresh masks on every call, from the OS's entropy
            random_state = int(np.random.SeedSequence().generate_state(1)[0]) % (2**31 - 1)
        base_seed = seed_from(random_state)
        # the yielded (n_mc, batch, classes, H, W) probabilities of a batch stay within
        # max(mc_group_mb, 16 MB): fewer images per batch when the passes are many
        X = as_images(X)
        per_image = n_mc * self.n_classes * X.shape[-2] * X.shape[-1] * 4
        budget = max(int(group_mb * 2**20), 16 * 2**20)
        size = max(1, min(self.inference_batch_size, budget // per_image))
        for b, x, rows in self._pool_batches(X, size, position):
            modes = [m.training for m in module.modules()]
            try:
                module.eval()
                for m in dropouts:
                    m.train()
                with torch.inference_mode(), seeded(base_seed + b, self.device):
                    if stochastic_trunk:
                        logits = _mc_full_passes(module, x, n_mc, int(group_mb * 2**20))
                    elif hasattr(module, "mc_head"):
                        # all passes in one batched product (DCANLikeFCN)
                        logits = module.mc_head(module.trunk(x), tuple(x.shape[-2:]), n_mc)
                    elif split:
                        logits = _mc_head_passes(
                            module, module.trunk(x), x, n_mc, int(group_mb * 2**20)
                        )
                    else:
                        logits = torch.stack([module(x) for _ in range(n_mc)])
                    probas = softmax_(logits, dim=2)  # the logits are ours to overwrite
            finally:
                for m, mode in zip(module.modules(), modes, strict=True):
                    m.training = mode
            yield probas if rows is None else probas[:, rows]

    def image_descriptors(self, X: Any) -> np.ndarray:
        """Global average pool of the abstraction layer, shape (n_samples, n_channels).

        The image descriptor of Suggestive Annotation (paper Sec. 2.4).
        """
        self.check_is_fitted()
        module = self.module_
        if not hasattr(module, "trunk"):
            raise TypeError("image_descriptors needs a module with a trunk() method")
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                parts = [module.trunk(x)[-1].mean(dim=(-2, -1)).cpu() for x in self._batches(X)]
        finally:
            module.train(was_training)
        return torch.cat(parts).numpy().astype(np.float64)
