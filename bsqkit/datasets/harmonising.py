"""One harmonising step from volumes to the slices a network sees, shared by the
segmentation benchmark and ``bsqkit suggest``.

For every volume: the slice axis (:func:`~bsqkit.datasets.slicing.choose_slice_axis`),
the canonical orientation, per-volume intensity normalisation, the label values mapped
to the run's classes (:mod:`bsqkit.datasets.label_classes`: values not selected become
background), and the slices resampled onto one square grid of one pixel size
(:func:`~bsqkit.datasets.slicing.plan_grid`), centred on the slice where the grid covers
it and cropped around the body where it does not
(:func:`~bsqkit.datasets.slicing.crop_center`). Each volume keeps its class map on its own
grid, on which predictions are scored, and counts how much of each class the grid covers,
so that a crop that cuts anatomy shows before any training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bsqkit.datasets.label_classes import LabelClasses, parse_label_classes
from bsqkit.datasets.nifti import Subject, normalise_intensity
from bsqkit.datasets.slicing import (
    GridPlan,
    SliceGrid,
    canonical_subject,
    check_size_mm,
    choose_slice_axis,
    crop_center,
    inplane_geometry,
    plan_grid,
)
from bsqkit.exceptions import InputError

__all__ = [
    "COVERAGE_WARNING",
    "HarmonisedData",
    "HarmonisingSettings",
    "SlicedSubject",
    "harmonise_subjects",
]

# Below this fraction of a class's voxels inside the grid, the summary warns: the crop
# cuts anatomy that the network can then never predict.
COVERAGE_WARNING = 0.99


@dataclass(frozen=True)
class HarmonisingSettings:
    """What the harmonising step is asked for (a profile and the command line).

    Parameters
    ----------
    image_size : int
        Side of the common grid in pixels (>= 8).
    labels : str, Path, mapping or None, default=None
        The classes (:func:`~bsqkit.datasets.label_classes.parse_label_classes`); None:
        every label value found is a class.
    pixel_mm, crop_mm : float, optional
        Pixel size, or side of the field of view, in mm
        (:func:`~bsqkit.datasets.slicing.plan_grid`); None: the default grid.
    slice_axis : "auto" or {0, 1, 2}, default="auto"
        The axis to slice each volume along
        (:func:`~bsqkit.datasets.slicing.choose_slice_axis`): ``"auto"`` or a stored axis.

    Examples
    --------
    >>> from bsqkit.datasets.harmonising import HarmonisingSettings
    >>> HarmonisingSettings(48, labels="hippocampus=1+2", crop_mm=60).image_size
    48
    """

    image_size: int
    labels: str | Path | Mapping | None = None
    pixel_mm: float | None = None
    crop_mm: float | None = None
    slice_axis: int | str = "auto"

    def __post_init__(self) -> None:
        # checked when made, before any volume is read
        size = self.image_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 8:
            raise InputError(f"image_size must be an int >= 8, got {size!r}")
        check_size_mm(self.pixel_mm, "--pixel-mm")
        check_size_mm(self.crop_mm, "--crop-mm")


@dataclass
class SlicedSubject:
    """One volume as a network sees it, and what scores it.

    Parameters
    ----------
    id, group : str
        The volume's subject id, and its group (the subject's own id when it has none).
    X : ndarray of shape (n_slices, size, size), float32
        Normalised slices on the common grid.
    y : ndarray of shape (n_slices, size, size), uint8
        Their class maps (aligned).
    native_label : ndarray of shape (n_slices, H, W), uint8
        The class map on the volume's own grid (canonical orientation, slice axis
        first): predictions are scored on it.
    grid : SliceGrid
        The map between the two grids, and the volume's spacing.
    axis : int
        The canonical slice axis.
    axis_reason : str
        Which stored axis was sliced, and why.
    class_voxels : ndarray of shape (n_classes,)
        Voxels of each class (background first) on the volume's own grid.
    class_voxels_in_grid : ndarray of shape (n_classes,)
        Those of them that the grid covers.

    Examples
    --------
    >>> from bsqkit.experiments.segmentation.data import prepare_dataset
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
    axis: int
    axis_reason: str
    class_voxels: NDArray[np.int64]
    class_voxels_in_grid: NDArray[np.int64]


