"""Inpainting: the observation is the image with pixels missing; A multiplies by the known-pixel mask."""

from collections.abc import Callable

import torch

from dip_lightning.images import crop
from dip_lightning.masks import check_mask
from dip_lightning.tasks.base import DeepImagePrior

MaskMaker = Callable[[int, int, torch.Generator], torch.Tensor]


class Inpaint(DeepImagePrior):
    task_name = "inpaint"

    def __init__(self, mask: MaskMaker, **kwargs):
        """mask: makes the (1, H, W) known-pixel mask (1 = known) at the full image size."""
        self.mask_maker = mask
        super().__init__(**kwargs)

    def make_mask(self, generator: torch.Generator) -> torch.Tensor:
        mask = crop(self.mask_maker(*self.source_size, generator), self.crop_box)
        self.register_buffer("mask", check_mask(mask)[None])
        return mask

    def degrade(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return clean * self.make_mask(generator)

    def accept(self, observed: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return observed * self.make_mask(generator)

    def forward_operator(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mask

    def fixed_images(self) -> dict[str, torch.Tensor]:
        return {**super().fixed_images(), "mask": self.mask}
