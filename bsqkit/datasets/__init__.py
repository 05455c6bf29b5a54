"""Dataset loaders returning numpy arrays."""

from bsqkit.datasets.idx import (
    EMNIST_SPLITS,
    load_digits_images,
    load_emnist,
    load_mnist,
    read_idx,
)
from bsqkit.datasets.nifti import (
    Subject,
    harmonise,
    load_decathlon,
    load_nifti_pairs,
    normalise_intensity,
    to_slices,
)

__all__ = [
    "EMNIST_SPLITS",
    "Subject",
    "harmonise",
    "load_decathlon",
    "load_digits_images",
    "load_emnist",
    "load_mnist",
    "load_nifti_pairs",
    "normalise_intensity",
    "read_idx",
    "to_slices",
]
