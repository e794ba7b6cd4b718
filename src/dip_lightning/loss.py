"""The objective E(A(x); y) + weight * R(x): the mean squared error of the data term, plus an
optional regulariser R (the seed's formula)."""

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from dip_lightning.errors import InputError


class LossTerms(NamedTuple):
    total: torch.Tensor
    data: torch.Tensor  # ||A(x) - y||^2, the mean over pixels and channels
    regularizer: torch.Tensor | None  # R(x), before its weight


class Loss(nn.Module):
    def __init__(self, regularizer: nn.Module | None, weight: float):
        super().__init__()
        if regularizer is not None and not weight >= 0:
            raise InputError(f"the regulariser's weight must be >= 0, got {weight}")
        self.regularizer, self.weight = regularizer, weight

    def forward(self, x: torch.Tensor, observed: torch.Tensor, operator: nn.Module) -> LossTerms:
        data = F.mse_loss(operator(x).float(), observed)
        if self.regularizer is None:
            return LossTerms(data, data, None)
        value = self.regularizer(x.float())
        return LossTerms(data + self.weight * value, data, value)
