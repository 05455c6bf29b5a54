"""MRI volumes with label maps from NIfTI files (nibabel), and their preparation.

Reads the Medical Segmentation Decathlon layout (``dataset.json``, ``imagesTr/``,
``labelsTr/``) or a plain folder of image/label pairs; keeps the voxel spacing;
harmonises acquisition settings as the paper does (images resampled bilinearly and
labels by nearest neighbour to a common voxel size, then zero-padded to a common size);
normalises intensities per subject; cuts volumes into 2-D slices with subject ids.

Kept whole: the readers of every layout share how image and label files are paired,
checked and grouped by patient.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from bsqkit._deprecation import renamed_function
from bsqkit.exceptions import InputError

__all__ = [
    "LAYOUTS",
    "Subject",
    "harmonise",
    "load_decathlon",
    "load_labeled_folder",
    "load_nifti_pairs",
    "normalise_intensity",
    "to_slices",
]

NIFTI_SUFFIXES = (".nii.gz", ".nii")


@dataclass
class Subject:
    """One volume: image (float32), label map (uint8), voxel spacing (mm) and id.

    Parameters
    ----------
    id : str
        Subject identifier (the file name without extension for NIfTI data).
    image : ndarray of shape (X, Y, Z), float32
        Image intensities, on the same voxel grid as ``label``.
    label : ndarray of shape (X, Y, Z), uint8
        Integer label map; 0 is background.
    spacing : tuple of 3 float
        Voxel size in millimetres along the three axes.
    affine : ndarray of shape (4, 4), optional
        Voxel-to-world (RAS+, mm) matrix of the file; None for synthetic volumes (then
        the axes are taken as R, A, S with ``spacing``).
    group : str, optional
        The patient (or other unit) the volume belongs to; volumes of one group stay on
        the same side of every split. None: the subject is a group of its own.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.datasets import Subject
    >>> image, label = np.zeros((4, 5, 6), "float32"), np.zeros((4, 5, 6), "uint8")
    >>> s = Subject("s01", image, label, spacing=(1.0, 1.0, 3.0))
    >>> s.id, s.image.shape, s.spacing
    ('s01', (4, 5, 6), (1.0, 1.0, 3.0))
    """

    id: str
    image: NDArray[np.float32]
    label: NDArray[np.uint8]
    spacing: tuple[float, ...]
    affine: NDArray[np.float64] | None = None
    group: str | None = None


def nifti_stem(path: Path) -> str:
    """A NIfTI file's name without ``.nii`` or ``.nii.gz`` (what pairs images and labels)."""
    name = path.name
    for suffix in NIFTI_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def check_label_volume(
    image_path: Path,
    image: nib.Nifti1Image,
    label_path: Path,
    label: nib.Nifti1Image,
    values: NDArray | None = None,
    declared: set[int] | None = None,
    declared_in: str = "dataset.json",
) -> NDArray[np.uint8] | None:
    """Refuse a label volume that is not on its image's grid or not a label map.

    Checks the shape and the affine against the image's (naming both files); with
    ``values`` (the label data), that they are integers in [0, 255] and among
    ``declared`` when given.

    Parameters
    ----------
    image_path, label_path : Path
    image, label : nibabel image
    values : ndarray, optional
        The label volume's data.
    declared : set of int, optional
        The label values the data set declares.
    declared_in : str, default="dataset.json"
        Where they are declared (for the message).

    Returns
    -------
    ndarray of uint8 or None
        ``values`` as labels, when given.

    Raises
    ------
    InputError

    Examples
    --------
    >>> import numpy as np
    >>> import nibabel as nib
    >>> from pathlib import Path
    >>> from bsqkit.datasets.nifti import check_label_volume
    >>> image = nib.Nifti1Image(np.zeros((4, 4, 2), "float32"), np.eye(4))
    >>> label = nib.Nifti1Image(np.ones((4, 4, 2), "uint8"), np.eye(4))
    >>> check_label_volume(Path("i.nii"), image, Path("l.nii"), label, np.ones((4, 4, 2))).dtype
    dtype('uint8')
    """
    if image.shape[:3] != label.shape[:3]:
        raise InputError(
            f"{image_path} {image.shape} and {label_path} {label.shape} differ in shape"
        )
    if not np.allclose(image.affine, label.affine, rtol=1e-4, atol=1e-3):
        raise InputError(
            f"{image_path} and {label_path} have different affines (voxel-to-world "
            "matrices): the label map is not on the image's grid"
        )
    if values is None:
        return None
    if not np.allclose(values, np.round(values)) or values.min() < 0 or values.max() > 255:
        raise InputError(f"{label_path} does not hold integer labels in [0, 255]")
    if declared is not None:
        extra = sorted(set(np.unique(values).astype(int).tolist()) - set(declared))
        if extra:
            raise InputError(
                f"{label_path} holds label values {extra} outside the classes declared in "
                f"{declared_in} ({sorted(declared)})"
            )
    return values.astype(np.uint8)


