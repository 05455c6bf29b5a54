"""Data of the segmentation protocol: subjects read the right way, sliced, split, summarised.

Every volume is reoriented to the closest canonical orientation and sliced along its
through-plane axis (:func:`bsqkit.datasets.slicing.choose_slice_axis`); its slices are
resampled onto one ``image_size x image_size`` grid covering the same field of view
for every subject (labels aligned with their images), after per-subject intensity
normalisation. Each subject keeps its native label volume, on which predictions are
scored. Splits are by group (patient): the volumes of one group are always on the same
side.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bsqkit.datasets.nifti import Subject, normalise_intensity
from bsqkit.datasets.slicing import SliceGrid, canonical_subject, choose_slice_axis, slice_grids
from bsqkit.exceptions import InputError

__all__ = [
    "SegmentationData",
    "SlicedSubject",
    "data_summary",
    "format_summary",
    "prepare_dataset",
    "split_holdout",
    "subject_split",
    "write_summary",
]


@dataclass
class SlicedSubject:
    """One subject as the protocol uses it.

    Parameters
    ----------
    id, group : str
    X : ndarray of shape (n_slices, size, size), float32
        Normalised slices on the common grid.
    y : ndarray of shape (n_slices, size, size), uint8
        Their label maps (aligned).
    native_label : ndarray of shape (n_slices, H, W), uint8
        The label volume on the subject's own grid (canonical orientation, slice axis
        first): predictions are scored on it.
    grid : SliceGrid
        The map between the two grids, and the subject's spacing.
    axis_reason : str
        Which stored axis was sliced, and why.

    Examples
    --------
    >>> from bsqkit.experiments.segmentation_data import prepare_dataset
    >>> data = prepare_dataset("phantom", image_size=32, n_subjects=2, phantom_size=2)
    >>> s = data.subjects[0]
    >>> s.X.shape[1:], s.native_label.shape[0] == s.X.shape[0]
    ((32, 32), True)
    """

    id: str
    group: str
    X: NDArray[np.float32]
    y: NDArray[np.uint8]
    native_label: NDArray[np.uint8]
    grid: SliceGrid
    axis_reason: str


@dataclass
class SegmentationData:
    """The subjects of a run and what describes them.

    Parameters
    ----------
    subjects : list of SlicedSubject
    labels : dict of int to str
        Foreground labels and their names.
    n_available : int
        Subjects in the source before any subset was drawn.
    source : str
        ``"phantom"`` or the folder.

    Examples
    --------
    >>> from bsqkit.experiments.segmentation_data import prepare_dataset
    >>> data = prepare_dataset("phantom", image_size=16, n_subjects=2, phantom_size=3)
    >>> data.n_classes, data.n_available, len(data.subjects)
    (5, 3, 2)
    """

    subjects: list[SlicedSubject]
    labels: dict[int, str]
    n_available: int
    source: str

    @property
    def n_classes(self) -> int:
        """Classes including background."""
        return max(self.labels) + 1


def _load(
    source: str, group_by: str | None, groups_csv: str | None, phantom_size: int, seed: int
) -> tuple[list[Subject], dict[int, str]]:
    if source == "phantom":
        from bsqkit.datasets.phantom import PHANTOM_LABELS, make_shoulder_phantom

        subjects = make_shoulder_phantom(phantom_size, random_state=seed, harmonised=False)
        return subjects, {k: v for k, v in PHANTOM_LABELS.items() if k}
    from bsqkit.datasets.nifti import load_labelled_folder

    return load_labelled_folder(source, group_by=group_by, groups_csv=groups_csv)


def _draw_subjects(subjects: list[Subject], n: int | None, seed: int) -> list[Subject]:
    """``n`` subjects drawn with the seed, whole groups at a time; all when None."""
    if n is None or n >= len(subjects):
        return subjects
    if n < 1:
        raise InputError(f"--subjects must be >= 1, got {n}")
    groups = list(dict.fromkeys(s.group or s.id for s in subjects))
    chosen: set[str] = set()
    count = 0
    sizes = Counter(s.group or s.id for s in subjects)
    for g in np.random.RandomState(seed).permutation(len(groups)):
        if count >= n:
            break
        chosen.add(groups[g])
        count += sizes[groups[g]]
    return [s for s in subjects if (s.group or s.id) in chosen]


def prepare_dataset(
    source: str,
    image_size: int,
    n_subjects: int | None = None,
    slice_axis: int | str = "auto",
    group_by: str | None = None,
    groups_csv: str | None = None,
    seed: int = 0,
    phantom_size: int = 36,
) -> SegmentationData:
    """Read, reorient, slice and resample the subjects of a run.

    Parameters
    ----------
    source : str
        ``"phantom"`` (the embedded synthetic shoulder MRI) or a folder in any layout of
        :data:`bsqkit.datasets.LAYOUTS`.
    image_size : int
        Side of the common grid in pixels.
    n_subjects : int, optional
        Draw this many subjects with ``seed`` (whole groups at a time), never the
        first ones in file order; None keeps all.
    slice_axis : "auto" or {0, 1, 2}, default="auto"
        See :func:`~bsqkit.datasets.slicing.choose_slice_axis`.
    group_by, groups_csv : str, optional
        Patient groups (:func:`~bsqkit.datasets.load_labelled_folder`).
    seed : int, default=0
    phantom_size : int, default=36
        Subjects generated for ``"phantom"``.

    Returns
    -------
    SegmentationData

    Examples
    --------
    >>> from bsqkit.experiments.segmentation_data import prepare_dataset
    >>> data = prepare_dataset("phantom", image_size=24, n_subjects=2, phantom_size=4)
    >>> [s.X.shape[1:] for s in data.subjects], data.subjects[0].axis_reason[:14]
    ([(24, 24), (24, 24)], 'stored axis 2,')
    """
    if not isinstance(image_size, int) or image_size < 8:
        raise InputError(f"image_size must be an int >= 8, got {image_size!r}")
    subjects, labels = _load(source, group_by, groups_csv, phantom_size, seed)
    n_available = len(subjects)
    subjects = _draw_subjects(subjects, n_subjects, seed)
    canonical, axes, reasons = [], [], []
    for s in subjects:
        axis, reason = choose_slice_axis(s, slice_axis)
        c, _ = canonical_subject(s)
        canonical.append(normalise_intensity(c))
        axes.append(axis)
        reasons.append(reason)
    grids = slice_grids(canonical, axes, image_size)
    sliced = []
    for s, axis, grid, reason in zip(canonical, axes, grids, reasons, strict=True):
        image, label = np.moveaxis(s.image, axis, 0), np.moveaxis(s.label, axis, 0)
        sliced.append(
            SlicedSubject(
                id=s.id,
                group=s.group or s.id,
                X=grid.to_grid(image).astype(np.float32),
                y=grid.to_grid(label, labels=True).astype(np.uint8),
                native_label=np.ascontiguousarray(label),
                grid=grid,
                axis_reason=reason,
            )
        )
    return SegmentationData(sliced, dict(labels), n_available, str(source))


def subject_split(
    n_subjects: int, fractions: Sequence[float], seed: int
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """Pool / validation / test indices (of subjects or groups), each in exactly one set.

    With 36 subjects and (0.70, 0.05, 0.25) this gives the paper's 25 / 2 / 9.

    Parameters
    ----------
    n_subjects : int
    fractions : sequence of 3 float
        Pool, validation and test fractions, summing to 1.
    seed : int

    Returns
    -------
    pool, validation, test : ndarray of int

    Examples
    --------
    >>> from bsqkit.experiments.segmentation_data import subject_split
    >>> pool, validation, test = subject_split(36, (0.70, 0.05, 0.25), seed=0)
    >>> len(pool), len(validation), len(test)  # the paper's 25 / 2 / 9
    (25, 2, 9)
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise InputError(f"split fractions must be three numbers >= 0 summing to 1: {fractions}")
    order = np.random.RandomState(seed).permutation(n_subjects)
    n_test = max(1, round(fractions[2] * n_subjects))
    n_val = round(fractions[1] * n_subjects)
    n_pool = n_subjects - n_test - n_val
    if n_pool < 1:
        raise InputError(f"{n_subjects} subjects (or groups) leave no pool subject")
    return order[:n_pool], order[n_pool : n_pool + n_val], order[n_pool + n_val :]


