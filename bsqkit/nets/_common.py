"""Helpers shared by the skorch wrappers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Callback
from skorch.exceptions import NotInitializedError


@contextlib.contextmanager
def seeded(seed: int | None, device: Any) -> Iterator[None]:
    """Run a block with torch's RNG seeded, restoring the caller's RNG state afterwards.

    skorch and ``nn.Dropout2d`` draw from torch's global generator; forking it keeps
    the library from changing the user's random stream.
    """
    if seed is None:
        yield
        return
    device = torch.device(device)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"):
        torch.manual_seed(int(seed))
        yield


def as_images(X: Any, name: str = "X") -> np.ndarray:
    """Images as float32 of shape (N, C, H, W) from (N, H, W) or (N, C, H, W)."""
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.ndim == 3:
        X = X[:, None]
    if X.ndim != 4:
        raise ValueError(f"{name} must have shape (N, H, W) or (N, C, H, W), got {X.shape}")
    if len(X) == 0:
        raise ValueError(f"{name} is empty")
    X = X.astype(np.float32, copy=False)
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or inf")
    return X


def seed_from(random_state: Any) -> int | None:
    """An int seed from an sklearn-style random_state (None stays None)."""
    if random_state is None:
        return None
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    return int(random_state)


class TrainingProgress(Callback):
    """One named progress bar for a whole fit: steps (a fit of ``max_steps``) or epochs,
    with the last training loss; shown on a terminal only (tqdm's ``disable=None``).

    Parameters
    ----------
    desc : str
        The bar's name, e.g. ``"MMD-VAE"``.
    """

    def __init__(self, desc: str):
        self.desc = desc

    def on_train_begin(self, net: Any, X: Any = None, y: Any = None, **kwargs: Any) -> None:
        from tqdm.auto import tqdm

        steps = getattr(net, "max_steps", None)
        self.per_step_ = steps is not None
        total, unit = (steps, "step") if self.per_step_ else (net.max_epochs, "epoch")
        self.bar_ = tqdm(total=total, desc=self.desc, unit=unit, disable=None, leave=False)

    def on_batch_end(self, net: Any, batch: Any = None, training: bool = False, **kwargs: Any):
        if self.per_step_ and training:
            self.bar_.update(1)

    def on_epoch_end(self, net: Any, **kwargs: Any) -> None:
        if not self.per_step_:
            self.bar_.update(1)
        loss = net.history[-1].get("train_loss")
        if loss is not None:
            self.bar_.set_postfix(loss=f"{loss:.4g}", refresh=False)

    def on_train_end(self, net: Any, X: Any = None, y: Any = None, **kwargs: Any) -> None:
        self.bar_.close()


class ImageNetMixin:
    """What bsqkit's skorch wrappers share: a named progress bar, sklearn's fitted check
    and input tags (images of more than two dimensions are accepted)."""

    _progress_desc = "training"

    def get_default_callbacks(self):
        callbacks = list(super().get_default_callbacks())
        if self.progress_bar:
            callbacks.append(("progress_bar", TrainingProgress(self._progress_desc)))
        return callbacks

    def __sklearn_is_fitted__(self) -> bool:
        return bool(getattr(self, "initialized_", False))

    def check_is_fitted(self, attributes: Any = None, *args: Any, **kwargs: Any) -> None:
        """Raise scikit-learn's ``NotFittedError`` before ``fit`` (skorch would raise its
        ``NotInitializedError``, which asks for ``initialize``)."""
        try:
            super().check_is_fitted(attributes, *args, **kwargs)
        except NotInitializedError:
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet: call fit(X, y) "
                "first (or initialize() to use it untrained)"
            ) from None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags
