"""Data of the segmentation protocol: subjects read the right way, sliced, split, summarised.

The volumes go through the harmonising step that ``bsqkit suggest`` uses too
(:func:`bsqkit.datasets.harmonising.harmonise_subjects`: slice axis, canonical
orientation, classes, one grid of one pixel size, crop or pad). Each subject keeps its
native class volume, on which predictions are scored. Splits are by group (patient): the
volumes of one group are always on the same side.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bsqkit.datasets.harmonising import (
    HarmonisedData,
    HarmonisingSettings,
    SlicedSubject,
    harmonise_subjects,
)
from bsqkit.datasets.nifti import Subject
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
class SegmentationData:
    """The subjects of a run and what describes them.

    Parameters
    ----------
    harmonised : HarmonisedData
        The volumes as sliced, their classes and grid.
    n_available : int
        Subjects in the source before any subset was drawn.
    source : str
        ``"phantom"`` or the folder.

    Examples
    --------
    >>> from bsqkit.experiments.segmentation.data import prepare_dataset
    >>> data = prepare_dataset("phantom", image_size=16, n_subjects=2, phantom_size=3)
    >>> data.n_classes, data.n_available, len(data.subjects)
    (5, 3, 2)
    """

    harmonised: HarmonisedData
    n_available: int
    source: str

    @property
    def subjects(self) -> list[SlicedSubject]:
        """The harmonised volumes."""
        return self.harmonised.subjects

    @property
    def labels(self) -> dict[int, str]:
        """Foreground classes and their names."""
        return {k: n for k, n in self.harmonised.classes.as_dict().items() if k}

    @property
    def n_classes(self) -> int:
        """Classes including background."""
        return self.harmonised.classes.n_classes


def _load(
    source: str, group_by: str | None, groups_csv: str | None, phantom_size: int, seed: int
) -> tuple[list[Subject], dict[int, str]]:
    if source == "phantom":
        from bsqkit.datasets.phantom import PHANTOM_LABELS, make_shoulder_phantom

        subjects = make_shoulder_phantom(phantom_size, random_state=seed, harmonised=False)
        return subjects, {k: v for k, v in PHANTOM_LABELS.items() if k}
    from bsqkit.datasets.nifti import load_labeled_folder

    return load_labeled_folder(source, group_by=group_by, groups_csv=groups_csv)


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
    labels: str | Mapping | None = None,
    pixel_mm: float | None = None,
    crop_mm: float | None = None,
) -> SegmentationData:
    """Read the subjects of a run and harmonise them
    (:func:`~bsqkit.datasets.harmonising.harmonise_subjects`).

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
        Patient groups (:func:`~bsqkit.datasets.load_labeled_folder`).
    seed : int, default=0
        Seeds the phantom (``"phantom"``) and the draw of ``n_subjects``.
    phantom_size : int, default=36
        Subjects generated for ``"phantom"``.
    labels : str, mapping or None, default=None
        The classes to segment (``"47,48"``, ``"hippocampus=47+48"``, a JSON file);
        None: every label value.
    pixel_mm, crop_mm : float, optional
        The grid's pixel size or field of view in mm; None: the default grid.

    Returns
    -------
    SegmentationData

    Examples
    --------
    >>> from bsqkit.experiments.segmentation.data import prepare_dataset
    >>> data = prepare_dataset("phantom", image_size=24, n_subjects=2, phantom_size=4)
    >>> [s.X.shape[1:] for s in data.subjects], data.subjects[0].axis_reason[:14]
    ([(24, 24), (24, 24)], 'stored axis 2,')
    """
    settings = HarmonisingSettings(image_size, labels, pixel_mm, crop_mm, slice_axis)
    subjects, names = _load(source, group_by, groups_csv, phantom_size, seed)
    n_available = len(subjects)
    subjects = _draw_subjects(subjects, n_subjects, seed)
    harmonised = harmonise_subjects(subjects, settings, names, where=str(source))
    return SegmentationData(harmonised, n_available, str(source))


def subject_split(
    n_subjects: int, fractions: Sequence[float], seed: int
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """Pool / validation / test indices (of subjects or groups), each in exactly one set.

    With 36 subjects and (0.70, 0.05, 0.25) this gives the paper's 25 / 2 / 9.

    Parameters
    ----------
    n_subjects : int
        Number of subjects (or groups) to split; indices run from 0 to ``n_subjects - 1``.
    fractions : sequence of 3 float
        Pool, validation and test fractions, summing to 1.
    seed : int
        Seeds the random order of the subjects.

    Returns
    -------
    pool, validation, test : ndarray of int

    Examples
    --------
    >>> from bsqkit.experiments.segmentation.data import subject_split
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
        The harmonised subjects, from :func:`prepare_dataset`.
    fractions : sequence of 3 float
        Pool, validation and test fractions of the groups.
    holdout : int
        Seeds the split together with ``seed``.
    seed : int, default=0
        Seeds the split together with ``holdout`` (the seed is ``seed + holdout``).

    Returns
    -------
    dict
        ``X_pool`` (n, size, size) float32, ``y_pool`` (n, size, size) int64,
        ``pool_ids`` (n,) subject of each slice, ``pool_groups`` (n,) its group,
        ``test`` (list of SlicedSubject), ``validation`` (list of SlicedSubject),
        ``class_names`` (list of str, classes 1..K).

    Examples
    --------
    >>> from bsqkit.experiments.segmentation.data import prepare_dataset, split_holdout
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
        "class_names": list(data.harmonised.classes.names),
    }


