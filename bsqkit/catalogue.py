"""One catalogue of named methods, shared by the segmentation benchmark and ``bsqkit
suggest``: the same name builds the same strategy, segmenter and MMD-VAE from the same
profile (:mod:`bsqkit.profiles`) everywhere.

Each method has a display name (``"BSQ greedy"``, used in results, tables and reports)
and a command-line name (``"bsq-greedy"``); either, or an alias, finds it
(:func:`find_method`). This module imports nothing heavy: the factories import the
strategies and networks when called.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bsqkit.exceptions import InputError

__all__ = [
    "METHODS",
    "Method",
    "cached_encoder",
    "encoder_cache_path",
    "find_method",
    "make_encoder",
    "make_segmenter",
    "make_strategy",
]


@dataclass(frozen=True)
class Method:
    """A named query method.

    Parameters
    ----------
    name : str
        Display name (results, tables, reports).
    slug : str
        Command-line name.
    summary : str
        What it picks, in a sentence.
    needs_model : bool
        It scores with the trained segmenter (uncertainty, predictions, descriptors).
    needs_encoder : bool
        It scores in the MMD-VAE's latent space.
    aliases : tuple of str
        Other names it answers to.

    Examples
    --------
    >>> from bsqkit.catalogue import find_method
    >>> find_method("Baseline").name, find_method("bsq-greedy").name
    ('Suggestive Annotation', 'BSQ greedy')
    """

    name: str
    slug: str
    summary: str
    needs_model: bool = False
    needs_encoder: bool = False
    aliases: tuple[str, ...] = ()

    def uses_encoder(self, cold_start: bool) -> bool:
        """Whether its strategy runs on the MMD-VAE's codes (:func:`make_strategy`).

        Parameters
        ----------
        cold_start : bool
            No segmenter yet: CoreSet then runs on the codes instead of its descriptors.

        Returns
        -------
        bool
            ``needs_encoder``, or CoreSet at a cold start.
        """
        return self.needs_encoder or (cold_start and self.slug == "coreset")


METHODS: tuple[Method, ...] = (
    Method("Random", "random", "random choice"),
    Method(
        "Random (foreground)",
        "random-foreground",
        "random choice among the slices the current model segments something in",
        needs_model=True,
    ),
    Method("Uncertainty", "uncertainty", "the most uncertain (MC dropout)", needs_model=True),
    Method(
        "Suggestive Annotation",
        "suggestive-annotation",
        "the most uncertain (MC dropout), then max-cover of the segmenter's image "
        "descriptors (Yang et al. 2017; the paper's Baseline)",
        needs_model=True,
        aliases=("Baseline",),
    ),
    Method(
        "CoreSet",
        "coreset",
        "k-center greedy on the segmenter's image descriptors (core-set)",
        needs_model=True,
    ),
    Method(
        "BSQ top",
        "bsq-top",
        "the most uncertain (MC dropout), then the most representative of them (BSQ, best "
        "scores at once)",
        needs_model=True,
        needs_encoder=True,
    ),
    Method(
        "BSQ greedy",
        "bsq-greedy",
        "the most uncertain (MC dropout), then the most representative of them (BSQ, the "
        "annotated Gaussian refitted after each pick)",
        needs_model=True,
        needs_encoder=True,
    ),
)


def find_method(name: str) -> Method:
    """The method of a display name, command-line name or alias (case-insensitive).

    Parameters
    ----------
    name : str
        Display name, command-line name or alias; surrounding spaces are ignored.

    Returns
    -------
    Method

    Raises
    ------
    InputError
        An unknown name; the message lists the known ones.

    Examples
    --------
    >>> from bsqkit.catalogue import find_method
    >>> find_method("suggestive-annotation").name
    'Suggestive Annotation'
    """
    wanted = str(name).strip().lower()
    for method in METHODS:
        if wanted in {n.lower() for n in (method.name, method.slug, *method.aliases)}:
            return method
    known = ", ".join(f"{m.slug} ({m.name})" for m in METHODS)
    raise InputError(f"unknown method {name!r}; choose one of: {known}")


def make_strategy(
    method: str | Method,
    *,
    n_uncertain: int | None,
    n_mc: int,
    seed: int,
    encoder: Any = None,
    segmenter: Any = None,
) -> tuple[Any, str]:
    """The query strategy of a method, and what it picks, in words.

    Without a trained ``segmenter`` (a cold start: nothing annotated yet), a method that
    needs one picks by what is available, and says so: the BSQ methods by
    representativeness alone (BSQ without an annotated set, greedy), CoreSet by k-center
    on the MMD-VAE's codes, the others at random.

    Parameters
    ----------
    method : str or Method
        A name :func:`find_method` knows.
    n_uncertain : int or None
        The uncertainty shortlist of Suggestive Annotation and BSQ.
    n_mc : int
        MC-dropout passes.
    seed : int
        ``random_state`` of the strategy.
    encoder : fitted transformer, optional
        The MMD-VAE (the BSQ methods; CoreSet at a cold start).
    segmenter : fitted estimator, optional
        The current model (CoreSet's descriptors); None at a cold start.

    Returns
    -------
    strategy : QueryStrategy
    described : str

    Examples
    --------
    >>> from bsqkit.catalogue import make_strategy
    >>> strategy, described = make_strategy("uncertainty", n_uncertain=None, n_mc=5, seed=0,
    ...                                     segmenter=object())
    >>> type(strategy).__name__, described
    ('UncertaintyQuery', 'the most uncertain (MC dropout)')
    """
    from bsqkit.preprocessing import EstimatorDescriptors
    from bsqkit.query import (
        BayesianSampleQuery,
        CoreSetQuery,
        ForegroundRandomQuery,
        RandomQuery,
        SuggestiveAnnotationQuery,
        UncertaintyQuery,
    )

    method = method if isinstance(method, Method) else find_method(method)
    if method.needs_encoder and encoder is None:
        raise ValueError(f"{method.name} needs the fitted MMD-VAE (encoder=)")
    if method.needs_model and segmenter is None:
        if method.needs_encoder:
            strategy = BayesianSampleQuery(encoder=encoder, batch_mode="greedy", random_state=seed)
            return strategy, "representativeness alone (BSQ without an annotated set)"
        if method.slug == "coreset" and encoder is not None:
            strategy = CoreSetQuery(encoder=encoder, random_state=seed)
            return strategy, "k-center greedy on the MMD-VAE's codes (core-set)"
        return RandomQuery(random_state=seed), "random choice (no model yet)"
    strategy = {
        "random": lambda: RandomQuery(random_state=seed),
        "random-foreground": lambda: ForegroundRandomQuery(random_state=seed),
        "uncertainty": lambda: UncertaintyQuery(n_mc=n_mc, random_state=seed),
        "suggestive-annotation": lambda: SuggestiveAnnotationQuery(
            n_uncertain=n_uncertain, n_mc=n_mc, random_state=seed
        ),
        "coreset": lambda: CoreSetQuery(
            encoder=EstimatorDescriptors(segmenter), random_state=seed
        ),
        "bsq-top": lambda: BayesianSampleQuery(
            encoder=encoder, n_uncertain=n_uncertain, n_mc=n_mc, random_state=seed
        ),
        "bsq-greedy": lambda: BayesianSampleQuery(
            encoder=encoder,
            n_uncertain=n_uncertain,
            batch_mode="greedy",
            n_mc=n_mc,
            random_state=seed,
        ),
    }[method.slug]()
    return strategy, method.summary


def make_segmenter(profile: dict, n_classes: int, device: str, seed: int, **overrides: Any) -> Any:
    """The profile's segmenter (``profile["segmenter"]``), unfitted.

    Parameters
    ----------
    profile : dict
        A validated profile (:func:`bsqkit.profiles.load_profile`).
    n_classes : int
        Classes including background.
    device : str
        Torch device the network trains and predicts on, such as ``"cpu"`` or ``"cuda"``.
    seed : int
        ``random_state`` of the segmenter.
    **overrides
        Other arguments of :class:`~bsqkit.nets.NeuralNetSegmenter` (``max_steps``,
        ``warm_start``, ``progress_bar``...).

    Returns
    -------
    NeuralNetSegmenter

    Examples
    --------
    >>> from bsqkit.catalogue import make_segmenter
    >>> from bsqkit.profiles import load_profile
    >>> make_segmenter(load_profile("cpu"), 3, "cpu", 0).max_steps
    2000
    """
    from bsqkit.nets import NeuralNetSegmenter

    s = profile["segmenter"]
    kwargs = {"max_steps": s["max_steps"], "progress_bar": False, **overrides}
    return NeuralNetSegmenter(
        n_classes=n_classes,
        lr=s["lr"],
        batch_size=s["batch_size"],
        class_weight=s["class_weight"],
        dropout=s["dropout"],
        module__width=s["width"],
        module__depth=s["depth"],
        device=device,
        random_state=seed,
        **kwargs,
    )


def make_encoder(profile: dict, device: str, seed: int, **overrides: Any) -> Any:
    """The profile's MMD-VAE (``profile["vae"]``), unfitted.

    Parameters
    ----------
    profile : dict
        A validated profile (:func:`bsqkit.profiles.load_profile`).
    device : str
        Torch device the network trains and encodes on, such as ``"cpu"`` or ``"cuda"``.
    seed : int
        ``random_state`` of the MMD-VAE.
    **overrides
        Other arguments of :class:`~bsqkit.nets.MMDVAEEncoder`.

    Returns
    -------
    MMDVAEEncoder

    Examples
    --------
    >>> from bsqkit.catalogue import make_encoder
    >>> from bsqkit.profiles import load_profile
    >>> make_encoder(load_profile("cpu"), "cpu", 0).n_latent
    32
    """
    from bsqkit.nets import MMDVAEEncoder

    v = profile["vae"]
    kwargs = {"max_epochs": v["max_epochs"], "progress_bar": False, **overrides}
    return MMDVAEEncoder(
        n_latent=v["n_latent"],
        input_size=v["input_size"],
        module__width=v["width"],
        lr=v["lr"],
        batch_size=v["batch_size"],
        device=device,
        random_state=seed,
        **kwargs,
    )


def encoder_cache_path(profile: dict, X_pool: Any, cache: str | Path, seed: int) -> Path:
    """Where the profile's MMD-VAE of these images is cached: named by the images'
    bytes, the ``vae`` settings and the seed.

    Parameters
    ----------
    profile : dict
        A validated profile; its ``vae`` section counts.
    X_pool : array-like of shape (n_images, H, W)
        The images it is trained on.
    cache : str or Path
        The cache folder.
    seed : int
        Its random state.

    Returns
    -------
    Path

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.catalogue import encoder_cache_path
    >>> from bsqkit.profiles import load_profile
    >>> encoder_cache_path(load_profile("cpu"), np.zeros((2, 8, 8)), "cache", 0).suffix
    '.pt'
    """
    import hashlib
    import json

    import numpy as np

    images = hashlib.sha256(np.ascontiguousarray(X_pool).tobytes()).hexdigest()[:12]
    vae = hashlib.sha256(json.dumps(profile["vae"], sort_keys=True).encode()).hexdigest()[:8]
    return Path(cache) / f"vae-{images}-{vae}-r{seed}.pt"


def cached_encoder(
    profile: dict,
    X_pool: Any,
    cache: str | Path,
    device: str,
    seed: int,
    progress_bar: bool = False,
) -> tuple[Any, bool]:
    """The profile's MMD-VAE trained on ``X_pool``, once: read from the cache when it is
    there (:func:`encoder_cache_path`), else trained and written atomically.

    Parameters
    ----------
    profile : dict
        A validated profile.
    X_pool : array-like of shape (n_images, H, W)
        The images (all of the pool, annotated or not).
    cache : str or Path
        The cache folder.
    device : str
        ``"cpu"`` or ``"cuda"``.
    seed : int
        Its random state.
    progress_bar : bool, default=False
        A named bar over its epochs while it trains.

    Returns
    -------
    encoder : MMDVAEEncoder
    from_cache : bool

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from bsqkit.catalogue import cached_encoder
    >>> from bsqkit.profiles import load_profile
    >>> profile = load_profile("cpu")
    >>> profile["vae"].update(max_epochs=1, input_size=16, n_latent=3, width=4)
    >>> X = np.random.RandomState(0).rand(16, 16, 16).astype("float32")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     first = cached_encoder(profile, X, tmp, "cpu", 0)[1]
    ...     again = cached_encoder(profile, X, tmp, "cpu", 0)[1]
    >>> first, again
    (False, True)
    """
    from bsqkit._io import save_params_atomic

    path = encoder_cache_path(profile, X_pool, cache, seed)
    encoder = make_encoder(profile, device, seed, progress_bar=progress_bar)
    if path.exists():
        encoder.initialize()
        encoder.load_params(f_params=path)
        return encoder, True
    encoder.fit(X_pool)
    save_params_atomic(encoder, path)
    return encoder, False
