"""The next volumes to annotate, from NIfTI files: what bsqkit's MONAI Label scoring
runs (:mod:`bsqkit.interop.monailabel`), without MONAI Label.

The volumes go through the harmonising step of the benchmark and ``bsqkit suggest``
(:func:`~bsqkit.datasets.harmonising.harmonise_subjects`); a labeled volume is
annotated whole. The segmenter is trained on the labeled volumes' slices (or given),
the MMD-VAE on every slice (cached), and a method of :mod:`bsqkit.catalogue` chooses the
next ``k`` volumes with a group query (each volume a group): the numbers it reports are
the strategy's own (``pick_details_``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bsqkit.exceptions import InputError

__all__ = ["rank_volumes"]


def rank_volumes(
    images: Mapping[str, str | Path],
    labels: Mapping[str, str | Path],
    *,
    method: str = "bsq-greedy",
    profile: str | dict = "cpu",
    k: int | None = None,
    classes: str | dict | None = None,
    segmenter: Any = None,
    cache: str | Path | None = None,
    device: str = "cpu",
    seed: int = 0,
) -> dict[str, Any]:
    """Choose the next ``k`` volumes to annotate among those without a label.

    Parameters
    ----------
    images : mapping of str to path
        Every volume's id and NIfTI file.
    labels : mapping of str to path
        The label file of each labeled volume (ids of ``images``).
    method : str, default="bsq-greedy"
        A method of :data:`bsqkit.catalogue.METHODS`.
    profile : str or dict, default="cpu"
        The networks' and grid's settings (:func:`bsqkit.profiles.load_profile`).
    k : int, optional
        How many volumes to choose; default ``min(4, unlabeled volumes)``.
    classes : str, dict or None, default=None
        The classes (``--labels`` of the benchmark); None: the profile's, else every
        label value found.
    segmenter : fitted estimator, optional
        The model that scores uncertainty (e.g. the app's network wrapped as
        ``NeuralNetSegmenter(module=...)``); None: the profile's segmenter, trained on
        the labeled volumes' slices (none at a cold start).
    cache : str or Path, optional
        Where the MMD-VAE is cached; None: trained at every call.
    device : str, default="cpu"
        ``"cpu"`` or ``"cuda"``.
    seed : int, default=0
        Seeds the strategy, the networks and their MC-dropout masks.

    Returns
    -------
    dict
        ``chosen``: one dict per chosen volume, in the strategy's order (``id``,
        ``rank``, and the strategy's ``pick_details_``: ``score`` and, where they apply,
        ``uncertainty`` and ``representativeness``); ``unlabeled``: every volume
        without a label; ``method`` and ``described`` (what it picked by);
        ``columns`` (what each number means).

    Raises
    ------
    InputError
        No unlabeled volume, an unreadable file, a label whose shape or affine differs
        from its image's, a bad setting.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from bsqkit.datasets.synthetic import write_cardiac_like
    >>> from bsqkit.interop.volume_ranking import rank_volumes
    >>> from bsqkit.profiles import load_profile
    >>> profile = load_profile("cpu")
    >>> profile.update(image_size=16, n_mc=3)
    >>> profile["segmenter"].update(max_steps=3, width=4, depth=2)
    >>> profile["vae"].update(max_epochs=1, input_size=16, n_latent=3, width=4)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     folder = write_cardiac_like(tmp, 5, (30, 40), (4.0, 5.0), outlier_matrix=None)
    ...     ids = [p.name[:-7] for p in sorted((folder / "images").iterdir())]
    ...     images = {i: folder / "images" / f"{i}.nii.gz" for i in ids}
    ...     labels = {i: folder / "labels" / f"{i}.nii.gz" for i in ids[:2]}
    ...     ranked = rank_volumes(images, labels, profile=profile, k=2)
    >>> [c["rank"] for c in ranked["chosen"]], len(ranked["unlabeled"])
    ([1, 2], 3)
    """
    from bsqkit.catalogue import cached_encoder, find_method, make_segmenter, make_strategy
    from bsqkit.datasets.harmonising import HarmonisingSettings, harmonise_subjects
    from bsqkit.datasets.nifti import read_volume
    from bsqkit.profiles import load_profile

    unknown = sorted(set(labels) - set(images))
    if unknown:
        raise InputError(f"labels of unknown images: {', '.join(unknown[:5])}")
    unlabeled = [i for i in images if i not in labels]
    if not unlabeled:
        raise InputError(f"every one of the {len(images)} images is labeled: nothing left to rank")
    k = min(4, len(unlabeled)) if k is None else int(k)
    if not 1 <= k <= len(unlabeled):
        raise InputError(f"k must be in [1, {len(unlabeled)}] (the unlabeled images), got {k}")
    settings = load_profile(profile)
    chosen_method = find_method(method)
    subjects = []
    for i, path in images.items():
        try:
            subject, _ = read_volume(i, Path(path), Path(labels[i]) if i in labels else None)
        except InputError as exc:  # by the datastore's id, as the client knows it
            raise InputError(f"image {i!r}: {exc}") from exc
        subjects.append(subject)
    harmonised = harmonise_subjects(
        subjects,
        HarmonisingSettings(
            settings["image_size"],
            classes if classes is not None else settings["labels"],
            settings["pixel_mm"],
            settings["crop_mm"],
        ),
        where="the datastore",
    )
    by_id = {s.id: s for s in harmonised.subjects}
    n_classes = max(harmonised.classes.n_classes, 2)
    labeled = [i for i in images if i in labels]
    X_labeled = np.concatenate([by_id[i].X for i in labeled]) if labeled else None
    if segmenter is None and labeled:
        y_labeled = np.concatenate([by_id[i].y for i in labeled]).astype(np.int64)
        segmenter = make_segmenter(settings, n_classes, device, seed).fit(X_labeled, y_labeled)
    cold = segmenter is None
    encoder = None
    if chosen_method.uses_encoder(cold):
        X_all = np.concatenate([s.X for s in harmonised.subjects])
        if cache is None:
            from bsqkit.catalogue import make_encoder

            encoder = make_encoder(settings, device, seed).fit(X_all)
        else:
            encoder, _ = cached_encoder(settings, X_all, cache, device, seed)
    n_uncertain = max(2 * k, min(4, len(unlabeled)))
    strategy, described = make_strategy(
        chosen_method,
        n_uncertain=min(n_uncertain, len(unlabeled)),
        n_mc=settings["n_mc"],
        seed=seed,
        encoder=encoder,
        segmenter=segmenter,
    )
    X_pool = np.concatenate([by_id[i].X for i in unlabeled])
    groups = np.concatenate([[i] * len(by_id[i].X) for i in unlabeled])
    labeled_groups = None
    if labeled:
        labeled_groups = np.concatenate([[i] * len(by_id[i].X) for i in labeled])
    idx, _ = strategy.query(
        X_pool,
        estimator=segmenter,
        X_labeled=X_labeled,
        n_instances=k,
        groups=groups,
        labeled_groups=labeled_groups,
    )
    order = list(dict.fromkeys(groups[idx].tolist()))
    details = strategy.pick_details_
    chosen = [
        {"id": i, "rank": r, **{key: float(v[r - 1]) for key, v in details.items()}}
        for r, i in enumerate(order, start=1)
    ]
    return {
        "chosen": chosen,
        "unlabeled": unlabeled,
        "method": chosen_method.name,
        "described": described,
        "columns": strategy.describe_picks(),
        "classes": harmonised.classes.describe(),
    }
