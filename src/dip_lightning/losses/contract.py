"""What the fit minimises, E(A(x); y) + R(x), to the module (module.py): a loss is called each step with
`network(delta)` (the output for the step's input moved by `delta`; None: not moved), the observation y,
the operator A, the step's generator and the data term's `weight` (0 at pixels a stopping rule holds
out of the fit; None: every pixel), and returns its LossTerms (loss.py): the total to minimise, the data
term per fit (its PSNR against y is logged and backtracking watches it), further parts to log, and x.

`overfits_noise`: whether fitting longer ends in the noise (the squared error does; SURE, an unbiased
estimate of the error against the clean image, does not): a stopping rule is applied by default only to
a loss that does. A regulariser R(x) is a module from x (N, C, H, W) to a scalar. A data term
(data_terms.DataTerm) is the per-value error of A(x) against y that a Loss averages over the fitted
values and held-out validation over the held-out ones: the squared error, or the likelihood matched to
the noise model (a new one is a class in data_terms.py and a conf/loss yaml naming it).

A loss is added with two files: its module and conf/loss/<name>.yaml (`_target_`); the contract test
(tests/losses/) calls every conf/loss option on a tiny fit."""

from typing import Protocol, runtime_checkable

import torch
from torch import nn

from dip_lightning.losses.data_terms import DataTerm
from dip_lightning.losses.loss import LossTerms, Network


@runtime_checkable
class Objective(Protocol):
    """What the fit minimises: called each step as the module calls it (this file's docstring says with what),
    it returns the step's LossTerms."""

    overfits_noise: bool
    data_term: DataTerm  # the per-value error of its data part, which held-out validation measures

    def __call__(
        self,
        network: Network,
        observed: torch.Tensor,
        operator: nn.Module,
        generator: torch.Generator | None,
        weight: torch.Tensor | None = None,
    ) -> LossTerms: ...


@runtime_checkable
class Regularizer(Protocol):
    """R(x): a penalty on the image x (N, C, H, W), a scalar, weighted by the loss (total variation)."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


__all__ = ["DataTerm", "Objective", "Regularizer"]
