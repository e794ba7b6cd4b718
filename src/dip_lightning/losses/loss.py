"""The objective E(A(x); y) + weight * R(x): the mean squared error of the data term, plus an
optional regulariser R (the seed's formula).

A loss evaluates the parametrisation itself: it is given `network(delta)`, the output for the step's
input moved by `delta` (None: not moved), because some losses (SURE) look at the network around its
input, not only at its output."""

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from dip_lightning.errors import InputError

Network = Callable[[torch.Tensor | None], torch.Tensor]


class LossTerms(NamedTuple):
    total: torch.Tensor  # what the step minimises: the sum over independent fits (restarts)
    data: torch.Tensor  # (N,) ||A(x) - y||^2 of each fit, the mean over its pixels and channels
    parts: dict[str, torch.Tensor]  # further terms (a regulariser before its weight), logged as loss_<name>
    output: torch.Tensor  # x, (N, C, H, W)


def data_term(output: torch.Tensor, observed: torch.Tensor, operator: nn.Module) -> torch.Tensor:
    """||A(x) - y||^2 of each of the N fits in `output`, as the mean over its values."""
    return (operator(output).float() - observed).square().flatten(1).mean(1)


class Loss(nn.Module):
    def __init__(self, regularizer: nn.Module | None, weight: float):
        super().__init__()
        if regularizer is not None and not weight >= 0:
            raise InputError(f"the regulariser's weight must be >= 0, got {weight}")
        self.regularizer, self.weight = regularizer, weight

    def forward(
        self, network: Network, observed: torch.Tensor, operator: nn.Module, generator: torch.Generator | None
    ) -> LossTerms:
        output = network(None)
        data = data_term(output, observed, operator)
        if self.regularizer is None:
            return LossTerms(data.sum(), data, {}, output)
        value = self.regularizer(output.float())
        return LossTerms(data.sum() + self.weight * value, data, {"regularizer": value}, output)