@dataclass
class HarmonisedData:
    """The harmonised volumes, their classes and their grid.

    Parameters
    ----------
    subjects : list of SlicedSubject
        The volumes, sliced and on the common grid.
    classes : LabelClasses
        The foreground classes that the label values were mapped to.
    grid : GridPlan
        The common grid (size in pixels, field of view in mm) of every subject.

    Examples
    --------
    >>> from bsqkit.experiments.segmentation.data import prepare_dataset
    >>> data = prepare_dataset("phantom", image_size=16, n_subjects=2, phantom_size=2)
    >>> sorted(data.harmonised.coverage().values()) == [1.0] * 4
    True
    """

    subjects: list[SlicedSubject]
    classes: LabelClasses
    grid: GridPlan

    def coverage(self, subjects: Sequence[SlicedSubject] | None = None) -> dict[str, float]:
        """Fraction of each class's labeled voxels that the grid covers, by class name
        (classes with no voxel are left out)."""
        subjects = self.subjects if subjects is None else subjects
        total = np.sum([s.class_voxels for s in subjects], axis=0)
        inside = np.sum([s.class_voxels_in_grid for s in subjects], axis=0)
        return {
            name: float(inside[k] / total[k])
            for k, name in enumerate(self.classes.names, start=1)
            if total[k] > 0
        }

    def coverage_warnings(self) -> list[str]:
        """One line per class of which less than :data:`COVERAGE_WARNING` lies inside
        the grid."""
        lines = []
        coverage = self.coverage()
        for k, name in enumerate(self.classes.names, start=1):
            fraction = coverage.get(name, 1.0)
            if fraction < COVERAGE_WARNING:
                cut = [
                    s.id
                    for s in self.subjects
                    if s.class_voxels_in_grid[k] < COVERAGE_WARNING * s.class_voxels[k]
                ]
                lines.append(
                    f"only {100 * fraction:.1f} % of {name!r} lies inside the "
                    f"{self.grid.fov:.4g} mm grid (cut in {len(cut)} volumes, e.g. "
                    f"{', '.join(cut[:3])}): a larger --crop-mm or --pixel-mm keeps it"
                )
        return lines


def _label_counts(label: NDArray) -> NDArray[np.int64]:
    return np.bincount(np.asarray(label, dtype=np.uint8).ravel(), minlength=256)


def harmonise_subjects(
    subjects: Sequence[Subject],
    settings: HarmonisingSettings,
    names: Mapping[int, str] | None = None,
    declared: set[int] | None = None,
    where: str = "the data",
) -> HarmonisedData:
    """Slice, normalise, map labels to classes and resample volumes onto one grid.

    Parameters
    ----------
    subjects : sequence of Subject
        As stored (any orientation); an unlabeled volume has an all-zero label.
    settings : HarmonisingSettings
        The grid size, pixel size or crop, classes and slice axis to use.
    names : mapping of int to str, optional
        Names of the label values (``dataset.json``, ``labels.json``).
    declared : set of int, optional
        Label values that count as present even if no volume holds them yet (a project's
        ``labels.json`` before anything is drawn).
    where : str, default="the data"
        The data, for messages.

    Returns
    -------
    HarmonisedData

    Raises
    ------
    InputError
        Bad settings (:class:`HarmonisingSettings`) or a class value that no label volume
        holds.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.datasets import Subject
    >>> from bsqkit.datasets.harmonising import HarmonisingSettings, harmonise_subjects
    >>> label = np.zeros((40, 40, 3), "uint8")
    >>> label[10:20, 10:20], label[20:30, 20:30], label[30:35, 5:10] = 47, 48, 7
    >>> atlas = Subject("a", label.astype("float32"), label, (1.0, 1.0, 2.0))
    >>> data = harmonise_subjects([atlas], HarmonisingSettings(20, labels="hippocampus=47+48"))
    >>> data.classes.as_dict(), data.subjects[0].y.shape, np.unique(data.subjects[0].y).tolist()
    ({0: 'background', 1: 'hippocampus'}, (3, 20, 20), [0, 1])
    """
    size = settings.image_size
    if not subjects:
        raise InputError(f"{where} holds no volume")
    counts = np.sum([_label_counts(s.label) for s in subjects], axis=0)
    present = {int(v) for v in np.flatnonzero(counts)} | set(declared or ())
    classes = parse_label_classes(settings.labels, names)
    if classes is None:
        classes = LabelClasses.each_value(present, names)
    else:
        classes.check_present(present, where)
    axes = [choose_slice_axis(s, settings.slice_axis) for s in subjects]
    geometry = [inplane_geometry(s, axis) for s, (axis, _) in zip(subjects, axes, strict=True)]
    extents = [max(n * d for n, d in zip(shape, sp[1:], strict=True)) for shape, sp in geometry]
    plan = plan_grid(extents, size, settings.pixel_mm, settings.crop_mm)
    table = classes.lookup_table()
    out = []
    for s, (axis, reason), (shape, spacing) in zip(subjects, axes, geometry, strict=True):
        canonical = normalise_intensity(canonical_subject(s)[0])
        image = np.moveaxis(canonical.image, axis, 0)
        label = np.ascontiguousarray(table[np.moveaxis(canonical.label, axis, 0)])
        grid = SliceGrid(shape, spacing, size, plan.fov, crop_center(image, spacing[1:], plan.fov))
        inside = grid.inside()
        out.append(
            SlicedSubject(
                id=s.id,
                group=s.group or s.id,
                X=grid.to_grid(image).astype(np.float32),
                y=grid.to_grid(label, labels=True),
                native_label=label,
                grid=grid,
                axis=axis,
                axis_reason=reason,
                class_voxels=np.bincount(label.ravel(), minlength=classes.n_classes),
                class_voxels_in_grid=np.bincount(
                    label[:, inside].ravel(), minlength=classes.n_classes
                ),
            )
        )
    return HarmonisedData(out, classes, plan)
