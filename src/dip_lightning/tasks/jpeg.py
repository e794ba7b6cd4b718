"""Blind JPEG artifact removal: the observation is a JPEG; A is the identity, and stopping early
returns the image before the network learns the blocks and halos."""

import io

import torch
from PIL import Image

from dip_lightning.errors import InputError
from dip_lightning.images import pil_to_tensor, to_pil
from dip_lightning.tasks.base import DeepImagePrior


def jpeg_compress(image: torch.Tensor, quality: int) -> torch.Tensor:
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="JPEG", quality=quality)
    with Image.open(buffer) as compressed:
        return pil_to_tensor(compressed)


class JpegRestore(DeepImagePrior):
    task_name = "jpeg"

    def __init__(self, quality: int = 10, **kwargs):
        """quality: the JPEG quality (1-100) a clean `image` is compressed with."""
        if not 1 <= quality <= 100:
            raise InputError(f"JPEG quality must be in 1..100, got {quality}")
        self.quality = quality
        super().__init__(**kwargs)

    def degrade(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return jpeg_compress(clean, self.quality)
