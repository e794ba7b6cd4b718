"""Super-resolution: the observation is a low-resolution image; A is the reference's fixed Lanczos-2
downsampler, so the network's output is `factor` times larger than the observation."""

import torch
import torch.nn.functional as F

from dip_lightning.errors import InputError
from dip_lightning.images import resize
from dip_lightning.nets.downsampler import LanczosDownsampler
from dip_lightning.tasks.base import DeepImagePrior


class SuperResolve(DeepImagePrior):
    task_name = "sr"

    def __init__(self, factor: int = 4, **kwargs):
        """factor: integer upscaling factor (>= 2)."""
        if not isinstance(factor, int) or factor < 2:
            raise InputError(f"factor must be an integer >= 2, got {factor!r}")
        self.scale = factor
        super().__init__(**kwargs)
        self.downsampler = LanczosDownsampler(factor, support=2)

    def degrade(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The reference's LR image: an antialiased Lanczos-3 resize (PIL), not the model's Lanczos-2."""
        height, width = clean.shape[-2:]
        return resize(clean, height // self.scale, width // self.scale)

    def forward_operator(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsampler(x)

    baseline_name = "bicubic"

    def naive_restoration(self) -> torch.Tensor:
        """Bicubic upsampling of the observation."""
        return F.interpolate(self.observed, scale_factor=self.scale, mode="bicubic", align_corners=False).clamp(0, 1)
