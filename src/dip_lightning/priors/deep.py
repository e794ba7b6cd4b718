"""The deep image prior: x = f_theta(z), a randomly initialised network fed a fixed input z."""

from collections.abc import Callable

import torch
from torch import nn

from dip_lightning.data.canvas import Canvas
from dip_lightning.data.crop import Crop
from dip_lightning.data.images import read_image
from dip_lightning.errors import InputError
from dip_lightning.limits import PATH, check_limits, integer, number, one_of, optional
from dip_lightning.nets.checkpointing import build_network
from dip_lightning.nets.contract import Network
from dip_lightning.priors.inputs import INPUT_TYPES, make_input

MEMORY_FORMATS = ("auto", "channels_last", "contiguous")  # what prior.memory_format may be (hardware/layout.py)


class DeepPrior(nn.Module):
    """`net(num_input_channels, num_output_channels)` builds the network. z is uniform noise, the
    meshgrid, `input_image` (input_type=image: flash / no-flash feeds the flash photo) or the observation
    itself (input_type=observation, as SURE needs); `reg_noise_std` perturbs z with fresh Gaussian noise
    at every step (input-noise regularisation). `activation_checkpointing` ("all", or N outer levels of a
    skip network) trades compute for memory. `memory_format` is the layout of the network's weights and of
    z (torch.channels_last where it is faster: hardware/layout.py); the layers keep it from there.

    The network draws a canvas of a size it can take (data/canvas.py: up to a multiple of its `total_stride`
    and at least its `min_input_size`, which every network declares), and x is the image's part of it."""

    limits = {
        "input_type": one_of(*INPUT_TYPES),
        "input_depth": integer(1),
        "reg_noise_std": number(0),
        "input_image": optional(PATH),
        "activation_checkpointing": optional(one_of("all") | integer(0)),
        "memory_format": one_of(*MEMORY_FORMATS),  # in the config; the module is given the one resolved for the fit
    }

    def __init__(
        self,
        net: Callable[..., nn.Module],
        channels: int,
        input_type: str,
        input_depth: int,
        input_image: str | torch.Tensor | None,
        reg_noise_std: float,
        activation_checkpointing: str | int | None,
        memory_format: torch.memory_format = torch.contiguous_format,
    ):
        check_limits(
            self,
            input_type=input_type,
            input_depth=input_depth,
            reg_noise_std=reg_noise_std,
            activation_checkpointing=activation_checkpointing,
        )
        super().__init__()
        self.input_type, self.reg_noise_std = input_type, reg_noise_std
        self.input_image = None
        if input_type == "image":
            if input_image is None or isinstance(input_image, str) and not input_image:
                raise InputError("input_type=image needs prior.input_image=PATH (flash / no-flash: the flash photo)")
            self.input_image = input_image if isinstance(input_image, torch.Tensor) else read_image(input_image)
            if self.input_image.shape[0] != input_depth:
                raise InputError(
                    f"the input image has {self.input_image.shape[0]} channel(s) but prior.input_depth is {input_depth}"
                )
        if input_type == "observation":
            input_depth = channels  # the observation's own channels
        self.net = build_network(
            net, activation_checkpointing, num_input_channels=input_depth, num_output_channels=channels
        ).to(memory_format=memory_format)
        if not isinstance(self.net, Network):
            raise InputError(
                f"{type(self.net).__name__} cannot be the deep prior's network: it must declare total_stride and "
                "min_input_size, the sizes it takes (dip_lightning.nets.Network)"
            )
        self.input_depth, self.memory_format = input_depth, memory_format
        # what the network declares it can take (kept apart: batched restarts take the network away)
        self.total_stride, self.min_input_size = self.net.total_stride, self.net.min_input_size
        self.register_buffer("z", None)
        self.canvas: Canvas | None = None

    def prepare(self, height: int, width: int, crop: Crop, generator: torch.Generator, observed: torch.Tensor) -> None:
        """Make z on the canvas around the restoration's size (H, W); `crop` cuts an input image as the
        observation, and a picture fed to the network is extended to the canvas by its border pixels."""
        self.canvas = Canvas.around(height, width, self.total_stride, self.min_input_size)
        if self.input_type == "observation":
            if tuple(observed.shape[-2:]) != (height, width):
                raise InputError(
                    "input_type=observation feeds the observation to the network: it must have the restoration's "
                    "size (not super-resolution)"
                )
            self.z = self.canvas.extend(observed).clone(memory_format=self.memory_format)
            return
        if self.input_image is None:
            self.z = make_input(self.input_type, self.input_depth, *self.canvas.size, generator)
            self.z = self.z.contiguous(memory_format=self.memory_format)
            return
        scale = height // crop.height
        expected = (crop.source_height * scale, crop.source_width * scale)
        if tuple(self.input_image.shape[-2:]) != expected:
            raise InputError(
                f"the input image is {self.input_image.shape[-1]}x{self.input_image.shape[-2]} but the "
                f"restoration's source is {expected[1]}x{expected[0]}: they must have the same size"
            )
        picture = self.canvas.extend(crop(self.input_image, scale)[None])
        self.z = picture.contiguous(memory_format=self.memory_format)

    @property
    def input(self) -> torch.Tensor:
        return self.z

    def perturb(self, z: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """z + N(0, reg_noise_std^2), drawn afresh at every step."""
        if not self.reg_noise_std:
            return z
        return z + torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype) * self.reg_noise_std

    def place(self, delta: torch.Tensor) -> torch.Tensor:
        """A perturbation of the picture fed to the network (input_type=observation: SURE's probe), of the
        image's size, as a perturbation of z on its canvas."""
        return self.canvas.place(delta)

    def render(self, z: torch.Tensor) -> torch.Tensor:
        return self.canvas.cut(self.net(z))

    def forward(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x from z, perturbed when a generator is given (while fitting)."""
        return self.render(self.perturb(z, generator) if generator is not None else z)

    def restart_parameters(self) -> list[list[torch.Tensor]]:
        """The parameters of each independent fit (one here; several for restarts)."""
        return [list(self.parameters())]

    def images(self) -> dict[str, torch.Tensor]:
        return {"input": self.canvas.cut(self.z)} if self.input_image is not None else {}