def read_nifti(path: Path, dtype: Any = np.float32) -> tuple[nib.Nifti1Image, NDArray]:
    """A NIfTI file and its data, read at once (a truncated file fails here, by name);
    4-D data gives its first volume (Decathlon's first modality).

    Parameters
    ----------
    path : Path
        The file.
    dtype : numpy dtype or None, default=np.float32
        The image data as floats of this type; None: the stored values (a label map).

    Returns
    -------
    image : nibabel image
    data : ndarray

    Raises
    ------
    InputError
        The file cannot be read as NIfTI.
    """
    try:
        image = nib.load(path)
        data = np.asarray(image.get_fdata(dtype=dtype) if dtype else image.dataobj)
    except Exception as exc:  # nibabel raises several kinds on bad files
        raise InputError(f"{path} cannot be read as NIfTI: {exc}") from exc
    return image, data[..., 0] if data.ndim == 4 else data


def read_volume(
    subject_id: str,
    image_path: Path,
    label_path: Path | None = None,
    declared: set[int] | None = None,
    declared_in: str = "dataset.json",
) -> tuple[Subject, nib.Nifti1Image]:
    """One volume of a folder being annotated: its image, and its label map when it has
    one (else all background), checked to be on the image's grid.

    Parameters
    ----------
    subject_id : str
        The subject's id.
    image_path : Path
        The image file.
    label_path : Path, optional
        The label file; None: not annotated yet.
    declared : set of int, optional
        The label values the data set declares (:func:`check_label_volume`).
    declared_in : str, default="dataset.json"
        Where they are declared (for the message).

    Returns
    -------
    subject : Subject
    image : nibabel image
        The image as read (its header and affine).

    Raises
    ------
    InputError
        A file that cannot be read, an image that is not a finite 3-D volume, or a label
        map that is not on the image's grid or holds values other than labels.
    """
    image, data = read_nifti(image_path)
    if data.ndim != 3 or not np.isfinite(data).all():
        raise InputError(f"{image_path} must be a finite 3-D volume, got shape {data.shape}")
    label = np.zeros(data.shape, np.uint8)
    if label_path is not None:
        stored, values = read_nifti(label_path, dtype=None)
        label = check_label_volume(
            Path(image_path), image, Path(label_path), stored, values, declared, declared_in
        )
    zooms = tuple(float(z) for z in image.header.get_zooms()[:3])
    subject = Subject(subject_id, data, label, zooms, affine=np.asarray(image.affine, float))
    return subject, image


