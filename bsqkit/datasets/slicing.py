"""From volumes to the 2-D slices a network sees, and back.

A volume is first reoriented to the closest canonical (RAS+) orientation, so that every
subject's slices share one in-plane orientation whatever its storage order; the slice
axis is the through-plane one (the largest voxel spacing, axial on ties). Each slice is
then resampled onto one square grid of ``size x size`` pixels of one pixel size (in mm)
for every subject: resampling, padding or cropping and resizing, done as one coordinate
map (:class:`SliceGrid`; :func:`plan_grid` chooses the pixel size, :func:`crop_center`
where a subject larger than the grid is cropped). Images and label maps use the same map
(anti-aliased bilinear for images, the majority label of each pixel's footprint for
labels), so labels sit exactly on their images; the inverse map brings predicted label
maps back to a subject's own grid.

Kept whole: the grid's forward and inverse maps and its planning must agree to the
half pixel; apart, one could change without the other.
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
    "OUTLIER_FOV_RATIO",
    "GridPlan",
    "SliceGrid",
    "body_center",
    "canonical_subject",
    "check_size_mm",
    "choose_slice_axis",
    "crop_center",
    "inplane_geometry",
    "plan_grid",
    "stored_slice_index",
    "to_canonical_orientation",
    "to_stored_orientation",
]

_AXIS_NAMES = ("sagittal", "coronal", "axial")  # slices across R-L, A-P, S-I


def _affine(subject: Subject) -> NDArray[np.float64]:
    if subject.affine is not None:
        return np.asarray(subject.affine, dtype=np.float64)
    return np.diag([*subject.spacing, 1.0])


def _stored_axes(ornt: NDArray) -> NDArray[np.intp]:
    stored_axis = np.empty(3, dtype=np.intp)
    stored_axis[ornt[:, 0].astype(int)] = np.arange(3)
    return stored_axis


def inplane_geometry(subject: Subject, axis: int) -> tuple[tuple[int, int], tuple[float, ...]]:
    """In-plane shape, and (through-plane, in-plane, in-plane) spacing, of the canonical
    slices along canonical ``axis``: read from the header, without reorienting the data.

    Parameters
    ----------
    subject : Subject
        As stored.
    axis : int
        Canonical slice axis (:func:`choose_slice_axis`).

    Returns
    -------
    shape : tuple of 2 int
    spacing : tuple of 3 float

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.datasets import Subject
    >>> from bsqkit.datasets.slicing import inplane_geometry
    >>> s = Subject("s", np.zeros((8, 20, 30), "float32"), np.zeros((8, 20, 30), "uint8"),
    ...             spacing=(1.5, 1.0, 4.0))
    >>> inplane_geometry(s, axis=2)
    ((8, 20), (4.0, 1.5, 1.0))
    """
    stored_axis = _stored_axes(io_orientation(_affine(subject)))
    shape = [int(subject.image.shape[k]) for k in stored_axis]
    spacing = [float(subject.spacing[k]) for k in stored_axis]
    inplane = [c for c in range(3) if c != axis]
    return (shape[inplane[0]], shape[inplane[1]]), (spacing[axis], *(spacing[c] for c in inplane))


def canonical_subject(subject: Subject) -> tuple[Subject, NDArray[np.intp]]:
    """The subject reoriented to the closest canonical orientation (RAS+).

    Axes are permuted and flipped (no interpolation), so the voxels are the subject's
    own, reindexed: Dice and surface distances are the same on either.

    Parameters
    ----------
    subject : Subject
        As stored; its ``affine`` (None: the axes are R, A, S) gives the orientation.

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
    stored_axis = _stored_axes(ornt)
    spacing = tuple(float(subject.spacing[k]) for k in stored_axis)
    image = to_canonical_orientation(subject.image, subject)
    label = to_canonical_orientation(subject.label, subject)
    reoriented = Subject(subject.id, image, label, spacing, group=subject.group)
    return reoriented, stored_axis


