"""Dataset loaders returning numpy arrays."""

from bsqkit.datasets.idx import (
    EMNIST_SPLITS,
    load_digits_images,
    load_emnist,
    load_mnist,
    read_idx,
)

__all__ = ["EMNIST_SPLITS", "load_digits_images", "load_emnist", "load_mnist", "read_idx"]
