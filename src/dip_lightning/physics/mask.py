"""Inpainting: A keeps the known pixels (mask 1) and zeroes the missing ones (mask 0)."""

from collections.abc import Callable

import torch

from dip_lightning.data.crop import Crop
from dip_lightning.data.masks import FileMask, check_mask
from dip_lightning.errors import InputError
from dip_lightning.physics.operator import Operator

MaskMaker = Callable[[int, int, torch.Generator], torch.Tensor]


class Mask(Operator):
    """`mask` makes the (1, H, W) known-pixel mask at the source image's size; it is cut like the image."""

    def __init__(self, mask: MaskMaker):
        super().__init__()
        self.make_mask = mask
        self.register_buffer("mask", None)

    def prepare(self, crop: Crop, generator: torch.Generator, synthetic: bool) -> None:
        if not synthetic and not isinstance(self.make_mask, FileMask):
            raise InputError(
                "your own damaged image needs your mask of its holes: mask=file mask.path=PATH "
                "(white = known pixel); a made-up mask would treat the real holes as known pixels"
            )
        mask = self.make_mask(crop.source_height, crop.source_width, generator)
        self.mask = check_mask(crop(mask))[None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mask

    def accept(self, observed: torch.Tensor) -> torch.Tensor:
        return self(observed)

    def images(self) -> dict[str, torch.Tensor]:
        return {"mask": self.mask}