def to_canonical_orientation(volume: NDArray, subject: Subject) -> NDArray:
    """A volume of ``subject``'s stored shape in canonical (RAS+) orientation, as
    :func:`canonical_subject` reorients its image and label.

    Parameters
    ----------
    volume : ndarray of shape (X, Y, Z)
        As stored (e.g. a label map).
    subject : Subject
        As stored.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.datasets import Subject
    >>> from bsqkit.datasets.slicing import to_canonical_orientation
    >>> affine = np.diag([-1.0, 1.0, 1.0, 1.0])  # stored right to left
    >>> s = Subject("s", np.zeros((3, 1, 1), "float32"), np.zeros((3, 1, 1), "uint8"),
    ...             (1.0, 1.0, 1.0), affine=affine)
    >>> to_canonical_orientation(np.arange(3).reshape(3, 1, 1), s).ravel().tolist()
    [2, 1, 0]
    """
    ornt = io_orientation(_affine(subject))
    return np.ascontiguousarray(apply_orientation(volume, ornt))


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
        ``"auto"`` chooses as described above; 0, 1 or 2 is a stored array axis.

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


# A field of view more than this many times the median one is an outlier (a scan stored
# with a much larger matrix or much coarser pixels): it does not set everyone's grid.
OUTLIER_FOV_RATIO = 1.5
# Label maps are resampled in chunks of at most this many samples (bounds the memory).
_LABEL_CHUNK = 1 << 24


