"""Inpainting masks: 1 = known pixel, 0 = missing. Each mask is (1, H, W), shared by all channels,
and made at the full image size (the task crops image and mask together)."""

import logging
import os

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from dip_lightning.data.images import load_image
from dip_lightning.errors import InputError
from dip_lightning.limits import PATH, TEXT, check_limits, integer, number, optional

log = logging.getLogger(__name__)


class BernoulliMask:
    """Each pixel is missing with probability `missing_fraction` (Table 1 of the paper: 0.5)."""

    limits = {"missing_fraction": number(0, below=1)}

    def __init__(self, missing_fraction: float):
        check_limits(self, missing_fraction=missing_fraction)
        self.missing_fraction = missing_fraction

    def __call__(self, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
        return (torch.rand(1, height, width, generator=generator) >= self.missing_fraction).float()


class TextMask:
    """Lines of text written over the whole image, the kind of overlay the paper removes (fig. 7)."""

    limits = {"text": TEXT, "lines_per_image": integer(1)}

    def __init__(self, text: str, lines_per_image: int):
        check_limits(self, text=text, lines_per_image=lines_per_image)
        self.text = text
        self.lines_per_image = lines_per_image

    def __call__(self, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
        canvas = Image.new("L", (width, height), 255)
        draw = ImageDraw.Draw(canvas)
        spacing = max(height / self.lines_per_image, 4)
        font = ImageFont.load_default(size=max(spacing * 0.55, 4))
        line = " ".join([self.text] * (1 + width // max(1, len(self.text) * 4)))
        y = spacing * 0.25
        while y < height:
            draw.text((-spacing * (y / spacing % 3), y), line, fill=0, font=font)
            y += spacing
        return torch.from_numpy(np.asarray(canvas) >= 128).float()[None]


class RectangleMask:
    """One missing rectangle in the centre, `height_fraction` x `width_fraction` of the image."""

    limits = {"height_fraction": number(above=0, below=1), "width_fraction": number(above=0, below=1)}

    def __init__(self, height_fraction: float, width_fraction: float):
        check_limits(self, height_fraction=height_fraction, width_fraction=width_fraction)
        self.height_fraction, self.width_fraction = height_fraction, width_fraction

    def __call__(self, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
        mask = torch.ones(1, height, width)
        hole_h, hole_w = max(1, round(height * self.height_fraction)), max(1, round(width * self.width_fraction))
        top, left = (height - hole_h) // 2, (width - hole_w) // 2
        mask[:, top : top + hole_h, left : left + hole_w] = 0
        return mask


class FileMask:
    """A mask image of the user's: white (>= 50 % grey) = known pixel, black = missing. It is cut as the
    images are: shrunk as the clean image when that was shrunk (`max_size`), then cut (`center_crop`)."""

    limits = {"path": PATH, "max_size": optional(integer(1)), "center_crop": optional(integer(1))}  # pixels

    def __init__(self, path: str | os.PathLike, max_size: int | None, center_crop: int | None):
        check_limits(self, path=path, max_size=max_size, center_crop=center_crop)
        self.path, self.max_size, self.center_crop = path, max_size, center_crop

    def __call__(self, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
        mask = load_image(self.path, None, self.center_crop).mean(0, keepdim=True)
        if mask.shape[-2:] != (height, width) and self.max_size:  # the image was shrunk before its cut
            mask = load_image(self.path, self.max_size, self.center_crop).mean(0, keepdim=True)
        if mask.shape[-2:] != (height, width):
            raise InputError(
                f"mask {self.path} is {mask.shape[-1]}x{mask.shape[-2]} but the image is {width}x{height}; "
                "the mask must have the image's size"
            )
        return (mask >= 0.5).float()


def check_mask(mask: torch.Tensor) -> torch.Tensor:
    known = mask.mean().item()
    if known == 0:
        raise InputError("the mask marks no pixel as known (white); there is nothing to fit")
    if known == 1:
        log.warning("the mask marks every pixel as known: there is nothing to inpaint")
    return mask
