"""The fixed Lanczos downsampler: the SR forward operator and an optional skip-net downsampling mode."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from dip_lightning.errors import InputError


def lanczos_taps(factor: int, support: int = 2) -> torch.Tensor:
    """Normalised 1-D Lanczos taps of the reference (phase 0.5): 2 * support * factor of them.

    Tap k sits at distance d = |k + 0.5 - support * factor| / factor from the centre and weighs
    sinc(d) * sinc(d / support) = support * sin(pi d) sin(pi d / support) / (pi d)^2.
    """
    if factor < 1 or support < 1:
        raise InputError(f"Lanczos factor and support must be >= 1, got {factor} and {support}")
    size = 2 * support * factor
    d = (torch.arange(size, dtype=torch.float64) + 0.5 - support * factor).abs() / factor
    taps = support * torch.sin(math.pi * d) * torch.sin(math.pi * d / support) / (math.pi * d) ** 2
    return (taps / taps.sum()).float()


class LanczosDownsampler(nn.Module):
    """Separable Lanczos filter with stride `factor`, applied to each channel alone.

    With `preserve_size` the input is replication-padded by K - factor in all, (K - factor) / 2 on each
    side as in the reference, so an H x W image gives (H / factor) x (W / factor). With an odd factor
    the extra pixel goes to the end (the reference would lose one output row and column there).
    """

    def __init__(self, factor: int, support: int = 2, preserve_size: bool = True):
        super().__init__()
        self.factor = factor
        taps = lanczos_taps(factor, support)
        self.register_buffer("kernel", torch.outer(taps, taps)[None, None], persistent=False)
        total = taps.numel() - factor if preserve_size else 0
        self.pad = (total // 2, total - total // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        if any(self.pad):
            x = F.pad(x, self.pad * 2, mode="replicate")
        weight = self.kernel.to(x.dtype).expand(channels, 1, -1, -1)
        return F.conv2d(x, weight, stride=self.factor, groups=channels)
