"""The deep image prior: x = f_theta(z), a randomly initialised network fed a fixed input z."""

from collections.abc import Callable

import torch
from torch import nn

from dip_lightning.crop import Crop
from dip_lightning.errors import InputError
from dip_lightning.images import read_image
from dip_lightning.inputs import make_input


class DeepPrior(nn.Module):
    """`net(num_input_channels, num_output_channels)` builds the network. z is uniform noise, the
    meshgrid, or `input_image` (input_type=image: flash / no-flash feeds the flash photo);
    `reg_noise_std` perturbs z with fresh Gaussian noise at every step (input-noise regularisation)."""

    def __init__(
        self,
        net: Callable[..., nn.Module],
        channels: int,
        input_type: str,
        input_depth: int,
        input_image: str | None,
        reg_noise_std: float,
    ):
        super().__init__()
        if not reg_noise_std >= 0:
            raise InputError(f"reg_noise_std must be >= 0, got {reg_noise_std}")
        self.input_type, self.reg_noise_std = input_type, reg_noise_std
        self.input_image = None
        if input_type == "image":
            if not input_image:
                raise InputError("input_type=image needs task.input_image=PATH (flash / no-flash: the flash photo)")
            self.input_image = read_image(input_image)
            if self.input_image.shape[0] != input_depth:
                raise InputError(
                    f"the input image {input_image} has {self.input_image.shape[0]} channel(s) but "
                    f"task.input_depth is {input_depth}"
                )
        self.net = net(num_input_channels=input_depth, num_output_channels=channels)
        self.input_depth = input_depth
        self.register_buffer("z", None)

    @property
    def total_stride(self) -> int:
        return getattr(self.net, "total_stride", 1)

    @property
    def min_input_size(self) -> int:
        return getattr(self.net, "min_input_size", self.total_stride)

    def prepare(self, height: int, width: int, crop: Crop, generator: torch.Generator) -> None:
        """Make z at the restoration's size (H, W); `crop` cuts an input image as the observation."""
        if self.input_image is None:
            self.z = make_input(self.input_type, self.input_depth, height, width, generator)
            return
        scale = height // crop.height
        expected = (crop.source_height * scale, crop.source_width * scale)
        if tuple(self.input_image.shape[-2:]) != expected:
            raise InputError(
                f"the input image is {self.input_image.shape[-1]}x{self.input_image.shape[-2]} but the "
                f"restoration's source is {expected[1]}x{expected[0]}: they must have the same size"
            )
        self.z = crop(self.input_image, scale)[None].contiguous()

    @property
    def input(self) -> torch.Tensor:
        return self.z

    def forward(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x from z, perturbed by N(0, reg_noise_std^2) when a generator is given (while fitting)."""
        if generator is not None and self.reg_noise_std:
            noise = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
            z = z + noise * self.reg_noise_std
        return self.net(z)

    def images(self) -> dict[str, torch.Tensor]:
        return {"input": self.z} if self.input_image is not None else {}