def _load_pair(
    image_path: Path, label_path: Path, declared_labels: set[int] | None = None
) -> Subject:
    try:
        image = nib.load(image_path)
        label = nib.load(label_path)
        check_label_volume(image_path, image, label_path, label)  # before reading data
        data = np.asarray(image.get_fdata(dtype=np.float32))
        values = np.asarray(label.dataobj)
    except (OSError, EOFError, zlib.error, nib.filebasedimages.ImageFileError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise InputError(f"{exc.filename} does not exist") from exc
        raise InputError(
            f"{image_path} or {label_path} cannot be read, corrupt or truncated: {exc}"
        ) from exc
    if data.ndim == 4:  # Decathlon multi-modal volumes: first modality
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(f"{image_path} is not a 3-D volume (shape {data.shape})")
    labels = check_label_volume(image_path, image, label_path, label, values, declared_labels)
    if not np.isfinite(data).all():
        raise InputError(f"{image_path} contains NaN or inf")
    spacing = tuple(float(z) for z in image.header.get_zooms()[:3])
    return Subject(
        nifti_stem(image_path), data, labels, spacing, affine=np.asarray(image.affine, np.float64)
    )


def load_decathlon(folder: str | Path, limit: int | None = None) -> list[Subject]:
    """Subjects of a Medical Segmentation Decathlon task folder (its ``training`` list).

    Parameters
    ----------
    folder : str or Path
        Holds ``dataset.json``, ``imagesTr/`` and ``labelsTr/``.
    limit : int, optional
        Read only the first ``limit`` subjects.

    Returns
    -------
    list of Subject

    Examples
    --------
    >>> from bsqkit.datasets import load_decathlon
    >>> subjects = load_decathlon("../shared/data/hippocampus", limit=2)  # doctest: +SKIP
    >>> subjects[0].image.ndim, subjects[0].spacing  # doctest: +SKIP
    (3, (1.0, 1.0, 1.0))
    """
    folder = Path(folder)
    index = folder / "dataset.json"
    if not index.is_file():
        raise FileNotFoundError(f"{index} not found: not a Decathlon task folder")
    meta = json.loads(index.read_text())
    declared = {int(k) for k in meta.get("labels", {})} or None
    entries = meta["training"][:limit]
    return [_load_pair(folder / e["image"], folder / e["label"], declared) for e in entries]


def load_nifti_pairs(
    images_dir: str | Path, labels_dir: str | Path, limit: int | None = None
) -> list[Subject]:
    """Subjects from a folder of images and a folder of label maps with the same names.

    Parameters
    ----------
    images_dir, labels_dir : str or Path
        Folders of ``.nii`` / ``.nii.gz`` files; an image and its label map share a file name.
    limit : int, optional
        Read only the first ``limit`` subjects (sorted by name).

    Returns
    -------
    list of Subject

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import nibabel as nib
    >>> import numpy as np
    >>> from bsqkit.datasets import load_nifti_pairs
    >>> affine = np.diag([0.75, 0.75, 3.0, 1.0])  # voxel spacing in mm
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for folder, array in (("images", np.zeros((6, 6, 4), np.float32)),
    ...                           ("labels", np.ones((6, 6, 4), np.uint8))):
    ...         (Path(tmp) / folder).mkdir()
    ...         nib.save(nib.Nifti1Image(array, affine), Path(tmp) / folder / "case_01.nii.gz")
    ...     subjects = load_nifti_pairs(Path(tmp) / "images", Path(tmp) / "labels")
    ...
    >>> subjects[0].id, subjects[0].image.shape, subjects[0].spacing
    ('case_01', (6, 6, 4), (0.75, 0.75, 3.0))
    """
    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    images = sorted(p for p in images_dir.iterdir() if p.name.endswith(NIFTI_SUFFIXES))
    if not images:
        raise FileNotFoundError(f"no .nii or .nii.gz files in {images_dir}")
    labels = {nifti_stem(p): p for p in labels_dir.iterdir() if p.name.endswith(NIFTI_SUFFIXES)}
    missing = [nifti_stem(p) for p in images if nifti_stem(p) not in labels]
    if missing:
        raise FileNotFoundError(f"no label map in {labels_dir} for {missing[:5]}")
    return [_load_pair(p, labels[nifti_stem(p)]) for p in images[:limit]]


LAYOUTS = (
    "a Decathlon task folder: dataset.json, imagesTr/, labelsTr/",
    "imagesTr/ and labelsTr/ with image and label files of the same names",
    "images/ and labels/ with image and label files of the same names",
)


def load_labeled_folder(
    folder: str | Path,
    group_by: str | None = None,
    groups_csv: str | Path | None = None,
) -> tuple[list[Subject], dict[int, str]]:
    r"""Every labeled volume of a folder, in any of the accepted layouts, with groups.

    Parameters
    ----------
    folder : str or Path
        One of the layouts in :data:`LAYOUTS`.
    group_by : str, optional
        A regular expression whose first capture group, searched in a file's name
        without extension, names the subject's group (the patient), e.g.
        ``(patient\d+)_frame\d+``.
    groups_csv : str or Path, optional
        A CSV file with the columns ``subject,group`` (subject = file name without
        extension). Exclusive with ``group_by``.

    Returns
    -------
    subjects : list of Subject
        In file order, each with its ``affine`` and ``group``.
    labels : dict of int to str
        The label values and names (from ``dataset.json``, else ``"label <k>"`` for
        every value found).

    Raises
    ------
    InputError
        A missing or empty folder, an unknown layout (the accepted ones are listed),
        images without labels, an unreadable file, a label map whose shape or affine
        differs from its image's, labels that ``dataset.json`` does not declare, a
        subject that no group pattern or CSV row covers.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import nibabel as nib
    >>> import numpy as np
    >>> from bsqkit.datasets import load_labeled_folder
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for name in ("p1_frame01", "p1_frame12", "p2_frame01"):
    ...         for kind, array in (("images", np.zeros((4, 4, 3), "float32")),
    ...                             ("labels", np.ones((4, 4, 3), "uint8"))):
    ...             (Path(tmp) / kind).mkdir(exist_ok=True)
    ...             path = Path(tmp) / kind / f"{name}.nii.gz"
    ...             nib.save(nib.Nifti1Image(array, np.eye(4)), path)
    ...     subjects, labels = load_labeled_folder(tmp, group_by=r"(p\d+)_frame")
    ...
    >>> [(s.id, s.group) for s in subjects], labels
    ([('p1_frame01', 'p1'), ('p1_frame12', 'p1'), ('p2_frame01', 'p2')], {1: 'label 1'})
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"--data {folder} does not exist or is not a folder")
    if not any(folder.iterdir()):
        raise InputError(f"--data {folder} is empty")
    declared = None
    if (folder / "dataset.json").is_file():
        meta = json.loads((folder / "dataset.json").read_text())
        names = _label_names(meta.get("labels", {}), folder / "dataset.json")
        declared = set(names) or None
        pairs = [(folder / e["image"], folder / e["label"]) for e in meta.get("training", [])]
        if not pairs:
            raise InputError(f"{folder / 'dataset.json'} lists no training cases")
    else:
        for images_name, labels_name in (("imagesTr", "labelsTr"), ("images", "labels")):
            images_dir, labels_dir = folder / images_name, folder / labels_name
            if images_dir.is_dir():
                break
        else:
            raise InputError(
                f"--data {folder} has none of the accepted layouts: " + "; ".join(LAYOUTS)
            )
        images = sorted(p for p in images_dir.iterdir() if p.name.endswith(NIFTI_SUFFIXES))
        if not images:
            raise InputError(f"no .nii or .nii.gz files in {images_dir}")
        found = (
            {nifti_stem(p): p for p in labels_dir.iterdir() if p.name.endswith(NIFTI_SUFFIXES)}
            if labels_dir.is_dir()
            else {}
        )
        missing = [p.name for p in images if nifti_stem(p) not in found]
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise InputError(
                f"images without labels in {labels_dir}: {', '.join(missing[:5])}{more}"
            )
        pairs = [(p, found[nifti_stem(p)]) for p in images]
        names = {}
    subjects = [_load_pair(image, label, declared) for image, label in pairs]
    if not names:
        values = sorted(set().union(*(np.unique(s.label).tolist() for s in subjects)) - {0})
        names = {int(v): f"label {v}" for v in values}
    names.pop(0, None)
    return with_groups(subjects, group_by, groups_csv), names


def _label_names(labels: dict, path: Path) -> dict[int, str]:
    """``dataset.json``'s labels: the Decathlon's ``{"1": "name"}`` or nnU-Net v2's
    ``{"name": 1}``."""
    try:
        if all(str(k).lstrip("-").isdigit() for k in labels):
            return {int(k): str(v) for k, v in labels.items()}
        return {int(v): str(k) for k, v in labels.items()}
    except (TypeError, ValueError) as exc:
        raise InputError(
            f'{path}: labels must map values to names ({{"1": "liver"}}) or names to '
            f'values ({{"liver": 1}}); region-based labels are not supported: {exc}'
        ) from exc


def with_groups(
    subjects: list[Subject], group_by: str | None, groups_csv: str | Path | None
) -> list[Subject]:
    """The subjects with their patient group set from ``--group-by`` (a pattern on the
    name) or ``--groups`` (a CSV with columns subject, group); unchanged without either."""
    if group_by is not None and groups_csv is not None:
        raise InputError("give --group-by or --groups, not both")
    if group_by is not None:
        try:
            pattern = re.compile(group_by)
        except re.error as exc:
            raise InputError(
                f"--group-by {group_by!r} is not a regular expression: {exc}"
            ) from exc
        if pattern.groups < 1:
            raise InputError(f"--group-by {group_by!r} needs a capture group, e.g. (patient\\d+)")
        groups = {}
        for s in subjects:
            match = pattern.search(s.id)
            if match is None or match.group(1) is None:
                raise InputError(f"--group-by {group_by!r} does not match subject {s.id!r}")
            groups[s.id] = match.group(1)
    elif groups_csv is not None:
        path = Path(groups_csv)
        if not path.is_file():
            raise InputError(f"--groups {path} does not exist")
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        if not rows or not {"subject", "group"} <= set(rows[0]):
            raise InputError(f"--groups {path} needs the columns subject,group")
        groups = {r["subject"].strip(): r["group"].strip() for r in rows}
        missing = [s.id for s in subjects if s.id not in groups]
        if missing:
            raise InputError(f"--groups {path} has no row for {', '.join(missing[:5])}")
    else:
        return subjects
    return [dataclasses.replace(s, group=groups[s.id]) for s in subjects]


def harmonise(
    subjects: Sequence[Subject],
    spacing: Sequence[float] | None = None,
    shape: Sequence[int] | None = None,
    slice_axis: int | None = 2,
) -> list[Subject]:
    """Resample to one voxel size and zero-pad to one in-plane size (paper Table 1).

    Images are interpolated bilinearly (``order=1``), label maps by nearest neighbour;
    then both are zero-padded symmetrically (or centre-cropped) to ``shape`` in the
    axes other than ``slice_axis``, which keeps each subject's own extent (64 or 56
    slices in the paper).

    Parameters
    ----------
    subjects : sequence of Subject
        The volumes to bring to one voxel size and in-plane size; they are not modified.
    spacing : sequence of 3 float, optional
        Target voxel size; default the coarsest spacing per axis among the subjects.
    shape : sequence of 3 int, optional
        Target size (the ``slice_axis`` entry is ignored); default the largest
        resampled size per axis.
    slice_axis : int or None, default=2
        The axis not padded; ``None`` pads all three.

    Returns
    -------
    list of Subject
        New subjects with the common spacing and in-plane size.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.datasets import Subject, harmonise
    >>> def subject(name, shape, spacing):
    ...     return Subject(name, np.ones(shape, "float32"), np.ones(shape, "uint8"), spacing)
    >>> fine = subject("a", (20, 20, 4), (0.5, 0.5, 3.0))
    >>> coarse = subject("b", (12, 12, 5), (1.0, 1.0, 3.0))
    >>> [(s.image.shape, s.spacing) for s in harmonise([fine, coarse], slice_axis=2)]
    [((12, 12, 4), (1.0, 1.0, 3.0)), ((12, 12, 5), (1.0, 1.0, 3.0))]
    """
    spacing = (
        np.max([s.spacing for s in subjects], axis=0)
        if spacing is None
        else np.asarray(spacing, float)
    )
    resampled = []
    for s in subjects:
        zoom = np.asarray(s.spacing) / spacing
        if np.allclose(zoom, 1):
            image, label = s.image, s.label
        else:
            image = ndimage.zoom(s.image, zoom, order=1)
            label = ndimage.zoom(s.label, zoom, order=0)
        resampled.append((s.id, image, label))
    target = (
        np.max([im.shape for _, im, _ in resampled], axis=0)
        if shape is None
        else np.asarray(shape)
    )
    out = []
    for sid, image, label in resampled:
        size = target.copy()
        if slice_axis is not None:
            size[slice_axis] = image.shape[slice_axis]
        out.append(
            Subject(sid, _fit(image, size), _fit(label, size), tuple(float(v) for v in spacing))
        )
    return out


def _fit(volume: NDArray, shape: NDArray) -> NDArray:
    """Centre-pad with zeros (or centre-crop) every axis to ``shape``."""
    result = np.zeros(tuple(int(v) for v in shape), dtype=volume.dtype)
    src, dst = [], []
    for n, m in zip(volume.shape, shape, strict=True):
        if n <= m:
            start = (m - n) // 2
            src.append(slice(0, n))
            dst.append(slice(start, start + n))
        else:
            start = (n - m) // 2
            src.append(slice(start, start + m))
            dst.append(slice(0, m))
    result[tuple(dst)] = volume[tuple(src)]
    return result


def normalise_intensity(subject: Subject) -> Subject:
    """Zero mean, unit variance over the subject's volume.

    Parameters
    ----------
    subject : Subject
        The volume whose image is normalised; it is not modified.

    Returns
    -------
    Subject
        A new subject whose image has zero mean and unit variance; label, spacing and id
        are unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.datasets import Subject, normalise_intensity
    >>> image = np.arange(8, dtype="float32").reshape(2, 2, 2)
    >>> s = normalise_intensity(Subject("a", image, np.zeros((2, 2, 2), "uint8"), (1.0, 1.0, 1.0)))
    >>> round(float(s.image.mean()), 6), round(float(s.image.std()), 6)
    (0.0, 1.0)
    """
    image = subject.image
    std = float(image.std())
    image = (image - image.mean()) / (std if std > 0 else 1.0)
    return dataclasses.replace(subject, image=image.astype(np.float32))


def to_slices(
    subjects: Sequence[Subject], axis: int = 0
) -> tuple[NDArray[np.float32], NDArray[np.uint8], NDArray]:
    """2-D slices along ``axis`` of harmonised subjects, with the subject of each slice.

    Parameters
    ----------
    subjects : sequence of Subject
        Subjects with the same in-plane shape (see :func:`harmonise`).
    axis : int, default=0
        The slicing axis.

    Returns
    -------
    X : ndarray of shape (n_slices, H, W)
    y : ndarray of shape (n_slices, H, W)
    subject_ids : ndarray of shape (n_slices,)

    Examples
    --------
    >>> from bsqkit.datasets import make_shoulder_phantom, to_slices
    >>> subjects = make_shoulder_phantom(n_subjects=2, random_state=0)
    >>> X, y, ids = to_slices(subjects, axis=2)
    >>> X.shape, y.dtype, str(ids[0])
    ((120, 192, 192), dtype('uint8'), 'phantom_00_s2')
    """
    shapes = {tuple(np.delete(s.image.shape, axis)) for s in subjects}
    if len(shapes) != 1:
        raise ValueError(f"slices differ in shape {sorted(shapes)}: harmonise() first")
    X = np.concatenate([np.moveaxis(s.image, axis, 0) for s in subjects])
    y = np.concatenate([np.moveaxis(s.label, axis, 0) for s in subjects])
    ids = np.concatenate([[s.id] * s.image.shape[axis] for s in subjects])
    return X.astype(np.float32), y, ids


# the name before bsqkit chose one spelling, American "labeled", for every public name
load_labelled_folder = renamed_function(load_labeled_folder, "load_labelled_folder")
