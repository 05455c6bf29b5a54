"""Dataset loaders returning numpy arrays."""

from bsqkit.datasets.idx import (
    EMNIST_SPLITS,
    load_digits_images,
    load_emnist,
    load_mnist,
    read_idx,
)
from bsqkit.datasets.nifti import (
    LAYOUTS,
    Subject,
    harmonise,
    load_decathlon,
    load_labeled_folder,
    load_labelled_folder,  # noqa: F401 - the deprecated name, kept importable
    load_nifti_pairs,
    normalise_intensity,
    to_slices,
)
from bsqkit.datasets.phantom import PHANTOM_LABELS, make_shoulder_phantom

__all__ = [
    "EMNIST_SPLITS",
    "LAYOUTS",
    "PHANTOM_LABELS",
    "Subject",
    "harmonise",
    "load_decathlon",
    "load_digits_images",
    "load_emnist",
    "load_labeled_folder",
    "load_mnist",
    "load_nifti_pairs",
    "make_shoulder_phantom",
    "normalise_intensity",
    "read_idx",
    "to_slices",
]
