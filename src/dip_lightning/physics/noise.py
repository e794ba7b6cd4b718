"""Noise models: how an observation departs from A(x) in a synthetic experiment."""

import io

import torch
from PIL import Image

from dip_lightning.data.images import pil_to_tensor, to_pil
from dip_lightning.limits import check_limits, integer, number


class GaussianNoise:
    """clip(y + N(0, (sigma / 255)^2), 0, 1): clipped but not quantised, as the reference."""

    limits = {"sigma": number(0)}  # 0-255 units

    def __init__(self, sigma: float):
        check_limits(self, sigma=sigma)
        self.sigma = sigma

    def __call__(self, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(y.shape, generator=generator) * (self.sigma / 255.0)
        return (y + noise).clamp(0, 1)


class JpegCompression:
    """The image saved as a JPEG of `quality` (1-100) and read back: blocks, ringing, lost colour."""

    limits = {"quality": integer(1, 100)}

    def __init__(self, quality: int):
        check_limits(self, "JPEG ", quality=quality)
        self.quality = quality

    def __call__(self, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return torch.stack([self._compress(image) for image in y])

    def _compress(self, image: torch.Tensor) -> torch.Tensor:
        buffer = io.BytesIO()
        to_pil(image).save(buffer, format="JPEG", quality=self.quality)
        with Image.open(buffer) as compressed:
            return pil_to_tensor(compressed)


class ShuffledPixels:
    """The image's pixels (all channels together) in a random order: its statistics without its
    structure (the paper's fig. 2, "pixel shuffle")."""

    def __call__(self, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        order = torch.randperm(y.shape[-2] * y.shape[-1], generator=generator)
        return y.flatten(-2)[..., order].reshape(y.shape)


class UniformNoise:
    """U(0, 1) noise in place of the image (the paper's fig. 2, "U(0, 1) noise")."""

    def __call__(self, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return torch.rand(y.shape, generator=generator)