def split_holdout(
    data: SegmentationData, fractions: Sequence[float], holdout: int, seed: int = 0
) -> dict:
    """The pool slices and test subjects of one holdout; groups never straddle the split.

    Parameters
    ----------
    data : SegmentationData
    fractions : sequence of 3 float
        Pool, validation and test fractions of the groups.
    holdout : int
        Seeds the split together with ``seed``.
    seed : int, default=0

    Returns
    -------
    dict
        ``X_pool`` (n, size, size) float32, ``y_pool`` (n, size, size) int64,
        ``pool_ids`` (n,) subject of each slice, ``pool_groups`` (n,) its group,
        ``test`` (list of SlicedSubject), ``validation`` (list of SlicedSubject).

    Examples
    --------
    >>> from bsqkit.experiments.segmentation_data import prepare_dataset, split_holdout
    >>> data = prepare_dataset("phantom", image_size=16, n_subjects=4, phantom_size=4)
    >>> split = split_holdout(data, (0.70, 0.05, 0.25), holdout=0)
    >>> split["X_pool"].shape[1:], len(split["test"])
    ((16, 16), 1)
    """
    groups = list(dict.fromkeys(s.group for s in data.subjects))
    pool_g, val_g, test_g = subject_split(len(groups), fractions, seed + holdout)

    def members(indices):
        chosen = {groups[i] for i in indices}
        return [s for s in data.subjects if s.group in chosen]

    pool = members(pool_g)
    return {
        "X_pool": np.concatenate([s.X for s in pool]),
        "y_pool": np.concatenate([s.y for s in pool]).astype(np.int64),
        "pool_ids": np.concatenate([[s.id] * len(s.X) for s in pool]),
        "pool_groups": np.concatenate([[s.group] * len(s.X) for s in pool]),
        "validation": members(val_g),
        "test": members(test_g),
    }


