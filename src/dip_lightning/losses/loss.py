"""The objective E(A(x); y) + weight * R(x): the mean of a data term over the fitted values (the squared
error, as the seed; or the likelihood matched to the noise: data_terms.py), plus an optional regulariser R
(the seed's formula).

A loss evaluates the parametrisation itself: it is given `network(delta)`, the output for the step's
input moved by `delta` (None: not moved), because some losses (SURE) look at the network around its
input, not only at its output."""

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from dip_lightning.limits import check_limits, number
from dip_lightning.losses.data_terms import DataTerm, SquaredError

Network = Callable[[torch.Tensor | None], torch.Tensor]


class LossTerms(NamedTuple):
    total: torch.Tensor  # what the step minimises: the sum over independent fits (restarts)
    data: torch.Tensor  # (N,) ||A(x) - y||^2 of each fit, the mean over its pixels and channels (psnr_observed)
    parts: dict[str, torch.Tensor]  # further terms (a regulariser before its weight), logged as loss_<name>
    output: torch.Tensor  # x, (N, C, H, W)


def fitted_mean(values: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """The mean of (N, C, h, w) `values` over each of the N fits' values; with `weight` ((1, 1, h, w), 0 at
    pixels held out of the fit), the mean over the pixels it keeps."""
    if weight is None:
        return values.flatten(1).mean(1)
    return (values * weight).flatten(1).sum(1) / (weight.sum() * values.shape[1])


def data_term(
    output: torch.Tensor, observed: torch.Tensor, operator: nn.Module, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """||A(x) - y||^2 of each of the N fits in `output`, as the mean over its values (see fitted_mean)."""
    return fitted_mean(SquaredError().pointwise(operator(output), observed), weight)


class Loss(nn.Module):
    """The mean of `data_term` over the fitted values, plus an optional regulariser: fitted long enough, it
    fits the noise. A data term other than the squared error is logged as loss_<its name>; the squared
    error is always the `data` of the terms (psnr_observed, backtracking)."""

    overfits_noise = True
    limits = {"weight": number(0)}  # of the regulariser

    def __init__(self, data_term: DataTerm, regularizer: nn.Module | None, weight: float):
        check_limits(self, weight=weight)
        super().__init__()
        self.data_term, self.regularizer, self.weight = data_term, regularizer, weight

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
        prediction = operator(output)
        data = fitted_mean(SquaredError().pointwise(prediction, observed), weight)
        fidelity, parts = data, {}
        if not isinstance(self.data_term, SquaredError):
            fidelity = fitted_mean(self.data_term.pointwise(prediction, observed), weight)
            parts[self.data_term.name] = fidelity.sum()
        if self.regularizer is None:
            return LossTerms(fidelity.sum(), data, parts, output)
        value = self.regularizer(output.float())
        return LossTerms(fidelity.sum() + self.weight * value, data, {**parts, "regularizer": value}, output)
