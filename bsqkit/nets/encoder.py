"""``MMDVAEEncoder``: the MMD-VAE as a scikit-learn transformer trained with skorch."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import TransformerMixin
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.utils import to_tensor
from torch import nn

from bsqkit.nets._common import ImageNetMixin, as_images, seed_from, seeded
from bsqkit.nets.losses import mmd
from bsqkit.nets.modules import MMDVAE

__all__ = ["MMDVAEEncoder"]


# images resized and normalised at a time: memory bounded for pools of any size
_PREPROCESS_CHUNK = 4096


class _EpochLossLog(Callback):
    """Record the epoch means of the reconstruction and MMD terms in the history."""

    def on_epoch_end(self, net, **kwargs):
        batches = net.history[-1, "batches"]
        for key in ("train_recon", "train_mmd"):
            values = [b[key] for b in batches if key in b]
            if values:
                net.history.record(key, float(np.mean(values)))


class MMDVAEEncoder(ImageNetMixin, TransformerMixin, NeuralNet):
    """An MMD-VAE (InfoVAE) encoder: images in, Gaussian-regularised codes out.

    Loss = mean squared reconstruction error + ``mmd_weight`` * MMD(codes, N(0, I)) with
    the dimension-scaled Gaussian kernel of :func:`bsqkit.nets.losses.mmd`. Images of
    any size are resized (bilinear) to ``input_size`` and normalised image-wise (zero
    mean, unit variance), as in the paper. The reconstruction and MMD terms of each
    epoch are in ``history`` (``train_recon``, ``train_mmd``).

    Parameters
    ----------
    n_latent : int, default=200
        Latent dimensions (200 in the paper, 5 for MNIST, 10 for MNIST + EMNIST).
    input_size : int, default=96
        Side in pixels of the square images the network sees; inputs are resized to it.
    module : type or nn.Module, default=MMDVAE
        Configured by ``module__*`` (``module__width``, ``module__n_blocks``).
    mmd_weight : float, default=1.0
        The lambda of the MMD term.
    lr : float, default=5e-5
        Learning rate of the optimiser (Adam by default).
    batch_size : int, default=32
        Images per training step, and per batch in ``transform`` and ``inverse_transform``.
    max_epochs : int, default=10
        Passes over the training images.
    random_state : int or None, default=None
        Seeds initialisation, shuffling and the prior samples of the MMD term during
        ``fit``; None: unseeded.
    progress_bar : bool, default=True
        One bar named "MMD-VAE" over the epochs, with the training loss (on a terminal).
    device : str, default="cpu"
        ``"cpu"`` or ``"cuda"``.
    criterion, optimizer, train_split, iterator_train__shuffle, verbose
        skorch's parameters (reconstruction loss MSE, Adam, no validation split,
        shuffled batches, quiet).
    **kwargs
        Any other skorch ``NeuralNet`` parameter.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.nets import MMDVAEEncoder
    >>> X = np.random.RandomState(0).rand(16, 28, 28).astype("float32")
    >>> enc = MMDVAEEncoder(n_latent=3, input_size=28, max_epochs=1, progress_bar=False,
    ...                     module__width=4).fit(X)
    >>> enc.transform(X).shape
    (16, 3)
    """

    _progress_desc = "MMD-VAE"

    def __init__(
        self,
        n_latent: int = 200,
        input_size: int = 96,
        module: Any = MMDVAE,
        *,
        mmd_weight: float = 1.0,
        criterion: Any = nn.MSELoss,
        optimizer: Any = torch.optim.Adam,
        lr: float = 5e-5,
        max_epochs: int = 10,
        batch_size: int = 32,
        random_state: int | None = None,
        progress_bar: bool = True,
        train_split: Any = None,
        iterator_train__shuffle: bool = True,
        verbose: int = 0,
        device: str = "cpu",
        **kwargs: Any,
    ):
        kwargs.setdefault("torch_load_kwargs", {"weights_only": True})
        self.n_latent = n_latent
        self.input_size = input_size
        self.mmd_weight = mmd_weight
        self.random_state = random_state
        self.progress_bar = progress_bar
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            iterator_train__shuffle=iterator_train__shuffle,
            verbose=verbose,
            device=device,
            **kwargs,
        )

    def get_default_callbacks(self):
        return [*super().get_default_callbacks(), ("epoch_losses", _EpochLossLog())]

    def initialize_module(self):
        kwargs = self.get_params_for("module")
        kwargs.setdefault("n_latent", self.n_latent)
        kwargs.setdefault("input_size", self.input_size)
        self.module_ = self.initialized_instance(self.module, kwargs)
        return self

    def preprocess(self, X: Any) -> np.ndarray:
        """Resize to ``input_size`` and normalise each image: float32 (N, C, s, s)."""
        X = as_images(X)
        size = (self.input_size, self.input_size)
        out = np.empty((len(X), X.shape[1], *size), dtype=np.float32)
        for start in range(0, len(X), _PREPROCESS_CHUNK):
            chunk = torch.from_numpy(X[start : start + _PREPROCESS_CHUNK])
            if tuple(chunk.shape[-2:]) != size:
                chunk = F.interpolate(
                    chunk, size=size, mode="bilinear", antialias=True, align_corners=False
                )
            mean = chunk.mean(dim=(1, 2, 3), keepdim=True)
            std = chunk.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
            out[start : start + len(chunk)] = ((chunk - mean) / std).numpy()
        return out

    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> MMDVAEEncoder:
        """Train on images of shape (n_samples, H, W) or (n_samples, C, H, W); y ignored."""
        X = self.preprocess(X)
        with seeded(seed_from(self.random_state), self.device):
            if not self.warm_start or not self.initialized_:
                self.initialize()
            self.partial_fit(X, None, **fit_params)
        return self

    def get_loss(self, y_pred, y_true, X=None, training=False):
        recon, z = y_pred
        x = to_tensor(X, device=self.device)
        recon_loss = self.criterion_(recon, x)
        prior = torch.randn_like(z)
        mmd_loss = mmd(z, prior)
        if training:
            self.history.record_batch("train_recon", float(recon_loss.item()))
            self.history.record_batch("train_mmd", float(mmd_loss.item()))
        return recon_loss + self.mmd_weight * mmd_loss

    def _forward_batches(self, X: np.ndarray, fn) -> np.ndarray:
        self.check_is_fitted()
        module = self.module_
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                parts = [
                    fn(to_tensor(torch.from_numpy(X[i : i + self.batch_size]), self.device))
                    .cpu()
                    .numpy()
                    for i in range(0, len(X), self.batch_size)
                ]
        finally:
            module.train(was_training)
        return np.concatenate(parts)

    def transform(self, X: Any) -> np.ndarray:
        """Deterministic codes of shape (n_samples, n_latent), float64."""
        self.check_is_fitted()
        codes = self._forward_batches(self.preprocess(X), self.module_.encode)
        return codes.astype(np.float64)

    def inverse_transform(self, codes: Any) -> np.ndarray:
        """Decoded (normalised) images of shape (n_samples, input_size, input_size)."""
        self.check_is_fitted()
        codes = np.asarray(codes, dtype=np.float32)
        if codes.ndim != 2 or codes.shape[1] != self.module_.to_latent.out_features:
            raise ValueError(f"codes must have shape (n_samples, n_latent), got {codes.shape}")
        images = self._forward_batches(codes, self.module_.decode)
        return images[:, 0] if images.shape[1] == 1 else images
