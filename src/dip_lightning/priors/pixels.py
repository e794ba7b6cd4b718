"""No prior: the pixels of x are the parameters (the seed's "no prior"; with a TV loss, its "TV prior")."""

import torch
from torch import nn

from dip_lightning.data.crop import Crop


class PixelPrior(nn.Module):
    """x is one parameter tensor, started as the reference's identity network starts its input:
    uniform noise in [0, 0.1). It has no input: the 'dataset' serves an empty tensor."""

    total_stride = 1
    min_input_size = 1

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.pixels = nn.Parameter(torch.empty(0))
        self.register_buffer("input", torch.empty(0))

    def prepare(self, height: int, width: int, crop: Crop, generator: torch.Generator, observed: torch.Tensor) -> None:
        self.pixels = nn.Parameter(torch.rand(1, self.channels, height, width, generator=generator) * 0.1)

    def perturb(self, z: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return z

    def render(self, z: torch.Tensor) -> torch.Tensor:
        return self.pixels

    def forward(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.pixels

    def restart_parameters(self) -> list[list[torch.Tensor]]:
        return [[self.pixels]]

    def images(self) -> dict[str, torch.Tensor]:
        return {}
