"""A synthetic shoulder MRI phantom in the paper's two acquisition settings."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from sklearn.utils import check_random_state

from bsqkit.datasets.nifti import Subject, harmonise

__all__ = ["PHANTOM_LABELS", "make_shoulder_phantom"]

PHANTOM_LABELS = {
    0: "background",
    1: "humerus",
    2: "scapula",
    3: "supraspinatus",
    4: "infraspinatus + teres minor",
}

# Table 1 of the paper: (shape, spacing in mm)
_SETTINGS = (((192, 192, 64), (0.91, 0.91, 3.0)), ((144, 144, 56), (0.83, 0.83, 3.0)))


def _ellipsoid(coords, centre, radii, angle):
    """Boolean mask of a rotated (in-plane) ellipsoid; coords in mm, shape (3, ...)."""
    x, y, z = (c - m for c, m in zip(coords, centre, strict=True))
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = cos * x + sin * y, -sin * x + cos * y
    return (u / radii[0]) ** 2 + (v / radii[1]) ** 2 + (z / radii[2]) ** 2 <= 1.0


def _subject(shape, spacing, rng) -> tuple[NDArray[np.float32], NDArray[np.uint8]]:
    axes = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing, strict=True)]
    coords = np.meshgrid(*axes, indexing="ij", sparse=True)
    # subject-to-subject variation: size, pose (shift, in-plane rotation), intensity
    scale = rng.uniform(0.85, 1.15)
    shift = rng.normal(0, 6, size=3) * np.array([1, 1, 0.5])
    angle = rng.normal(0, 0.15)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])

    def place(offset):
        xy = rot @ (np.asarray(offset[:2]) * scale)
        return (xy[0] + shift[0], xy[1] + shift[1], offset[2] * scale + shift[2])

    label = np.zeros(shape, np.uint8)
    body = _ellipsoid(coords, place((0, 0, 0)), np.array([75, 65, 120]) * scale, angle)
    head = _ellipsoid(
        coords,
        place((-20, 5, 20)),
        np.array([22, 22, 22]) * scale * rng.uniform(0.9, 1.1, 3),
        angle,
    )
    shaft = _ellipsoid(coords, place((-25, 8, -40)), np.array([12, 12, 60]) * scale, angle)
    humerus = head | shaft
    scapula = _ellipsoid(
        coords,
        place((22, 10, 5)),
        np.array([8, 45, 55]) * scale * rng.uniform(0.9, 1.1, 3),
        angle + 0.3,
    )
    supra = _ellipsoid(
        coords,
        place((10, -25, 45)),
        np.array([40, 12, 14]) * scale * rng.uniform(0.85, 1.15, 3),
        angle - 0.2,
    )
    infra = _ellipsoid(
        coords,
        place((35, 25, 0)),
        np.array([18, 30, 45]) * scale * rng.uniform(0.85, 1.15, 3),
        angle + 0.2,
    )
    # later structures win where they overlap; bones last, they are the hardest edges
    for value, mask in ((4, infra), (3, supra), (2, scapula), (1, humerus)):
        label[mask & body] = value
    tissue = {
        0: rng.uniform(0.25, 0.35),
        1: rng.uniform(0.75, 0.9),
        2: rng.uniform(0.7, 0.85),
        3: rng.uniform(0.45, 0.55),
        4: rng.uniform(0.5, 0.6),
    }
    image = np.zeros(shape, np.float32)
    image[body] = tissue[0]
    for value in (1, 2, 3, 4):
        image[label == value] = tissue[value]
    cortex = ndimage.binary_dilation(label == 1, iterations=1) & ~(label == 1)
    image[cortex & body] = 0.1  # dark cortical bone rim around the humerus
    # smooth multiplicative bias field and Rician-like noise
    bx, by = rng.normal(0, 0.15, 2) / 100
    bias = 1 + bx * coords[0] + by * coords[1]  # (nx, ny, 1): constant along z
    image = image * bias.astype(np.float32)
    noise = rng.normal(0, 0.04, size=(2, *shape)).astype(np.float32)
    image = np.sqrt((image + noise[0]) ** 2 + noise[1] ** 2)
    return image.astype(np.float32), label


def make_shoulder_phantom(
    n_subjects: int = 36,
    random_state: int | np.random.RandomState | None = None,
    harmonised: bool = True,
) -> list[Subject]:
    """Synthetic shoulder MRI volumes with four labeled structures (the embedded default).

    Subjects alternate between the paper's two acquisition settings (Table 1):
    192 x 192 x 64 at 0.91 x 0.91 x 3.0 mm and 144 x 144 x 56 at 0.83 x 0.83 x 3.0 mm,
    20 : 16 for 36 subjects. Anatomy is drawn in millimetres, so both settings image the
    same kind of shoulder at their own resolution: humerus (head and shaft, with a dark
    cortical rim), scapula, supraspinatus, infraspinatus with teres minor (labels 1-4,
    :data:`PHANTOM_LABELS`), varying in size, position, in-plane rotation and tissue
    intensity, with a linear bias field and Rician-like noise. With ``harmonised``
    (default) the second setting is resampled to the first's voxel size and zero-padded
    to 192 x 192 in-plane, as in the paper.

    Parameters
    ----------
    n_subjects : int, default=36
        Number of volumes (>= 1), split between the two settings about 20 : 16.
    random_state : int, RandomState instance or None
        Makes the phantom deterministic.
    harmonised : bool, default=True
        Resample and pad every volume to the first setting's voxel size and in-plane size;
        False keeps each volume at its own setting.

    Returns
    -------
    list of Subject
        Ids ``phantom_<k>_s<setting>``.

    Examples
    --------
    >>> from bsqkit.datasets import PHANTOM_LABELS, make_shoulder_phantom
    >>> subjects = make_shoulder_phantom(n_subjects=2, random_state=0)
    >>> [(s.id, s.image.shape) for s in subjects]
    [('phantom_00_s2', (192, 192, 56)), ('phantom_01_s1', (192, 192, 64))]
    >>> subjects[0].spacing  # harmonised to setting #1
    (0.91, 0.91, 3.0)
    >>> sorted(set(subjects[0].label.ravel().tolist())) == sorted(PHANTOM_LABELS)
    True
    """
    if n_subjects < 1:
        raise ValueError(f"n_subjects must be >= 1, got {n_subjects}")
    rng = check_random_state(random_state)
    n_first = round(n_subjects * 20 / 36)
    settings = [0] * n_first + [1] * (n_subjects - n_first)
    order = rng.permutation(n_subjects)
    subjects = []
    for k in range(n_subjects):
        setting = settings[order[k]]
        shape, spacing = _SETTINGS[setting]
        image, label = _subject(shape, spacing, rng)
        subjects.append(Subject(f"phantom_{k:02d}_s{setting + 1}", image, label, spacing))
    return (
        harmonise(subjects, spacing=_SETTINGS[0][1], shape=_SETTINGS[0][0])
        if harmonised
        else subjects
    )
