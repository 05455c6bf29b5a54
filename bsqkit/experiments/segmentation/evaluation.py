"""Scores of a segmenter on test subjects, each on its own grid, and the retraining
noise against which differences between methods are judged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bsqkit._deprecation import renamed_keywords
from bsqkit.catalogue import make_segmenter
from bsqkit.datasets.harmonising import SlicedSubject
from bsqkit.metrics import dice_score, mean_surface_distance

__all__ = ["NOISE_SEED_OFFSET", "evaluate_subjects", "noise_floor"]

# the noise floor's annotated set is drawn apart from the runs' initial sets (seeded by
# seed + holdout): an offset no holdout count reaches
NOISE_SEED_OFFSET = 7919


def evaluate_subjects(
    segmenter: Any,
    subjects: Sequence[SlicedSubject],
    labels: Sequence[int],
    resized_grid: bool = False,
    names: Sequence[str] | None = None,
) -> dict:
    """Dice and MSD on each test subject's own grid, per structure and their means.

    Each subject's slices are segmented on the common grid and the label maps brought
    back to the subject's grid (nearest neighbour), where they are compared with the
    subject's own labels with its own voxel spacing.

    Parameters
    ----------
    segmenter : estimator
        Anything with ``predict(X)`` returning label slices of shape (n_slices, H, W).
    subjects : sequence of SlicedSubject
        The subjects to score: each one's slices ``X`` are segmented, and the prediction
        is compared with its ``native_label``.
    labels : sequence of int
        The structures to score (background excluded).
    resized_grid : bool, default=False
        Also score on the common grid (``dice_resized``, ``msd_resized``), labeled as
        such: not comparable with native-grid numbers.
    names : sequence of str, optional
        The class name of each of ``labels``: the per-class scores are also given by
        name, as ``dice:<name>`` and ``msd:<name>``.

    Returns
    -------
    dict
        ``dice``, ``msd`` (paper's 3-D contours) and ``msd_in_plane`` (means over
        subjects and structures), their ``*_per_structure`` lists, per class by name
        with ``names``, and ``n_empty_predictions``: the structures present in a
        subject but predicted nowhere (each scores the image diagonal in MSD).

    Examples
    --------
    >>> from bsqkit.experiments.segmentation import evaluate_subjects
    >>> from bsqkit.experiments.segmentation.data import prepare_dataset
    >>> data = prepare_dataset("phantom", image_size=32, n_subjects=1, phantom_size=1)
    >>> class Oracle:  # predicts the truth on the common grid
    ...     def predict(self, X):
    ...         return data.subjects[0].y
    ...
    >>> result = evaluate_subjects(Oracle(), data.subjects, labels=[1, 2, 3, 4])
    >>> result["dice"] > 0.85, result["n_empty_predictions"]  # resampling costs a little
    (True, 0)
    """
    dice, msd, msd_plane, resized, empty = [], [], [], [], 0
    for s in subjects:
        pred_grid = np.asarray(segmenter.predict(s.X))
        pred = s.grid.from_grid(pred_grid)
        truth, spacing = s.native_label, s.grid.spacing
        dice.append(dice_score(pred, truth, labels))
        msd.append([mean_surface_distance(pred == c, truth == c, spacing) for c in labels])
        msd_plane.append(
            [
                mean_surface_distance(pred == c, truth == c, spacing, contour="in-plane")
                for c in labels
            ]
        )
        empty += sum(int((truth == c).any() and not (pred == c).any()) for c in labels)
        if resized_grid:
            grid_spacing = (spacing[0], s.grid.pixel_mm, s.grid.pixel_mm)
            resized.append(
                [
                    dice_score(pred_grid, s.y, labels).mean(),
                    np.mean(
                        [
                            mean_surface_distance(pred_grid == c, s.y == c, grid_spacing)
                            for c in labels
                        ]
                    ),
                ]
            )
    dice, msd, msd_plane = (np.mean(v, axis=0) for v in (dice, msd, msd_plane))
    out = {
        "dice": float(dice.mean()),
        "msd": float(msd.mean()),
        "msd_in_plane": float(msd_plane.mean()),
        "dice_per_structure": dice.tolist(),
        "msd_per_structure": msd.tolist(),
        "msd_in_plane_per_structure": msd_plane.tolist(),
        "n_empty_predictions": empty,
    }
    if names is not None:
        for name, d, m in zip(names, dice, msd, strict=True):
            out[f"dice:{name}"], out[f"msd:{name}"] = float(d), float(m)
    if resized_grid:
        out["dice_resized"], out["msd_resized"] = (float(v) for v in np.mean(resized, axis=0))
    return out


@renamed_keywords(n_annotated="n_labeled")
def noise_floor(
    split: dict,
    profile: dict,
    n_classes: int,
    n_labeled: int,
    n_seeds: int,
    device: str = "cpu",
    seed: int = 0,
    holdout: int = 0,
) -> list[dict]:
    """Dice of ``n_seeds`` trainings on one random annotated set: the retraining noise
    against which differences between methods are judged.

    Parameters
    ----------
    split : dict
        From :func:`~bsqkit.experiments.segmentation.data.split_holdout`: the annotated
        set is drawn from its pool, the scores are on its test subjects.
    profile : dict
        A validated profile; uses the ``segmenter`` settings.
    n_classes : int
        Classes including background.
    n_labeled : int
        Size of the annotated set (slices).
    n_seeds : int
        Trainings, each with its own seed (initialisation, batches, flips, dropout).
    device : str, default="cpu"
        Torch device the segmenter trains and predicts on, such as ``"cpu"`` or ``"cuda"``.
    seed, holdout : int, default=0
        Together seed the draw of the annotated set; training ``k`` uses seed ``seed + k``.
        ``holdout`` is also stored in the records.

    Returns
    -------
    list of dict
        One record per training seed: ``dice``, ``msd``...

    Examples
    --------
    >>> from bsqkit.experiments.segmentation import load_profile, noise_floor
    >>> from bsqkit.experiments.segmentation.data import prepare_dataset, split_holdout
    >>> profile = load_profile("cpu")
    >>> profile["segmenter"].update(max_steps=2, width=4, depth=2)
    >>> data = prepare_dataset("phantom", image_size=24, n_subjects=3, phantom_size=3)
    >>> split = split_holdout(data, profile["split"], holdout=0)
    >>> [r["training_seed"] for r in noise_floor(split, profile, 5, 8, n_seeds=2)]
    [0, 1]
    """
    rng = np.random.RandomState(seed + holdout + NOISE_SEED_OFFSET)
    annotated = rng.choice(len(split["X_pool"]), n_labeled, replace=False)
    X, y = split["X_pool"][annotated], split["y_pool"][annotated]
    records = []
    for k in range(n_seeds):
        seg = make_segmenter(profile, n_classes, device, seed + k).fit(X, y)
        scores = evaluate_subjects(
            seg, split["test"], list(range(1, n_classes)), names=split.get("class_names")
        )
        records.append(
            {"holdout": holdout, "training_seed": k, "n_annotated": int(n_labeled), **scores}
        )
    return records
