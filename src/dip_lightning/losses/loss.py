"""The objective E(A(x); y) + weight * R(x): the mean squared error of the data term, plus an
optional regulariser R (the seed's formula).

A loss evaluates the parametrisation itself: it is given `network(delta)`, the output for the step's
input moved by `delta` (None: not moved), because some losses (SURE) look at the network around its
input, not only at its output."""

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from dip_lightning.limits import check_limits, number

Network = Callable[[torch.Tensor | None], torch.Tensor]


class LossTerms(NamedTuple):
    total: torch.Tensor  # what the step minimises: the sum over independent fits (restarts)
    data: torch.Tensor  # (N,) ||A(x) - y||^2 of each fit, the mean over its pixels and channels
    parts: dict[str, torch.Tensor]  # further terms (a regulariser before its weight), logged as loss_<name>
    output: torch.Tensor  # x, (N, C, H, W)


def data_term(
    output: torch.Tensor, observed: torch.Tensor, operator: nn.Module, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """||A(x) - y||^2 of each of the N fits in `output`, as the mean over its values; with `weight`
    ((1, 1, h, w), 0 at pixels held out of the fit), the mean over the pixels it keeps."""
    squared = (operator(output).float() - observed).square()
    if weight is None:
        return squared.flatten(1).mean(1)
    return (squared * weight).flatten(1).sum(1) / (weight.sum() * squared.shape[1])


class Loss(nn.Module):
    """The squared error of the data term, plus an optional regulariser: fitted long enough, it fits the noise."""

    overfits_noise = True
    limits = {"weight": number(0)}  # of the regulariser

    def __init__(self, regularizer: nn.Module | None, weight: float):
        check_limits(self, weight=weight)
        super().__init__()
        self.regularizer, self.weight = regularizer, weight

    def forward(
        self,
        network: Network,
        observed: torch.Tensor,
        operator: nn.Module,
        generator: torch.Generator | None,
        weight: torch.Tensor | None = None,
    ) -> LossTerms:
        """`weight`: see data_term (pixels held out of the fit by a stopping rule)."""
        output = network(None)
        data = data_term(output, observed, operator, weight)
        if self.regularizer is None:
            return LossTerms(data.sum(), data, {}, output)
        value = self.regularizer(output.float())
        return LossTerms(data.sum() + self.weight * value, data, {"regularizer": value}, output)
