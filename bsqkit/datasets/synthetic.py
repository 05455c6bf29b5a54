"""Synthetic labeled NIfTI folders shaped like public data sets that need class
selection and a sensible grid: a brain atlas with many label values, and cine cardiac
scans whose matrices and pixel sizes vary (one much larger than the rest).

They exercise the harmonising step (:mod:`bsqkit.datasets.harmonising`) in tests and
benchmarks, and let a user try ``--labels``, ``--pixel-mm`` and ``--crop-mm`` without
downloading anything. The anatomy is crude on purpose: what matters is the geometry and
the label values.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

__all__ = ["ATLAS_HIPPOCAMPUS", "write_atlas_like", "write_cardiac_like"]

# The atlas' two hippocampus values (right, left), as in Neuromorphometrics-style atlases.
ATLAS_HIPPOCAMPUS = (47, 48)


def _save(folder: Path, kind: str, name: str, array: np.ndarray, affine: np.ndarray) -> str:
    (folder / kind).mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, affine), folder / kind / f"{name}.nii.gz")
    return f"./{kind}/{name}.nii.gz"


def write_atlas_like(
    folder: str | Path,
    n_subjects: int = 35,
    shape: Sequence[int] = (162, 214, 167),
    n_values: int = 140,
    seed: int = 0,
) -> Path:
    """A Decathlon-layout folder of brain-atlas-like volumes at 1 mm.

    Each label map splits an ellipsoidal "brain" into ``n_values`` regions (the nearest
    of jittered seed points, drawn at a quarter of the resolution), with label values
    spread over 1..207 and always holding :data:`ATLAS_HIPPOCAMPUS`; ``dataset.json``
    names the values. Images are uint8: a mean intensity per region plus noise.

    Parameters
    ----------
    folder : str or Path
        Where ``dataset.json``, ``imagesTr/`` and ``labelsTr/`` are written (created if
        needed; existing files of the same names are overwritten).
    n_subjects : int, default=35
        Number of volumes, named ``atlas_000``, ``atlas_001``...
    shape : sequence of 3 int, default=(162, 214, 167)
        Size of every volume in voxels (1 mm each).
    n_values : int, default=140
        Label values (2 to 207).
    seed : int, default=0
        Seed of the random label values, regions, intensities and noise.

    Returns
    -------
    Path
        ``folder``.

    Examples
    --------
    >>> import tempfile
    >>> from bsqkit.datasets.synthetic import write_atlas_like
    >>> from bsqkit.datasets import load_decathlon
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     s = load_decathlon(write_atlas_like(tmp, 1, (40, 48, 36), n_values=30))[0]
    >>> s.image.shape, len(set(s.label.ravel().tolist()) - {0})
    ((40, 48, 36), 30)
    """
    folder = Path(folder)
    rng = np.random.RandomState(seed)
    others = [v for v in range(1, 208) if v not in ATLAS_HIPPOCAMPUS]
    values = np.array(
        [*ATLAS_HIPPOCAMPUS, *rng.choice(others, n_values - 2, replace=False)], dtype=np.uint8
    )
    coarse = tuple(max(4, n // 4) for n in shape)
    centres = rng.uniform(0.15, 0.85, (n_values, 3)) * np.asarray(coarse)
    grid = np.stack(np.meshgrid(*(np.arange(n) + 0.5 for n in coarse), indexing="ij"), -1)
    brightness = rng.randint(40, 220, n_values)
    entries = []
    for k in range(n_subjects):
        jitter = centres + rng.normal(0, 0.6, centres.shape)
        radius = np.asarray(coarse) * rng.uniform(0.40, 0.46, 3)
        inside = (((grid - np.asarray(coarse) / 2) / radius) ** 2).sum(-1) <= 1
        nearest = np.full(coarse, 0, dtype=np.intp)
        best = np.full(coarse, np.inf)
        for r, c in enumerate(jitter):
            d = ((grid - c) ** 2).sum(-1)
            closer = d < best
            nearest[closer], best[closer] = r, d[closer]
        label_coarse = np.where(inside, values[nearest], 0).astype(np.uint8)
        zoom = np.asarray(shape) / np.asarray(coarse)
        label = ndimage.zoom(label_coarse, zoom, order=0, grid_mode=True, mode="nearest")
        label = label[: shape[0], : shape[1], : shape[2]]
        lookup = np.zeros(256, dtype=np.float32)
        lookup[values] = brightness
        image = lookup[label] + rng.normal(0, 12, label.shape).astype(np.float32) + 10
        image = np.clip(image, 0, 255).astype(np.uint8)
        name = f"atlas_{k:03d}"
        affine = np.diag([1.0, 1.0, 1.0, 1.0])
        entries.append(
            {
                "image": _save(folder, "imagesTr", name, image, affine),
                "label": _save(folder, "labelsTr", name, label, affine),
            }
        )
    names = {"0": "background"}
    for v in sorted(int(v) for v in values):
        names[str(v)] = f"structure {v}"
    names[str(ATLAS_HIPPOCAMPUS[0])] = "right hippocampus"
    names[str(ATLAS_HIPPOCAMPUS[1])] = "left hippocampus"
    meta = {"name": "atlas-like", "labels": names, "training": entries}
    (folder / "dataset.json").write_text(json.dumps(meta, indent=1))
    return folder


def write_cardiac_like(
    folder: str | Path,
    n_subjects: int = 12,
    matrix: tuple[int, int] = (154, 224),
    spacing: tuple[float, float] = (0.68, 1.5),
    n_slices: int = 10,
    outlier_matrix: int | None = 512,
    seed: int = 0,
    layout: str = "images",
) -> Path:
    """A folder of cine-cardiac-like volumes: a body about 300 mm across, a heart about
    100 mm across (myocardium 1, cavity 2) near the body's centre, 10 mm slices.

    Matrices run from ``matrix[0]`` to ``matrix[1]`` pixels and in-plane spacings over
    ``spacing``, both drawn per subject; with ``outlier_matrix``, the last subject is
    stored as ``outlier_matrix`` x ``outlier_matrix`` pixels of ``spacing[1]`` mm, its
    body off-centre: a field of view far larger than the others'.

    Parameters
    ----------
    folder : str or Path
        Where the image and label folders are written (created if needed; existing files
        of the same names are overwritten).
    n_subjects : int, default=12
        Number of volumes, named ``patient000``, ``patient001``...
    matrix : tuple of 2 int, default=(154, 224)
        Smallest and largest number of pixels per in-plane axis (both included); rows and
        columns are drawn separately.
    spacing : tuple of 2 float, default=(0.68, 1.5)
        Smallest and largest in-plane pixel size in mm (the same along both in-plane axes).
    n_slices : int, default=10
        Number of slices of each volume (10 mm apart).
    outlier_matrix : int or None, default=512
        In-plane size in pixels of the last, oversized subject; None: no such subject.
    seed : int, default=0
        Seed of the random matrices, pixel sizes, positions, sizes and noise.
    layout : {"images", "imagesTr"}, default="images"
        ``images/`` + ``labels/`` (a ``bsqkit suggest`` project) or ``imagesTr/`` +
        ``labelsTr/``.

    Returns
    -------
    Path
        ``folder``.

    Examples
    --------
    >>> import tempfile
    >>> from bsqkit.datasets.synthetic import write_cardiac_like
    >>> from bsqkit.datasets import load_labeled_folder
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     subjects, names = load_labeled_folder(write_cardiac_like(tmp, 2, (40, 60),
    ...         (2.0, 3.0), outlier_matrix=120))
    >>> [s.image.shape for s in subjects][-1], names
    ((120, 120, 10), {1: 'label 1', 2: 'label 2'})
    """
    folder = Path(folder)
    rng = np.random.RandomState(seed)
    images, labels = ("images", "labels") if layout == "images" else ("imagesTr", "labelsTr")
    for k in range(n_subjects):
        outlier = outlier_matrix is not None and k == n_subjects - 1
        if outlier:
            n_rows = n_cols = int(outlier_matrix)
            pixel = float(spacing[1])
        else:
            n_rows, n_cols = rng.randint(matrix[0], matrix[1] + 1, 2)
            pixel = float(rng.uniform(*spacing))
        fov = np.array([n_rows, n_cols]) * pixel
        # the body, in mm from the image's centre; the outlier's off-centre
        body_at = rng.uniform(-0.05, 0.05, 2) * fov
        if outlier:
            body_at = fov / 2 - 200.0
        body_radius = np.minimum(rng.uniform(140, 160, 2), fov / 2 - 5)
        heart_at = body_at + rng.uniform(-15, 15, 2)
        rows = (np.arange(n_rows) + 0.5 - n_rows / 2) * pixel
        cols = (np.arange(n_cols) + 0.5 - n_cols / 2) * pixel
        yy, xx = np.meshgrid(rows, cols, indexing="ij")
        body = ((yy - body_at[0]) / body_radius[0]) ** 2 + (
            (xx - body_at[1]) / body_radius[1]
        ) ** 2 <= 1
        image = np.zeros((n_rows, n_cols, n_slices), np.float32)
        label = np.zeros((n_rows, n_cols, n_slices), np.uint8)
        for z in range(n_slices):
            r = 50 * np.sin(np.pi * (z + 0.5) / n_slices) + 5
            d = np.hypot(yy - heart_at[0], xx - heart_at[1])
            label[..., z][d <= r] = 1
            label[..., z][d <= 0.7 * r] = 2
            image[..., z] = 60 * body + 80 * (label[..., z] == 1) + 160 * (label[..., z] == 2)
        image += rng.normal(0, 8, image.shape).astype(np.float32)
        affine = np.diag([pixel, pixel, 10.0, 1.0])
        name = f"patient{k:03d}"
        _save(folder, images, name, image, affine)
        _save(folder, labels, name, label, affine)
    return folder