def data_summary(data: SegmentationData, fractions: Sequence[float], seed: int = 0) -> dict:
    """What a user checks before training: subjects, groups, slicing, counts, labels.

    Parameters
    ----------
    data : SegmentationData
    fractions : sequence of 3 float
    seed : int, default=0

    Returns
    -------
    dict
        JSON-ready.

    Examples
    --------
    >>> from bsqkit.experiments.segmentation_data import data_summary, prepare_dataset
    >>> data = prepare_dataset("phantom", image_size=16, n_subjects=4, phantom_size=4)
    >>> summary = data_summary(data, (0.70, 0.05, 0.25))
    >>> summary["subjects_used"], summary["slices"]["holdout_0"]["test_subjects"]
    (4, 1)
    """
    subjects = data.subjects
    split = split_holdout(data, fractions, 0, seed)
    counts = np.zeros(data.n_classes, dtype=np.int64)
    for s in subjects:
        counts += np.bincount(s.native_label.ravel(), minlength=data.n_classes)[: data.n_classes]
    spacing = np.array([s.grid.spacing for s in subjects])
    grid = subjects[0].grid
    return {
        "source": data.source,
        "subjects_used": len(subjects),
        "subjects_available": data.n_available,
        "groups": len({s.group for s in subjects}),
        "slice_axis": dict(Counter(s.axis_reason for s in subjects)),
        "spacing_mm": {
            "through_plane": [float(spacing[:, 0].min()), float(spacing[:, 0].max())],
            "in_plane": [float(spacing[:, 1:].min()), float(spacing[:, 1:].max())],
        },
        "slices": {
            "total": int(sum(len(s.X) for s in subjects)),
            "per_subject": [
                int(min(len(s.X) for s in subjects)),
                int(max(len(s.X) for s in subjects)),
            ],
            "holdout_0": {
                "pool_slices": len(split["X_pool"]),
                "validation_slices": int(sum(len(s.X) for s in split["validation"])),
                "test_slices": int(sum(len(s.X) for s in split["test"])),
                "pool_subjects": len(set(split["pool_ids"].tolist())),
                "test_subjects": len(split["test"]),
            },
        },
        "labels": {str(k): v for k, v in {0: "background", **data.labels}.items()},
        "voxel_fraction": {str(k): float(c / counts.sum()) for k, c in enumerate(counts)},
        "grid": {
            "size": grid.size,
            "pixel_mm": round(grid.pixel_mm, 4),
            "field_of_view_mm": round(grid.fov, 3),
        },
    }


