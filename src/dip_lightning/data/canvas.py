"""The canvas a network draws when a picture's size is not one it can take (not a multiple of its stride,
or under its minimum size): a larger picture with the image at its centre. The margins are drawn freely,
since no data term and no held-out pixel reaches them, and are cut away, so that every pixel of the image
comes back and nothing else does (experiments/benchmarks/padding.md measured this against the reference's
crop)."""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Canvas:
    """An image of height x width placed at (top, left) in a canvas_height x canvas_width canvas."""

    top: int
    left: int
    height: int
    width: int
    canvas_height: int
    canvas_width: int

    @classmethod
    def around(cls, height: int, width: int, stride: int, min_size: int) -> "Canvas":
        """The smallest canvas a network of total `stride` and minimum input `min_size` can take that holds
        an image of height x width, with the image centred (an odd margin puts its extra pixel after it)."""
        if height < 1 or width < 1:
            raise ValueError(f"an image has at least one pixel a side, got {width}x{height}")
        smallest = math.ceil(min_size / stride) * stride

        def side(n: int) -> int:
            return max(math.ceil(n / stride) * stride, smallest)

        canvas_height, canvas_width = side(height), side(width)
        top, left = (canvas_height - height) // 2, (canvas_width - width) // 2
        return cls(top, left, height, width, canvas_height, canvas_width)

    @property
    def is_whole(self) -> bool:
        return (self.canvas_height, self.canvas_width) == (self.height, self.width)

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the canvas: what the network draws."""
        return self.canvas_height, self.canvas_width

    def cut(self, canvas: torch.Tensor) -> torch.Tensor:
        """The image's part of a canvas (.., H, W)."""
        if self.is_whole:
            return canvas
        return canvas[..., self.top : self.top + self.height, self.left : self.left + self.width]

    def extend(self, image: torch.Tensor) -> torch.Tensor:
        """An image (N, C, h, w) extended to the canvas by repeating its border pixels: a picture fed to the
        network (flash / no-flash, SURE's observation), which must cover the whole canvas."""
        return image if self.is_whole else F.pad(image, self._margins(), mode="replicate")

    def place(self, image: torch.Tensor) -> torch.Tensor:
        """An image (N, C, h, w) in the canvas, zero outside it: a perturbation of a picture fed to the
        network (SURE's probe), which leaves the margins as they are."""
        return image if self.is_whole else F.pad(image, self._margins())

    def _margins(self) -> tuple[int, int, int, int]:
        """(left, right, top, bottom): F.pad's order."""
        bottom = self.canvas_height - self.height - self.top
        return self.left, self.canvas_width - self.width - self.left, self.top, bottom
