"""Dataset loaders returning numpy arrays."""

from bsqkit.datasets.idx import load_mnist, read_idx

__all__ = ["load_mnist", "read_idx"]
