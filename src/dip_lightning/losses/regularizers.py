"""Regularisers R(x) for the objective E(A(x); y) + weight * R(x)."""

import torch
from torch import nn

from dip_lightning.limits import check_limits, number


class TotalVariation(nn.Module):
    """The seed's TV: the sum over pixels and channels of (dx^2 + dy^2)^beta, with dx and dy the
    differences to the right and lower neighbours; beta = 0.5 is isotropic TV. A sum, not a mean:
    its weight scales with the number of pixels (the seed uses 1e-7 on a 256 x 160 image)."""

    limits = {"beta": number(above=0)}

    def __init__(self, beta: float):
        check_limits(self, beta=beta)
        super().__init__()
        self.beta = beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dx = (x[..., :-1, 1:] - x[..., :-1, :-1]) ** 2
        dy = (x[..., 1:, :-1] - x[..., :-1, :-1]) ** 2
        return (dx + dy + 1e-12).pow(self.beta).sum()  # 1e-12: a finite gradient where x is flat
