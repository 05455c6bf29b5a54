"""Plain ``nn.Module``s: the DCAN-like FCN segmenter and the MMD-VAE (InfoVAE)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DCANLikeFCN", "MMDVAE"]


def _conv_block(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class DCANLikeFCN(nn.Module):
    """DCAN-like fully convolutional segmenter with spatial dropout.

    A contracting path of ``depth`` convolution blocks with max-pooling ends in the
    coarsest "abstraction layer". Each level's features go through a 1x1 convolution to
    class logits, are upsampled (bilinear) to the input size and summed (DCAN's
    multi-level fusion). Inputs of any ``H x W`` are zero-padded to a multiple of
    ``2**depth`` and the logits cropped back.

    Where the spatial dropout (``nn.Dropout2d``) sits is a modelling choice with a cost:
    ``"head"`` puts it on each level's features just before its 1x1 classifier, so all
    stochasticity sits after the deterministic trunk and MC-dropout sampling runs
    :meth:`trunk` once and :meth:`head` ``n_mc`` times (the MC variance then measures
    the last layers only); ``"blocks"`` puts it after every convolution block, closer
    to the paper's modification of DCAN, and every MC pass is a full forward pass.

    Parameters
    ----------
    in_channels : int, default=1
        Channels of the input images (1 for grey-level images).
    n_classes : int, default=2
        Output classes including background (>= 2).
    width : int, default=16
        Channels of the first level; doubled at each level.
    depth : int, default=3
        Number of max-pooling steps down to the abstraction layer.
    p_dropout : float, default=0.5
        Spatial dropout rate (the paper's 0.5).
    dropout : {"head", "blocks"}, default="head"
        Where the spatial dropout sits (see above).

    Examples
    --------
    >>> import torch
    >>> from bsqkit.nets import DCANLikeFCN
    >>> fcn = DCANLikeFCN(n_classes=3, width=4, depth=2).eval()
    >>> tuple(fcn(torch.zeros(2, 1, 30, 30)).shape)  # any H x W
    (2, 3, 30, 30)
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 2,
        width: int = 16,
        depth: int = 3,
        p_dropout: float = 0.5,
        dropout: str = "head",
    ):
        super().__init__()
        if depth < 1 or width < 1 or n_classes < 2 or in_channels < 1:
            raise ValueError("need depth >= 1, width >= 1, n_classes >= 2, in_channels >= 1")
        if dropout not in ("head", "blocks"):
            raise ValueError(f"dropout must be 'head' or 'blocks', got {dropout!r}")
        self.depth = depth
        self.dropout_placement = dropout
        channels = [width * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList(
            _conv_block(in_channels if i == 0 else channels[i - 1], channels[i])
            for i in range(depth)
        )
        self.abstraction = _conv_block(channels[depth - 1], channels[depth])
        self.dropout = nn.ModuleList(nn.Dropout2d(p_dropout) for _ in channels)
        self.side = nn.ModuleList(nn.Conv2d(c, n_classes, 1) for c in channels)

    def trunk(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features of every level, finest first, abstraction layer last (deterministic
        unless ``dropout="blocks"``).

        Parameters
        ----------
        x : Tensor of shape (N, C, H, W)

        Returns
        -------
        list of Tensor
            ``depth + 1`` maps of the padded input at scales ``1, 1/2, ..., 1/2**depth``.
        """
        multiple = 2**self.depth
        pad_h = (-x.shape[-2]) % multiple
        pad_w = (-x.shape[-1]) % multiple
        h = F.pad(x, (0, pad_w, 0, pad_h))
        blocks = self.stochastic_trunk
        features = []
        for level, block in enumerate(self.down):
            h = block(h)
            if blocks:
                h = self.dropout[level](h)
            features.append(h)
            h = F.max_pool2d(h, 2)
        h = self.abstraction(h)
        features.append(self.dropout[-1](h) if blocks else h)
        return features

    @property
    def stochastic_trunk(self) -> bool:
        """True when dropout sits in the trunk (``dropout="blocks"``)."""
        return self.dropout_placement == "blocks"

    def head(self, features: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        """Per-level class logits (after dropout with ``dropout="head"``), upsampling,
        fusion, crop.

        Returns
        -------
        Tensor of shape (N, n_classes, H, W), with (H, W) = size
        """
        padded = features[0].shape[-2:]
        logits = 0
        for feat, drop, side in zip(features, self.dropout, self.side, strict=True):
            out = side(feat if self.stochastic_trunk else drop(feat))
            if out.shape[-2:] != padded:
                out = F.interpolate(out, size=padded, mode="bilinear", align_corners=False)
            logits = logits + out
        return logits[..., : size[0], : size[1]]

    def mc_head(
        self, features: list[torch.Tensor], size: tuple[int, int], n_mc: int
    ) -> torch.Tensor:
        """Logits of ``n_mc`` stochastic head passes at once (``dropout="head"``).

        Channel dropout followed by a 1x1 convolution is one 1x1 convolution whose
        weights are masked per sample and pass: ``W diag(m) / (1 - p) f + b``. So the
        ``n_mc`` passes are one batched matrix product over the shared features,
        without repeating them or drawing masks the size of the feature maps. The
        masks are drawn from torch's generator, one per pass, sample and channel, as
        :class:`torch.nn.Dropout2d` does (it is used as such when the dropout modules
        are in evaluation mode: no mask).

        Parameters
        ----------
        features : list of Tensor
            :meth:`trunk`'s output for a batch of N images.
        size : tuple of int
            (H, W) of the input images.
        n_mc : int
            Number of passes.

        Returns
        -------
        Tensor of shape (n_mc, N, n_classes, H, W)
        """
        if self.stochastic_trunk:
            raise RuntimeError("mc_head needs dropout='head': with 'blocks' every pass is full")
        n = features[0].shape[0]
        padded = features[0].shape[-2:]
        logits = None
        for feat, drop, side in zip(features, self.dropout, self.side, strict=True):
            k, c = side.weight.shape[:2]
            weight = side.weight.view(1, 1, k, c).expand(n, n_mc, k, c)
            if drop.training and drop.p > 0:
                keep = torch.empty(n_mc, n, c, device=feat.device, dtype=feat.dtype)
                keep.bernoulli_(1.0 - drop.p).div_(1.0 - drop.p) if drop.p < 1 else keep.zero_()
                weight = weight * keep.transpose(0, 1)[:, :, None, :]
            # (N, h * w, C) @ (N, C, n_mc * k): every pass of every image in one product,
            # its logits channels-last (no copy), where bilinear upsampling runs faster
            h, w = feat.shape[-2:]
            out = torch.bmm(feat.flatten(2).transpose(1, 2), weight.reshape(n, n_mc * k, c).mT)
            out = out.view(n, h, w, n_mc * k).permute(0, 3, 1, 2)
            if out.shape[-2:] != padded:
                out = F.interpolate(out, size=padded, mode="bilinear", align_corners=False)
            logits = out if logits is None else logits.add_(out)
        # the levels' biases at once (interpolation keeps constants), in place
        bias = sum(side.bias for side in self.side)
        logits.add_(bias.repeat(n_mc)[:, None, None])
        logits = logits[..., : size[0], : size[1]]
        return logits.reshape(n, n_mc, k, *logits.shape[-2:]).transpose(0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel class logits of shape (N, n_classes, H, W)."""
        return self.head(self.trunk(x), tuple(x.shape[-2:]))


def _down(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1),
        nn.BatchNorm2d(out_ch),
        nn.LeakyReLU(0.2, inplace=True),
    )


def _up(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(in_ch, out_ch, 3, padding=1),
        nn.BatchNorm2d(out_ch),
        nn.LeakyReLU(0.2, inplace=True),
    )


class MMDVAE(nn.Module):
    """MMD-VAE (InfoVAE, Zhao et al. 2017) with a deterministic encoder.

    ``n_blocks`` strided convolution blocks encode an ``input_size x input_size`` image to
    ``n_latent`` codes; ``n_blocks`` upsampling blocks decode them. The forward pass
    returns ``(reconstruction, codes)``; the loss (l2 + lambda MMD) is the wrapper's.

    Parameters
    ----------
    input_size : int, default=96
        Side of the (square) input; 96 in the paper, 28 for MNIST.
    in_channels : int, default=1
        Channels of the input images, and of the reconstructions.
    n_latent : int, default=200
        Size of the latent code.
    width : int, default=32
        Channels of the first block; doubled per block up to ``8 * width``.
    n_blocks : int, default=5
        Number of encoder blocks, each halving the image side (and as many decoder blocks).

    Examples
    --------
    >>> import torch
    >>> from bsqkit.nets import MMDVAE
    >>> vae = MMDVAE(input_size=28, n_latent=5, width=4, n_blocks=2)
    >>> reconstruction, codes = vae(torch.zeros(3, 1, 28, 28))
    >>> tuple(reconstruction.shape), tuple(codes.shape)
    ((3, 1, 28, 28), (3, 5))
    """

    def __init__(
        self,
        input_size: int = 96,
        in_channels: int = 1,
        n_latent: int = 200,
        width: int = 32,
        n_blocks: int = 5,
    ):
        super().__init__()
        if input_size < 2:
            raise ValueError(f"input_size {input_size} too small for {n_blocks} blocks")
        self.input_size = input_size
        self.in_channels = in_channels
        channels = [min(width * 2**i, 8 * width) for i in range(n_blocks)]
        self.encoder = nn.Sequential(
            *(
                _down(in_channels if i == 0 else channels[i - 1], channels[i])
                for i in range(n_blocks)
            )
        )
        with torch.no_grad():
            shape = self.encoder(torch.zeros(2, in_channels, input_size, input_size)).shape[1:]
        self._code_shape = tuple(shape)
        flat = int(torch.tensor(shape).prod())
        self.to_latent = nn.Linear(flat, n_latent)
        self.from_latent = nn.Linear(n_latent, flat)
        rev = channels[::-1]
        self.decoder = nn.Sequential(
            *(_up(rev[i], rev[i + 1] if i + 1 < n_blocks else width) for i in range(n_blocks))
        )
        self.output = nn.Conv2d(width, in_channels, 3, padding=1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes of shape (N, n_latent) for images (N, in_channels, input_size, input_size)."""
        return self.to_latent(self.encoder(x).flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images of shape (N, in_channels, input_size, input_size) from codes."""
        h = self.from_latent(z).view(-1, *self._code_shape)
        h = self.decoder(h)
        if h.shape[-1] != self.input_size:
            h = F.interpolate(h, size=(self.input_size,) * 2, mode="bilinear", align_corners=False)
        return self.output(h)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return self.decode(z), z
