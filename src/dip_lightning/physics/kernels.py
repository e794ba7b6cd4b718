"""The fixed kernels below the operators and the networks, stateless but for the Lanczos filter's buffer:
Lanczos (the SR operator, and a downsampling mode of the skip network), Gaussian (deblurring), and PIL's
bicubic (the SR baseline)."""

import math

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from dip_lightning.data.images import resize
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


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalised 2-D Gaussian of std `sigma` pixels, 2 * ceil(3 sigma) + 1 taps wide."""
    if not sigma > 0:
        raise InputError(f"blur sigma must be > 0 pixels, got {sigma}")
    radius = math.ceil(3 * sigma)
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float64) / sigma) ** 2)
    return (torch.outer(taps, taps) / taps.sum() ** 2).float()


def bicubic(observed: torch.Tensor, factor: int) -> torch.Tensor:
    """PIL's bicubic upsampling by `factor`, as the reference's `get_baselines`, per channel in float precision.

    PIL's cubic kernel (a = -0.5) is MATLAB's `imresize` one, which made the paper's bicubic row (LapSRN's
    viewer); torch's bicubic uses a = -0.75 and scores a little differently.
    """
    height, width = observed.shape[-2:]
    return resize(observed.detach(), height * factor, width * factor, Image.Resampling.BICUBIC)