@dataclass(frozen=True)
class SliceGrid:
    """How one subject's slices map to the common ``size x size`` grid, and back.

    Native (canonical, in-plane) pixel coordinate ``i = scale * a + offset`` for output
    pixel ``a``, per in-plane axis, where ``scale`` is the grid's pixel size over the
    subject's and the grid's centre falls on ``center``.

    Parameters
    ----------
    shape : tuple of 2 int
        The subject's in-plane shape.
    spacing : tuple of 3 float
        Through-plane, then in-plane spacing of the subject (mm).
    size : int
        Side of the common grid in pixels.
    fov : float
        Side of the common square field of view (mm).
    center : tuple of 2 float, optional
        Where the grid's centre lies, in the subject's in-plane pixel coordinates; None:
        the slice's centre (the grid is centred, and pads where it is larger).

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
    center: tuple[float, float] | None = None

    @property
    def pixel_mm(self) -> float:
        """Pixel size of the common grid in mm."""
        return self.fov / self.size

    def _map(self) -> tuple[NDArray, NDArray]:
        inplane = np.asarray(self.spacing[1:], dtype=float)
        scale = self.pixel_mm / inplane
        centre = (
            np.asarray(self.shape) / 2 - 0.5
            if self.center is None
            else np.asarray(self.center, dtype=float)
        )
        offset = (0.5 - self.size / 2) * scale + centre
        return scale, offset

    def to_grid(self, slices: NDArray, labels: bool = False) -> NDArray:
        """Slices of shape (n, H, W) on the common grid, (n, size, size).

        Images: bilinear, after a Gaussian anti-aliasing filter where the grid is
        coarser than the slice; outside the slice, 0. Label maps: the majority label
        over each grid pixel's footprint (a regular sub-grid of ``ceil(scale)`` x
        ``ceil(scale)`` nearest-neighbour samples; a tie goes to the label at the pixel's
        centre when it is among the tied, else to the lowest; outside the slice,
        background 0), on the same coordinate map as the
        image, so that label maps stay aligned with their images. Its cost does not
        depend on how many label values there are.
        """
        slices = np.asarray(slices)
        if slices.shape[1:] != tuple(self.shape):
            raise ValueError(f"slices of shape {slices.shape[1:]}, expected {self.shape}")
        if not labels:
            return self._resample(slices.astype(np.float32), background=0.0)
        return self._majority(slices)

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

    def _samples(self, n_sub: int, axis: int) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
        """Nearest native index of ``n_sub`` evenly spread points in each grid pixel along
        ``axis`` (shape (size, n_sub)), and whether it lies inside the slice."""
        scale, offset = self._map()
        within = (np.arange(n_sub) + 0.5) / n_sub - 0.5 if n_sub > 1 else np.zeros(1)
        coord = scale[axis] * (np.arange(self.size)[:, None] + within) + offset[axis]
        index = np.floor(coord + 0.5).astype(np.intp)
        inside = (index >= 0) & (index < self.shape[axis])
        return np.clip(index, 0, self.shape[axis] - 1), inside

    def _gather(self, slices: NDArray, n_sub: tuple[int, int]) -> NDArray:
        """Samples (n, size, size, n_sub[0] * n_sub[1]) of the label slices, 0 outside."""
        (rows, in_r), (cols, in_c) = self._samples(n_sub[0], 0), self._samples(n_sub[1], 1)
        taken = slices[:, rows.ravel()][:, :, cols.ravel()]
        taken *= (in_r.ravel()[:, None] & in_c.ravel()[None, :]).astype(taken.dtype)
        n = len(slices)
        taken = taken.reshape(n, self.size, n_sub[0], self.size, n_sub[1])
        return taken.transpose(0, 1, 3, 2, 4).reshape(n, self.size, self.size, -1)

    def _majority(self, slices: NDArray) -> NDArray:
        scale, _ = self._map()
        n_sub = tuple(max(1, int(np.ceil(s - 1e-9))) for s in scale)
        centre = self._gather(slices, (1, 1))[..., 0]
        if n_sub == (1, 1):  # the grid is as fine or finer: nearest neighbour
            return centre
        out = np.empty_like(centre)
        per_slice = self.size * self.size * n_sub[0] * n_sub[1]
        step = max(1, _LABEL_CHUNK // per_slice)
        for start in range(0, len(slices), step):
            part = np.sort(self._gather(slices[start : start + step], n_sub), axis=-1)
            m = part.shape[-1]
            position = np.arange(m)
            first = np.ones(part.shape, dtype=bool)
            first[..., 1:] = part[..., 1:] != part[..., :-1]
            run_start = np.maximum.accumulate(np.where(first, position, 0), axis=-1)
            # the last sample of each run holds the run's length; doubled, plus one for
            # the centre's label, so that a tie goes to the label at the pixel's centre
            votes = 2 * (position - run_start + 1)
            votes += part == centre[start : start + step, ..., None]
            best = votes.argmax(axis=-1)
            out[start : start + step] = np.take_along_axis(part, best[..., None], -1)[..., 0]
        return out

    def _inverse(self) -> list[tuple[NDArray[np.intp], NDArray[np.bool_]]]:
        """Per in-plane axis: the grid pixel of each native pixel and whether the grid
        covers it."""
        scale, offset = self._map()
        out = []
        for axis in range(2):
            native = np.arange(self.shape[axis])
            # halves round down here, as they round up forwards (floor(x + 0.5)): at the
            # same pixel size a native pixel goes to the grid pixel that samples it
            index = np.ceil((native - offset[axis]) / scale[axis] - 0.5).astype(np.intp)
            out.append((np.clip(index, 0, self.size - 1), (index >= 0) & (index < self.size)))
        return out

    def inside(self) -> NDArray[np.bool_]:
        """The native in-plane pixels the grid covers, shape (H, W): a label outside can
        never be predicted (:meth:`from_grid` gives background there)."""
        (_, in_r), (_, in_c) = self._inverse()
        return in_r[:, None] & in_c[None, :]

    def from_grid(self, label_slices: NDArray) -> NDArray:
        """Label maps (n, size, size) on the subject's own grid (n, H, W): nearest
        neighbour, background outside the grid."""
        label_slices = np.asarray(label_slices)
        (rows, _), (cols, _) = self._inverse()
        native = label_slices[:, rows][:, :, cols]
        return np.where(self.inside(), native, 0).astype(label_slices.dtype)


@dataclass(frozen=True)
class GridPlan:
    """The common grid of a set of subjects, and why it is so.

    Parameters
    ----------
    size : int
        Side in pixels.
    fov : float
        Side in mm.
    reason : str
        How the pixel size was chosen.

    Examples
    --------
    >>> from bsqkit.datasets.slicing import GridPlan
    >>> GridPlan(size=48, fov=120.0, reason="--crop-mm 120").pixel_mm
    2.5
    """

    size: int
    fov: float
    reason: str

    @property
    def pixel_mm(self) -> float:
        """Pixel size in mm."""
        return self.fov / self.size


def check_size_mm(value: float | None, name: str) -> float | None:
    """``value`` as a size in mm (> 0, finite), or None; ``name`` is the option, for the
    message.

    Parameters
    ----------
    value : float or None
        The size in mm to check; None is returned as is.
    name : str
        The option the value came from (e.g. ``"--pixel-mm"``), named in the error message.

    Returns
    -------
    float or None

    Raises
    ------
    InputError

    Examples
    --------
    >>> from bsqkit.datasets.slicing import check_size_mm
    >>> check_size_mm(2, "--pixel-mm")
    2.0
    >>> check_size_mm(0, "--pixel-mm")
    Traceback (most recent call last):
    ...
    bsqkit.exceptions.InputError: --pixel-mm must be a size in mm > 0, got 0
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InputError(f"{name} must be a size in mm > 0, got {value!r}")
    if not np.isfinite(value):
        raise InputError(f"{name} must be a finite size in mm, got {value!r}")
    return float(value)


