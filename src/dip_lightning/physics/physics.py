"""A restoration problem's physics: y = noise(A(x))."""

from collections.abc import Callable

import torch
from torch import nn

from dip_lightning.data.crop import Crop
from dip_lightning.physics.contract import Noise
from dip_lightning.physics.operator import Operator


class Physics(nn.Module):
    """The forward operator A that the fit uses, and how a clean image x becomes a synthetic
    observation: noise(simulator(x)), where the simulator is A itself unless a task says otherwise
    (super-resolution: the reference makes its low-resolution images with PIL, not with A)."""

    def __init__(
        self,
        operator: Operator,
        noise: Noise | None = None,
        simulator: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        super().__init__()
        self.operator = operator
        self.noise = noise
        self.simulator = simulator

    @property
    def scale(self) -> int:
        return self.operator.scale

    def prepare(self, crop: Crop, generator: torch.Generator, synthetic: bool) -> None:
        self.operator.prepare(crop, generator, synthetic)

    @torch.no_grad()
    def degrade(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The synthetic observation of a batch of clean images (N, C, H, W)."""
        y = self.simulator(clean) if self.simulator is not None else self.operator(clean)
        return self.noise(y, generator) if self.noise is not None else y
