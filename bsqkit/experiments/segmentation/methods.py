"""The methods the protocol compares: the catalogue's strategies, and the upper bound (the
whole pool annotated); the MMD-VAE of a holdout, trained on its pool images."""

from __future__ import annotations

from numpy.typing import NDArray

from bsqkit.catalogue import METHODS as CATALOGUE
from bsqkit.catalogue import make_encoder
from bsqkit.nets import MMDVAEEncoder

__all__ = ["METHODS", "train_encoder"]

# the catalogue's methods, and the upper bound (the whole pool annotated)
METHODS = (*(m.name for m in CATALOGUE), "Upper bound")


def train_encoder(X_pool: NDArray, profile: dict, device: str, seed: int) -> MMDVAEEncoder:
    """The MMD-VAE of a holdout, trained on its pool images only (the runner keeps it
    with :func:`~bsqkit.catalogue.cached_encoder`, which trains it the same way).

    Parameters
    ----------
    X_pool : ndarray of shape (n_slices, H, W)
        The pool's image slices on the common grid.
    profile : dict
        Uses the ``vae`` settings.
    device : str
        Torch device the MMD-VAE trains on, such as ``"cpu"`` or ``"cuda"``.
    seed : int
        ``random_state`` of the MMD-VAE.

    Returns
    -------
    MMDVAEEncoder

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.experiments.segmentation import load_profile, train_encoder
    >>> profile = load_profile("cpu")
    >>> profile["vae"].update(max_epochs=1, input_size=24, n_latent=4, width=4)
    >>> X_pool = np.random.RandomState(0).rand(32, 24, 24).astype("float32")
    >>> train_encoder(X_pool, profile, device="cpu", seed=0).transform(X_pool[:3]).shape
    (3, 4)
    """
    return make_encoder(profile, device, seed).fit(X_pool)
