"""The IDX format of MNIST (LeCun et al. 1998), gzip-compressed or not."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["EMNIST_SPLITS", "load_digits_images", "load_emnist", "load_mnist", "read_idx"]

EMNIST_SPLITS = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")

# IDX type codes -> big-endian numpy dtypes
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path) -> NDArray:
    """Read one IDX file (``.gz`` or raw) into an array of its declared shape.

    Parameters
    ----------
    path : str or Path
        The IDX file; read through gzip when its name ends in ``.gz``.

    Returns
    -------
    ndarray
        E.g. ``(60000, 28, 28)`` uint8 for MNIST training images.

    Raises
    ------
    ValueError
        If the magic number is wrong or the file is shorter than its header declares.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from bsqkit.datasets import read_idx
    >>> header = bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") * 2
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "images-idx3-ubyte"
    ...     _ = path.write_bytes(header + bytes(range(18)))
    ...     images = read_idx(path)
    ...
    >>> images.shape, images.dtype
    ((2, 3, 3), dtype('uint8'))
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path} cannot be read, corrupt or truncated: {exc}") from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    dtype = _IDX_DTYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path} is truncated: its header needs {header} bytes")
    shape = tuple(int(v) for v in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(
            f"{path} has {len(data)} bytes but its header declares shape {shape} "
            f"({expected} bytes): truncated or corrupt"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def _find(folders: list[Path], stem: str) -> Path | None:
    for folder in folders:
        for name in (stem, stem + ".gz"):
            if (folder / name).exists():
                return folder / name
    return None


def _check_split(split: str) -> str:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split


def load_mnist(
    folder: str | Path, split: str = "train", download: bool = False
) -> tuple[NDArray, NDArray]:
    """MNIST images and labels from IDX files, or through torchvision.

    Parameters
    ----------
    folder : str or Path
        Holds ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``, directly or in
        torchvision's ``MNIST/raw/`` layout.
    split : {"train", "test"}, default="train"
        The training set (60,000 images, ``train-*`` files) or the test set (10,000,
        ``t10k-*`` files).
    download : bool, default=False
        If the files are absent, fetch them with ``torchvision.datasets.MNIST`` into
        ``folder`` (needs internet).

    Returns
    -------
    images : ndarray of shape (n_samples, 28, 28), uint8
    labels : ndarray of shape (n_samples,), int64

    Examples
    --------
    >>> from bsqkit.datasets import load_mnist
    >>> X, y = load_mnist("../shared/data/mnist")  # doctest: +SKIP
    >>> X.shape, X.dtype, y[:5]  # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'), array([5, 0, 4, 1, 9]))
    """
    prefix = "train" if _check_split(split) == "train" else "t10k"
    folder = Path(folder)
    folders = [folder, folder / "MNIST" / "raw"]
    images_path = _find(folders, f"{prefix}-images-idx3-ubyte")
    labels_path = _find(folders, f"{prefix}-labels-idx1-ubyte")
    if (images_path is None or labels_path is None) and download:
        from torchvision.datasets import MNIST

        MNIST(str(folder), train=split == "train", download=True)
        return load_mnist(folder, split)
    if images_path is None or labels_path is None:
        raise FileNotFoundError(
            f"{prefix}-images-idx3-ubyte[.gz] / {prefix}-labels-idx1-ubyte[.gz] not found in "
            f"{folder} (pass download=True to fetch MNIST with torchvision)"
        )
    return _images_and_labels(images_path, labels_path)


def _images_and_labels(images_path: Path, labels_path: Path) -> tuple[NDArray, NDArray]:
    images = read_idx(images_path)
    labels = read_idx(labels_path).astype(np.int64)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{images_path.name} {images.shape} and {labels_path.name} {labels.shape} do not "
            "hold one label per image"
        )
    return images, labels


def load_emnist(
    folder: str | Path,
    emnist_split: str = "byclass",
    split: str = "train",
    download: bool = False,
) -> tuple[NDArray, NDArray]:
    """EMNIST (Cohen et al. 2017) from the official IDX files, or through torchvision.

    The files store each image transposed relative to MNIST; the images returned are
    in MNIST's orientation. ``letters`` labels (1-26 in the files) are shifted to 0-25.

    Parameters
    ----------
    folder : str or Path
        Holds ``emnist-<emnist_split>-<split>-{images-idx3,labels-idx1}-ubyte[.gz]``
        (the official ``gzip/`` folder), directly or in torchvision's ``EMNIST/raw/``.
    emnist_split : {"byclass", "bymerge", "balanced", "letters", "digits", "mnist"}
        Which of EMNIST's data sets (the ``<emnist_split>`` of the file names); default
        ``"byclass"``.
    split : {"train", "test"}, default="train"
        The training or the test part of that data set.
    download : bool, default=False
        If the files are absent, fetch them with ``torchvision.datasets.EMNIST``.

    Returns
    -------
    images : ndarray of shape (n_samples, 28, 28), uint8
    labels : ndarray of shape (n_samples,), int64

    Examples
    --------
    >>> from bsqkit.datasets import load_emnist
    >>> X, y = load_emnist("data/emnist", emnist_split="letters", download=True)  # doctest: +SKIP
    >>> int(y.min()), int(y.max())  # letters shifted to 0-25  # doctest: +SKIP
    (0, 25)
    """
    if emnist_split not in EMNIST_SPLITS:
        raise ValueError(f"emnist_split must be one of {EMNIST_SPLITS}, got {emnist_split!r}")
    _check_split(split)
    folder = Path(folder)
    folders = [folder, folder / "gzip", folder / "EMNIST" / "raw"]
    stem = f"emnist-{emnist_split}-{split}"
    images_path = _find(folders, f"{stem}-images-idx3-ubyte")
    labels_path = _find(folders, f"{stem}-labels-idx1-ubyte")
    if (images_path is None or labels_path is None) and download:
        from torchvision.datasets import EMNIST

        EMNIST(str(folder), split=emnist_split, train=split == "train", download=True)
        return load_emnist(folder, emnist_split, split)
    if images_path is None or labels_path is None:
        raise FileNotFoundError(
            f"{stem}-images-idx3-ubyte[.gz] / {stem}-labels-idx1-ubyte[.gz] not found in "
            f"{folder} (pass download=True to fetch EMNIST with torchvision)"
        )
    images, labels = _images_and_labels(images_path, labels_path)
    images = np.ascontiguousarray(images.transpose(0, 2, 1))
    if emnist_split == "letters":
        labels = labels - 1
    return images, labels


def load_digits_images() -> tuple[NDArray, NDArray]:
    """scikit-learn's digits (1,797 images of 8 x 8, 10 classes), shipped offline.

    Returns
    -------
    images : ndarray of shape (1797, 8, 8), float64 in [0, 16]
    labels : ndarray of shape (1797,), int64

    Examples
    --------
    >>> from bsqkit.datasets import load_digits_images
    >>> images, labels = load_digits_images()
    >>> images.shape, labels[:5]
    ((1797, 8, 8), array([0, 1, 2, 3, 4]))
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images, bunch.target.astype(np.int64)
