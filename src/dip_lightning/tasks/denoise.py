"""Denoising: the observation is the image plus Gaussian noise; A is the identity."""

import torch

from dip_lightning.errors import InputError
from dip_lightning.tasks.base import DeepImagePrior


class Denoise(DeepImagePrior):
    task_name = "denoise"

    def __init__(self, sigma: float = 25.0, **kwargs):
        """sigma: standard deviation of the added noise, in 0-255 units (used for a clean `image` only)."""
        if sigma < 0:
            raise InputError(f"sigma must be >= 0, got {sigma}")
        self.sigma = sigma
        super().__init__(**kwargs)

    def degrade(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """clip(x + N(0, (sigma/255)^2), 0, 1): clipped but not quantised, as the reference."""
        noise = torch.randn(clean.shape, generator=generator) * (self.sigma / 255.0)
        return (clean + noise).clamp(0, 1)
