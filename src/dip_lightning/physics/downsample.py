"""Super-resolution: A is the reference's fixed Lanczos-2 downsampler, while a synthetic low-resolution
image is made, as the reference makes it, by PIL's antialiased Lanczos resize (a Lanczos-3 filter)."""

import torch

from dip_lightning.data.images import resize
from dip_lightning.limits import check_limits, integer
from dip_lightning.physics.kernels import LanczosDownsampler, bicubic
from dip_lightning.physics.operator import Operator

FACTOR = {"factor": integer(2)}  # the limits of both: an integer scale


class Downsample(Operator):
    """Lanczos-2 filter (kernel 4 x factor, phase 0.5, replication padding) with stride `factor`."""

    baseline_name = "bicubic"
    limits = FACTOR

    def __init__(self, factor: int):
        check_limits(self, factor=factor)
        super().__init__()
        self.scale = factor
        self.filter = LanczosDownsampler(factor, support=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.filter(x)

    def baseline(self, observed: torch.Tensor) -> torch.Tensor:
        """Bicubic upsampling of the observation, PIL's (MATLAB's kernel), as the paper's bicubic row."""
        return torch.stack([bicubic(image, self.scale) for image in observed]).to(observed.device)


class PilDownscale:
    """The reference's synthetic low-resolution image: PIL's antialiased Lanczos resize to 1 / factor."""

    limits = FACTOR

    def __init__(self, factor: int):
        check_limits(self, factor=factor)
        self.factor = factor

    def __call__(self, clean: torch.Tensor) -> torch.Tensor:
        height, width = clean.shape[-2:]
        return torch.stack([resize(image, height // self.factor, width // self.factor) for image in clean])