def format_summary(summary: dict) -> str:
    """The summary as the lines the command prints.

    Parameters
    ----------
    summary : dict
        From :func:`data_summary`.

    Returns
    -------
    str

    Examples
    --------
    >>> from bsqkit.experiments.segmentation_data import (
    ...     data_summary, format_summary, prepare_dataset)
    >>> data = prepare_dataset("phantom", image_size=16, n_subjects=4, phantom_size=4)
    >>> print(format_summary(data_summary(data, (0.70, 0.05, 0.25))).splitlines()[0])
    phantom: 4 of 4 subjects, 4 groups
    """
    h0 = summary["slices"]["holdout_0"]
    grid = summary["grid"]
    lines = [
        f"{summary['source']}: {summary['subjects_used']} of {summary['subjects_available']} "
        f"subjects, {summary['groups']} groups",
        *(f"  slices: {why} ({n} subjects)" for why, n in summary["slice_axis"].items()),
        "  spacing: through-plane {:.3g}-{:.3g} mm, in-plane {:.3g}-{:.3g} mm".format(
            *summary["spacing_mm"]["through_plane"], *summary["spacing_mm"]["in_plane"]
        ),
        f"  {summary['slices']['total']} slices "
        f"({summary['slices']['per_subject'][0]}-{summary['slices']['per_subject'][1]} "
        "per subject); holdout 0: "
        f"{h0['pool_slices']} pool / {h0['validation_slices']} validation / "
        f"{h0['test_slices']} test slices ({h0['pool_subjects']} / {h0['test_subjects']} "
        "pool / test subjects)",
        f"  grid: {grid['size']} x {grid['size']} px of {grid['pixel_mm']} mm "
        f"(field of view {grid['field_of_view_mm']} mm)",
        "  labels: "
        + ", ".join(
            f"{k} {name} ({100 * summary['voxel_fraction'][k]:.2f} % of voxels)"
            for k, name in summary["labels"].items()
        ),
    ]
    return "\n".join(lines)


def write_summary(
    data: SegmentationData, fractions: Sequence[float], out: Path, seed: int = 0
) -> str:
    """Write ``summary.json`` and ``pool_examples.png`` into ``out``; return the text.

    Parameters
    ----------
    data : SegmentationData
    fractions : sequence of 3 float
    out : Path
    seed : int, default=0

    Returns
    -------
    str
        :func:`format_summary` of the summary.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from bsqkit.experiments.segmentation_data import prepare_dataset, write_summary
    >>> data = prepare_dataset("phantom", image_size=16, n_subjects=4, phantom_size=4)
    >>> with tempfile.TemporaryDirectory() as out:
    ...     text = write_summary(data, (0.70, 0.05, 0.25), Path(out))
    ...     sorted(p.name for p in Path(out).iterdir())
    ['pool_examples.png', 'summary.json']
    """
    from bsqkit._io import write_json_atomic
    from bsqkit.plotting import plot_slice_montage

    summary = data_summary(data, fractions, seed)
    write_json_atomic(Path(out) / "summary.json", summary)
    split = split_holdout(data, fractions, 0, seed)
    plot_slice_montage(
        split["X_pool"],
        split["y_pool"],
        Path(out) / "pool_examples.png",
        ids=split["pool_ids"],
        title=f"{data.source}: pool slices of holdout 0 with their labels",
        seed=seed,
    )
    return format_summary(summary)
