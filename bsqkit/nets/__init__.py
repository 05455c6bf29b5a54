"""PyTorch networks of the paper and their skorch wrappers."""

from bsqkit.nets.encoder import MMDVAEEncoder
from bsqkit.nets.losses import gaussian_kernel, inverse_frequency_weights, mmd
from bsqkit.nets.modules import MMDVAE, DCANLikeFCN
from bsqkit.nets.segmenter import NeuralNetSegmenter

__all__ = [
    "MMDVAE",
    "DCANLikeFCN",
    "MMDVAEEncoder",
    "NeuralNetSegmenter",
    "gaussian_kernel",
    "inverse_frequency_weights",
    "mmd",
]
