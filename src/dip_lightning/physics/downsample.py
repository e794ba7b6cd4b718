"""Super-resolution: A is the reference's fixed Lanczos-2 downsampler, while a synthetic low-resolution
image is made, as the reference makes it, by PIL's antialiased Lanczos resize (a Lanczos-3 filter)."""

import torch

from dip_lightning.data.images import resize
from dip_lightning.errors import InputError
from dip_lightning.physics.kernels import LanczosDownsampler, bicubic
from dip_lightning.physics.operator import Operator


def _check_factor(factor: int) -> int:
    if not isinstance(factor, int) or isinstance(factor, bool) or factor < 2:
        raise InputError(f"factor must be an integer >= 2, got {factor!r}")
    return factor


class Downsample(Operator):
    """Lanczos-2 filter (kernel 4 x factor, phase 0.5, replication padding) with stride `factor`."""

    baseline_name = "bicubic"

    def __init__(self, factor: int):
        super().__init__()
        self.scale = _check_factor(factor)
        self.filter = LanczosDownsampler(factor, support=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.filter(x)

    def baseline(self, observed: torch.Tensor) -> torch.Tensor:
        """Bicubic upsampling of the observation, PIL's (MATLAB's kernel), as the paper's bicubic row."""
        return torch.stack([bicubic(image, self.scale) for image in observed]).to(observed.device)


class PilDownscale:
    """The reference's synthetic low-resolution image: PIL's antialiased Lanczos resize to 1 / factor."""

    def __init__(self, factor: int):
        self.factor = _check_factor(factor)

    def __call__(self, clean: torch.Tensor) -> torch.Tensor:
        height, width = clean.shape[-2:]
        return torch.stack([resize(image, height // self.factor, width // self.factor) for image in clean])