def plan_grid(
    extents_mm: Sequence[float],
    size: int,
    pixel_mm: float | None = None,
    crop_mm: float | None = None,
) -> GridPlan:
    """The common square grid: ``size`` pixels of ``pixel_mm``, or a ``crop_mm`` field of
    view, or by default the largest field of view that is not an outlier.

    Default: the largest in-plane field of view among the subjects, leaving out those
    more than :data:`OUTLIER_FOV_RATIO` times the median (one scan with a much larger
    matrix, or coarser pixels, must not set everyone's pixel size); the subjects left out
    are cropped around their body (:func:`crop_center`).

    Parameters
    ----------
    extents_mm : sequence of float
        Each subject's larger in-plane extent (pixels times spacing).
    size : int
        Side of the grid in pixels.
    pixel_mm, crop_mm : float, optional
        Pixel size, or side of the field of view, in mm (both: they must agree with
        ``size``).

    Returns
    -------
    GridPlan

    Raises
    ------
    InputError
        A size <= 0, or a pixel size and a crop that do not make ``size`` pixels.

    Examples
    --------
    >>> from bsqkit.datasets.slicing import plan_grid
    >>> plan = plan_grid([330.0, 360.0, 400.0, 768.0], size=48)  # one outlier of 768 mm
    >>> plan.fov, round(plan.pixel_mm, 2)
    (400.0, 8.33)
    >>> plan_grid([330.0, 768.0], size=48, crop_mm=160).pixel_mm
    3.3333333333333335
    """
    pixel_mm = check_size_mm(pixel_mm, "--pixel-mm")
    crop_mm = check_size_mm(crop_mm, "--crop-mm")
    if pixel_mm is not None and crop_mm is not None:
        if abs(crop_mm / pixel_mm - size) > 0.5:
            raise InputError(
                f"--pixel-mm {pixel_mm:g} and --crop-mm {crop_mm:g} make a grid of "
                f"{crop_mm / pixel_mm:.1f} pixels, but it has {size} (the image size): give "
                f"one of them, or an image size of {round(crop_mm / pixel_mm)}"
            )
        return GridPlan(size, crop_mm, f"--crop-mm {crop_mm:g} and --pixel-mm {pixel_mm:g}")
    if crop_mm is not None:
        return GridPlan(size, crop_mm, f"--crop-mm {crop_mm:g}")
    if pixel_mm is not None:
        return GridPlan(size, pixel_mm * size, f"--pixel-mm {pixel_mm:g}")
    extents = np.asarray(extents_mm, dtype=float)
    median = float(np.median(extents))
    kept = extents[extents <= OUTLIER_FOV_RATIO * median]
    fov = float(kept.max())
    reason = f"the largest field of view of the {len(extents)} volumes ({fov:.4g} mm)"
    n_out = len(extents) - len(kept)
    if n_out:
        reason += (
            f", leaving out {n_out} more than {OUTLIER_FOV_RATIO:g} x the median "
            f"({median:.4g} mm; up to {extents.max():.4g} mm), cropped around the body"
        )
    return GridPlan(size, fov, reason)


