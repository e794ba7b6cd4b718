"""The reference's centre crop: images are cut to a multiple of the network's total stride."""

from dataclasses import asdict, dataclass

import torch

from dip_lightning.errors import InputError


@dataclass(frozen=True)
class Crop:
    """Where the part that is fitted lies in its source image (pixels of the source)."""

    top: int
    left: int
    height: int
    width: int
    source_height: int
    source_width: int

    def __call__(self, image: torch.Tensor, scale: int = 1) -> torch.Tensor:
        """Cut `image` (.., H, W); with `scale`, an image `scale` times larger than the source."""
        top, left, height, width = (n * scale for n in (self.top, self.left, self.height, self.width))
        return image[..., top : top + height, left : left + width]

    @property
    def is_whole(self) -> bool:
        return (self.height, self.width) == (self.source_height, self.source_width)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def centred(height: int, width: int, new_height: int, new_width: int) -> Crop:
    """The centred new_height x new_width part of an H x W image (at most all of it); offsets round down."""
    new_height, new_width = min(new_height, height), min(new_width, width)
    return Crop((height - new_height) // 2, (width - new_width) // 2, new_height, new_width, height, width)


def centre_crop(height: int, width: int, multiple: int) -> Crop:
    """The centred crop of an H x W image to multiples of `multiple`, as the reference's crop_image."""
    new_height, new_width = height - height % multiple, width - width % multiple
    if new_height == 0 or new_width == 0:
        raise InputError(
            f"image {width}x{height} is smaller than {multiple} pixels, the multiple it must be cut to (the "
            "network's total stride, or a downsampling factor): use a larger image"
        )
    return centred(height, width, new_height, new_width)