def data_summary(data: SegmentationData, fractions: Sequence[float], seed: int = 0) -> dict:
    """What a user checks before training: subjects, groups, slicing, counts, labels.

    Parameters
    ----------
    data : SegmentationData
        The harmonised subjects, from :func:`prepare_dataset`.
    fractions : sequence of 3 float
        Pool, validation and test fractions of the groups, for the counts of holdout 0.
    seed : int, default=0
        Seed of the split (:func:`split_holdout`), for the counts of holdout 0.

    Returns
    -------
    dict
        JSON-ready.

    Examples
    --------
    >>> from bsqkit.experiments.segmentation.data import data_summary, prepare_dataset
    >>> data = prepare_dataset("phantom", image_size=16, n_subjects=4, phantom_size=4)
    >>> summary = data_summary(data, (0.70, 0.05, 0.25))
    >>> summary["subjects_used"], summary["slices"]["holdout_0"]["test_subjects"]
    (4, 1)
    """
    subjects = data.subjects
    split = split_holdout(data, fractions, 0, seed)
    counts = np.sum([s.class_voxels for s in subjects], axis=0)
    coverage = data.harmonised.coverage()
    classes = data.harmonised.classes
    spacing = np.array([s.grid.spacing for s in subjects])
    plan = data.harmonised.grid
    return {
        "source": data.source,
        "subjects_used": len(subjects),
        "subjects_available": data.n_available,
        "groups": len({s.group for s in subjects}),
        # the reasons without their spacings (those are on the next line)
        "slice_axis": dict(Counter(re.sub(r" \([^)]*\)", "", s.axis_reason) for s in subjects)),
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
        "labels": {str(k): v for k, v in classes.as_dict().items()},
        "classes": [
            {
                "class": k,
                "name": name,
                "values": list(values),
                "voxel_fraction": float(counts[k] / counts.sum()),
                "inside_grid": coverage.get(name),
            }
            for k, (name, values) in enumerate(zip(classes.names, classes.values, strict=True), 1)
        ],
        "voxel_fraction": {str(k): float(c / counts.sum()) for k, c in enumerate(counts)},
        "grid": {
            "size": plan.size,
            "pixel_mm": round(plan.pixel_mm, 4),
            "field_of_view_mm": round(plan.fov, 3),
            "chosen_by": plan.reason,
            "cropped_subjects": sum(s.grid.center is not None for s in subjects),
        },
        "warnings": data.harmonised.coverage_warnings(),
    }


# With more classes than this, the summary prints the largest and counts the rest.
SUMMARY_CLASSES = 8


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
    >>> from bsqkit.experiments.segmentation.data import (
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
        f"(field of view {grid['field_of_view_mm']} mm: {grid['chosen_by']}; "
        f"{grid['cropped_subjects']} of {summary['subjects_used']} subjects cropped)",
        _classes_line(summary["classes"], summary["voxel_fraction"]["0"]),
        *(f"  warning: {w}" for w in summary["warnings"]),
    ]
    return "\n".join(lines)


def _classes_line(classes: list[dict], background: float) -> str:
    """The classes by size, each with its share of the voxels and of it inside the grid;
    beyond :data:`SUMMARY_CLASSES`, a count of the rest."""

    def one(c: dict) -> str:
        inside = "" if c["inside_grid"] is None else f", {100 * c['inside_grid']:.1f} % in grid"
        values = "+".join(str(v) for v in c["values"])
        return f"{c['name']} [{values}] ({100 * c['voxel_fraction']:.2f} % of voxels{inside})"

    ranked = sorted(classes, key=lambda c: -c["voxel_fraction"])
    shown = ranked if len(ranked) <= SUMMARY_CLASSES else ranked[: SUMMARY_CLASSES - 1]
    noun = "class" if len(classes) == 1 else "classes"
    line = f"  {len(classes)} {noun} + background ({100 * background:.1f} % of voxels): "
    line += ", ".join(one(c) for c in shown)
    rest = ranked[len(shown) :]
    if rest:
        share = 100 * sum(c["voxel_fraction"] for c in rest)
        line += f"; and {len(rest)} smaller classes ({share:.2f} % of voxels)"
    return line


def write_summary(
    data: SegmentationData, fractions: Sequence[float], out: Path, seed: int = 0
) -> str:
    """Write ``summary.json`` and ``pool_examples.png`` into ``out``; return the text.

    Parameters
    ----------
    data : SegmentationData
        The harmonised subjects, from :func:`prepare_dataset`.
    fractions : sequence of 3 float
        Pool, validation and test fractions of the groups (:func:`data_summary`).
    out : Path
        Folder the two files are written to (created if needed; existing ones replaced).
    seed : int, default=0
        Seed of holdout 0's split and of the slices drawn for ``pool_examples.png``.

    Returns
    -------
    str
        :func:`format_summary` of the summary.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from bsqkit.experiments.segmentation.data import prepare_dataset, write_summary
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
        title=f"{data.source}: pool slices of holdout 0 with their classes",
        seed=seed,
        class_names=data.labels,
    )
    return format_summary(summary)