def body_center(image_slices: NDArray) -> tuple[float, float]:
    """Centre of the body in a volume, found without labels: the in-plane centre of mass
    of the voxels brighter than the volume's mean intensity, after a Gaussian filter
    in-plane (2 pixels) so that noise in a large empty background does not count.

    Parameters
    ----------
    image_slices : ndarray of shape (n, H, W)
        The volume's image as slices (slice axis first).

    Returns
    -------
    tuple of 2 float
        In-plane pixel coordinates; the slice's centre for a uniform volume.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.datasets.slicing import body_center
    >>> volume = np.zeros((3, 40, 60), "float32")
    >>> volume[:, 5:15, 40:50] = 1.0
    >>> [round(c, 1) for c in body_center(volume)]
    [9.5, 44.5]
    """
    image = ndimage.gaussian_filter(np.asarray(image_slices, dtype=np.float32), (0, 2, 2))
    body = image > image.mean()
    if not body.any():
        return tuple(float(n / 2 - 0.5) for n in image.shape[1:])
    rows = body.sum(axis=(0, 2))
    cols = body.sum(axis=(0, 1))
    return (
        float(rows @ np.arange(len(rows)) / rows.sum()),
        float(cols @ np.arange(len(cols)) / cols.sum()),
    )


def crop_center(
    image_slices: NDArray, inplane_mm: Sequence[float], fov: float
) -> tuple[float, float] | None:
    """Where a subject's grid is centred: on the slice where the field of view fits
    (None: centred, padded), else on the body (:func:`body_center`), kept inside the
    slice along each axis the grid does not cover.

    Parameters
    ----------
    image_slices : ndarray of shape (n, H, W)
        The subject's image as slices (slice axis first), on its own in-plane grid.
    inplane_mm : sequence of 2 float
        In-plane spacing.
    fov : float
        Side of the grid in mm.

    Returns
    -------
    tuple of 2 float or None
        :attr:`SliceGrid.center`.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.datasets.slicing import crop_center
    >>> volume = np.zeros((2, 100, 40), "float32")
    >>> volume[:, 10:30, 10:30] = 1.0  # the body near the top
    >>> crop_center(volume, (1.0, 1.0), fov=50.0)  # rows cropped, columns padded
    (24.5, 19.5)
    >>> crop_center(volume, (1.0, 1.0), fov=120.0) is None
    True
    """
    shape = np.asarray(image_slices.shape[1:])
    extent = shape * np.asarray(inplane_mm, dtype=float)
    if (extent <= fov * (1 + 1e-9)).all():
        return None
    centre = shape / 2 - 0.5
    body = body_center(image_slices)
    for axis in range(2):
        if extent[axis] > fov * (1 + 1e-9):
            half = fov / 2 / inplane_mm[axis]
            centre[axis] = np.clip(body[axis], half - 0.5, shape[axis] - half - 0.5)
    return float(centre[0]), float(centre[1])
