"""The IDX format of MNIST (LeCun et al. 1998), gzip-compressed or not."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["load_mnist", "read_idx"]

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

    Returns
    -------
    ndarray
        E.g. ``(60000, 28, 28)`` uint8 for MNIST training images.

    Raises
    ------
    ValueError
        If the magic number is wrong or the file is shorter than its header declares.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
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


def load_mnist(folder: str | Path, split: str = "train") -> tuple[NDArray, NDArray]:
    """MNIST images and labels from a folder of IDX files (torchvision's raw layout).

    Parameters
    ----------
    folder : str or Path
        Holds ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``.
    split : {"train", "test"}, default="train"

    Returns
    -------
    images : ndarray of shape (n_samples, 28, 28), uint8
    labels : ndarray of shape (n_samples,), int64
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    prefix = "train" if split == "train" else "t10k"
    folder = Path(folder)

    def find(stem: str) -> Path:
        for name in (stem, stem + ".gz"):
            if (folder / name).exists():
                return folder / name
        raise FileNotFoundError(f"{stem}[.gz] not found in {folder}")

    images = read_idx(find(f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find(f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels in {folder}")
    return images, labels
