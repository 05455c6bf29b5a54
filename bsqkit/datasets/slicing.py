"""From volumes to the 2-D slices a network sees, and back.

A volume is first reoriented to the closest canonical (RAS+) orientation, so that every
subject's slices share one in-plane orientation whatever its storage order; the slice
axis is the through-plane one (the largest voxel spacing, axial on ties). Each slice is
then resampled onto one square grid of ``size x size`` pixels that covers the same field
of view (in mm) for every subject: resampling to a common pixel size, padding and
resizing, done as one coordinate map. Images and label maps use the same map (bilinear
for images, nearest neighbour for labels), so labels sit exactly on their images; the
inverse map brings predicted label maps back to a subject's own grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from nibabel.orientations import apply_orientation, axcodes2ornt, io_orientation, ornt_transform
from numpy.typing import NDArray
from scipy import ndimage

from bsqkit.datasets.nifti import Subject
from bsqkit.exceptions import InputError

__all__ = [
    "SliceGrid",
    "canonical_subject",
    "choose_slice_axis",
    "slice_grids",
    "stored_slice_index",
    "to_stored_orientation",
]

_AXIS_NAMES = ("sagittal", "coronal", "axial")  # slices across R-L, A-P, S-I


def _affine(subject: Subject) -> NDArray[np.float64]:
    if subject.affine is not None:
        return np.asarray(subject.affine, dtype=np.float64)
    return np.diag([*subject.spacing, 1.0])


def canonical_subject(subject: Subject) -> tuple[Subject, NDArray[np.intp]]:
    """The subject reoriented to the closest canonical orientation (RAS+).

    Axes are permuted and flipped (no interpolation), so the voxels are the subject's
    own, reindexed: Dice and surface distances are the same on either.

    Parameters
    ----------
    subject : Subject

    Returns
    -------
    Subject
        Image, label and spacing in R, A, S axis order.
    stored_axis : ndarray of shape (3,)
        ``stored_axis[c]`` is the stored array axis that canonical axis ``c`` comes from.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.datasets import Subject
    >>> from bsqkit.datasets.slicing import canonical_subject
    >>> affine = np.array([[0, 0, 1.5, 0], [0, 1.5, 0, 0], [10.0, 0, 0, 0], [0, 0, 0, 1]])
    >>> stored = Subject("s", np.zeros((8, 20, 30), "float32"), np.zeros((8, 20, 30), "uint8"),
    ...                  spacing=(10.0, 1.5, 1.5), affine=affine)  # stored as (S, A, R)
    >>> canonical, stored_axis = canonical_subject(stored)
    >>> canonical.image.shape, canonical.spacing, stored_axis.tolist()
    ((30, 20, 8), (1.5, 1.5, 10.0), [2, 1, 0])
    """
    ornt = io_orientation(_affine(subject))
    stored_axis = np.empty(3, dtype=np.intp)
    stored_axis[ornt[:, 0].astype(int)] = np.arange(3)
    spacing = tuple(float(subject.spacing[k]) for k in stored_axis)
    image = np.ascontiguousarray(apply_orientation(subject.image, ornt))
    label = np.ascontiguousarray(apply_orientation(subject.label, ornt))
    reoriented = Subject(subject.id, image, label, spacing, group=subject.group)
    return reoriented, stored_axis


def to_stored_orientation(volume: NDArray, subject: Subject) -> NDArray:
    """Undo :func:`canonical_subject`: a canonical (RAS+) volume back in the axis order
    and directions of ``subject``'s file, to be saved with its affine.

    Parameters
    ----------
    volume : ndarray of shape (X, Y, Z)
        In canonical orientation (e.g. a prediction).
    subject : Subject
        As stored.

    Returns
    -------
    ndarray
        Of the subject's stored shape.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.datasets import Subject
    >>> from bsqkit.datasets.slicing import canonical_subject, to_stored_orientation
    >>> affine = np.array([[0, 0, -1.5, 0], [0, 1.5, 0, 0], [10.0, 0, 0, 0], [0, 0, 0, 1]])
    >>> label = np.arange(24, dtype="uint8").reshape(2, 3, 4)
    >>> stored = Subject("s", label.astype("float32"), label, (10.0, 1.5, 1.5), affine=affine)
    >>> canonical, _ = canonical_subject(stored)
    >>> bool((to_stored_orientation(canonical.label, stored) == label).all())
    True
    """
    ornt = io_orientation(_affine(subject))
    back = ornt_transform(axcodes2ornt(("R", "A", "S")), ornt)
    return np.ascontiguousarray(apply_orientation(volume, back))


def stored_slice_index(subject: Subject, axis: int, index: int) -> tuple[int, int]:
    """Where canonical slice ``index`` along canonical ``axis`` lies in the file.

    Parameters
    ----------
    subject : Subject
        As stored.
    axis : int
        Canonical axis (0 = R-L, 1 = A-P, 2 = S-I).
    index : int
        Slice position along it.

    Returns
    -------
    stored_axis, stored_index : int
        The array axis of the file and the slice's position along it (as a viewer such
        as 3D Slicer or ITK-SNAP counts it).

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.datasets import Subject
    >>> from bsqkit.datasets.slicing import stored_slice_index
    >>> affine = np.diag([1.0, 1.0, -3.0, 1.0])  # slices stored inferior to superior, flipped
    >>> s = Subject("s", np.zeros((4, 4, 10), "float32"), np.zeros((4, 4, 10), "uint8"),
    ...             (1.0, 1.0, 3.0), affine=affine)
    >>> stored_slice_index(s, axis=2, index=0)
    (2, 9)
    """
    ornt = io_orientation(_affine(subject))
    stored = int(np.flatnonzero(ornt[:, 0] == axis)[0])
    n = subject.image.shape[stored]
    return stored, (n - 1 - int(index)) if ornt[stored, 1] < 0 else int(index)


def choose_slice_axis(subject: Subject, slice_axis: int | str = "auto") -> tuple[int, str]:
    """The canonical axis to slice along, and why.

    ``"auto"``: the axis of the largest voxel spacing (the through-plane axis of an
    anisotropic acquisition); on ties (within 1 %), the one closest to the
    superior-inferior direction (axial slices), then anterior-posterior (coronal). An
    int selects a stored array axis of the file.

    Parameters
    ----------
    subject : Subject
        As stored (not reoriented).
    slice_axis : "auto" or {0, 1, 2}, default="auto"

    Returns
    -------
    axis : int
        Canonical axis (0 = R-L, 1 = A-P, 2 = S-I) of :func:`canonical_subject`.
    reason : str

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.datasets import Subject
    >>> from bsqkit.datasets.slicing import choose_slice_axis
    >>> cine = Subject("c", np.zeros((256, 216, 10), "float32"), np.zeros((256, 216, 10), "uint8"),
    ...                spacing=(1.5, 1.5, 10.0))
    >>> choose_slice_axis(cine)
    (2, 'stored axis 2, axial: the largest voxel spacing (10 mm; in-plane 1.5 x 1.5 mm)')
    """
    ornt = io_orientation(_affine(subject))
    canonical_of = ornt[:, 0].astype(int)  # stored axis -> canonical axis
    spacing = np.asarray(subject.spacing, dtype=float)
    if slice_axis != "auto":
        if slice_axis not in (0, 1, 2):
            raise InputError(f"--slice-axis must be 'auto', 0, 1 or 2, got {slice_axis!r}")
        stored = int(slice_axis)
        axis = int(canonical_of[stored])
        return axis, f"stored axis {stored}, {_AXIS_NAMES[axis]}: chosen with --slice-axis"
    tied = np.flatnonzero(spacing >= 0.99 * spacing.max())
    # among the tied stored axes, prefer S-I, then A-P, then R-L
    stored = int(max(tied, key=lambda k: canonical_of[k]))
    axis = int(canonical_of[stored])
    others = " x ".join(f"{v:.3g}" for v in np.delete(spacing, stored))
    if len(tied) == 1:
        why = f"the largest voxel spacing ({spacing[stored]:.3g} mm; in-plane {others} mm)"
    else:
        why = (
            f"voxel spacing tied ({spacing[stored]:.3g} mm; in-plane {others} mm): the axis "
            "closest to superior-inferior"
        )
    return axis, f"stored axis {stored}, {_AXIS_NAMES[axis]}: {why}"


@dataclass(frozen=True)
class SliceGrid:
    """How one subject's slices map to the common ``size x size`` grid, and back.

    Native (canonical, in-plane) pixel coordinate ``i = scale * a + offset`` for output
    pixel ``a``, per in-plane axis.

    Parameters
    ----------
    shape : tuple of 2 int
        The subject's in-plane shape.
    spacing : tuple of 3 float
        Through-plane, then in-plane spacing of the subject (mm).
    size : int
        Side of the common grid.
    fov : float
        Side of the common square field of view (mm).

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.datasets.slicing import SliceGrid
    >>> grid = SliceGrid(shape=(40, 60), spacing=(3.0, 1.0, 1.0), size=30, fov=60.0)
    >>> grid.pixel_mm, grid.to_grid(np.ones((2, 40, 60), "float32")).shape
    (2.0, (2, 30, 30))
    """

    shape: tuple[int, int]
    spacing: tuple[float, float, float]
    size: int
    fov: float

    @property
    def pixel_mm(self) -> float:
        """Pixel size of the common grid in mm."""
        return self.fov / self.size

    def _map(self) -> tuple[NDArray, NDArray]:
        inplane = np.asarray(self.spacing[1:], dtype=float)
        scale = self.pixel_mm / inplane
        offset = (0.5 - self.size / 2) * scale + np.asarray(self.shape) / 2 - 0.5
        return scale, offset

    def to_grid(self, slices: NDArray, labels: bool = False) -> NDArray:
        """Slices of shape (n, H, W) on the common grid, (n, size, size).

        Images: bilinear, after a Gaussian anti-aliasing filter where the grid is
        coarser than the slice; outside the slice, 0. Labels: each label's indicator map
        resampled the same way, then the most likely label per pixel (outside the slice,
        background 0), so that label maps stay aligned with their images.
        """
        slices = np.asarray(slices)
        if slices.shape[1:] != tuple(self.shape):
            raise ValueError(f"slices of shape {slices.shape[1:]}, expected {self.shape}")
        if not labels:
            return self._resample(slices.astype(np.float32), background=0.0)
        values = np.union1d(np.unique(slices), [0])
        best = np.full((len(slices), self.size, self.size), -1.0, dtype=np.float32)
        out = np.zeros(best.shape, dtype=slices.dtype)
        for value in values:
            indicator = (slices == value).astype(np.float32)
            prob = self._resample(indicator, background=1.0 if value == 0 else 0.0)
            better = prob > best
            out[better], best[better] = value, prob[better]
        return out

    def _resample(self, slices: NDArray[np.float32], background: float) -> NDArray:
        scale, offset = self._map()
        sigma = np.maximum((scale - 1) / 2, 0)
        if sigma.any():
            slices = ndimage.gaussian_filter(slices, (0, *sigma), mode="constant", cval=background)
        return ndimage.affine_transform(
            slices,
            np.array([1.0, *scale]),
            offset=np.array([0.0, *offset]),
            output_shape=(len(slices), self.size, self.size),
            order=1,
            mode="constant",
            cval=background,
        )

    def from_grid(self, label_slices: NDArray) -> NDArray:
        """Label maps (n, size, size) on the subject's own grid (n, H, W), nearest
        neighbour."""
        label_slices = np.asarray(label_slices)
        scale, offset = self._map()
        return ndimage.affine_transform(
            label_slices,
            np.array([1.0, *(1 / scale)]),
            offset=np.array([0.0, *(-offset / scale)]),
            output_shape=(len(label_slices), *self.shape),
            order=0,
            mode="nearest",
        )


def slice_grids(subjects: Sequence[Subject], axis: Sequence[int], size: int) -> list[SliceGrid]:
    """One :class:`SliceGrid` per canonical subject, sharing the largest field of view.

    Parameters
    ----------
    subjects : sequence of Subject
        Canonical subjects (:func:`canonical_subject`).
    axis : sequence of int
        Each subject's slice axis.
    size : int
        Side of the common grid in pixels.

    Returns
    -------
    list of SliceGrid

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.datasets import Subject
    >>> from bsqkit.datasets.slicing import slice_grids
    >>> a = Subject("a", np.zeros((40, 60, 5), "float32"), np.zeros((40, 60, 5), "uint8"),
    ...             (1.0, 1.0, 3.0))
    >>> b = Subject("b", np.zeros((30, 30, 4), "float32"), np.zeros((30, 30, 4), "uint8"),
    ...             (2.5, 2.5, 3.0))
    >>> [g.fov for g in slice_grids([a, b], [2, 2], size=48)]  # 75 mm: b's 30 x 2.5 mm
    [75.0, 75.0]
    """
    geometry = []
    for s, k in zip(subjects, axis, strict=True):
        shape = tuple(int(v) for v in np.delete(s.image.shape, k))
        inplane = tuple(float(v) for v in np.delete(s.spacing, k))
        geometry.append((shape, (float(s.spacing[k]), *inplane)))
    fov = max(max(n * d for n, d in zip(shape, sp[1:], strict=True)) for shape, sp in geometry)
    return [SliceGrid(shape, sp, int(size), float(fov)) for shape, sp in geometry]
