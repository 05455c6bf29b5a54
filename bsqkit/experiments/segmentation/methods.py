"""The methods the protocol compares: the catalogue's strategies, and the upper bound (the
whole pool annotated); the holdout's MMD-VAE, trained once on the pool images and kept
beside the runs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bsqkit._io import save_params_atomic, write_json_atomic
from bsqkit.catalogue import METHODS as CATALOGUE
from bsqkit.catalogue import make_encoder
from bsqkit.exceptions import InputError
from bsqkit.nets import MMDVAEEncoder

__all__ = ["METHODS", "train_encoder"]

# the catalogue's methods, and the upper bound (the whole pool annotated)
METHODS = (*(m.name for m in CATALOGUE), "Upper bound")


def train_encoder(X_pool: NDArray, profile: dict, device: str, seed: int) -> MMDVAEEncoder:
    """The MMD-VAE of a holdout, trained once on the pool images only.

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


def holdout_encoder(
    X_pool: NDArray, settings: dict, device: str, seed: int, folder: Path
) -> MMDVAEEncoder:
    """The holdout's MMD-VAE: trained once, then read from ``vae.pt`` when ``vae.json``
    says it was made from the same pool images and settings (refused otherwise)."""
    key = {
        "pool": hashlib.sha256(np.ascontiguousarray(X_pool).tobytes()).hexdigest()[:16],
        "vae": settings["vae"],
        "seed": seed,
    }
    params, made_with = folder / "vae.pt", folder / "vae.json"
    if params.exists():
        old = json.loads(made_with.read_text()) if made_with.exists() else {}
        if old != key:
            changed = sorted(k for k in {*key, *old} if old.get(k) != key.get(k))
            raise InputError(
                f"{params} was made with other data or settings ({', '.join(changed)}); "
                "use another --out folder or delete it"
            )
        encoder = make_encoder(settings, device, seed).initialize()
        encoder.load_params(f_params=params)
        return encoder
    encoder = train_encoder(X_pool, settings, device, seed)
    write_json_atomic(made_with, key)  # first: a vae.pt never exists without it
    save_params_atomic(encoder, params)
    return encoder
