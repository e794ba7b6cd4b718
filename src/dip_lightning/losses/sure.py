"""SURE, Stein's unbiased risk estimate, as the loss of a denoising fit with known sigma: it scores the
restoration against the clean image without seeing it, so the fit overfits far less (DIP-SURE: Jo,
Chun, Choi, "Rethinking Deep Image Prior for Denoising", ICCV 2021).

For a denoiser f and y = x + n, n ~ N(0, sigma^2 I), with N values,
    SURE(f, y) = (1/N) ||f(y) - y||^2 - sigma^2 + (2 sigma^2 / N) div_y f(y)
has the expectation of the MSE (1/N) ||f(y) - x||^2. The divergence (the trace of the Jacobian) is
estimated by Hutchinson's Monte Carlo, one Gaussian probe b ~ N(0, I) per call: b^T J b, unbiased.

In DIP-SURE the network's input is the noisy image, and f is the network as a function of its input at
fixed weights. So f is given as a closure of an input perturbation: `f(delta) = net(y + delta)`. Any
randomness of the step (the input noise of `reg_noise_std`, dropout) must be drawn once outside the
closure, so that both evaluations of f share it and the probe is the only difference between them.
"""

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from dip_lightning.errors import InputError
from dip_lightning.limits import check_limits, number, optional
from dip_lightning.losses.data_terms import SquaredError
from dip_lightning.losses.loss import LossTerms, Network, data_term

Perturbed = Callable[[torch.Tensor], torch.Tensor]  # delta (the shape of y) -> the output at y + delta


class SureTerms(NamedTuple):
    total: torch.Tensor  # SURE, the estimate of the MSE against the clean image
    data: torch.Tensor  # (1/N) ||f(y) - y||^2, the mean over values
    divergence: torch.Tensor  # the Monte Carlo estimate of div f(y): a sum over values, not a mean
    output: torch.Tensor  # f(y)


def mc_divergence(f: Perturbed, y: torch.Tensor, eps: float | None, generator: torch.Generator) -> torch.Tensor:
    """One Hutchinson estimate of div f(y), with b drawn from `generator`. `eps` None: b^T J b exactly,
    by a vector-Jacobian product (a double backward when the result is differentiated; needs autograd
    on). `eps` a float: the finite difference b^T (f(y + eps b) - f(y)) / eps, one more forward pass."""
    origin = _origin(y, eps)
    return _divergence(f, f(origin), origin, eps, generator)


def sure_loss(f: Perturbed, y: torch.Tensor, sigma: float, eps: float | None, generator: torch.Generator) -> SureTerms:
    """SURE of the closure f at the observation y, with sigma and eps in the units of y. The terms keep
    their graph: `total.backward()` fits the weights that f closes over. Over a batch of restarts it is
    the mean of their SUREs (one probe covers the batch, its estimate is the sum of theirs)."""
    if not sigma >= 0:
        raise InputError(f"sigma must be >= 0, got {sigma}")
    origin = _origin(y, eps)
    output = f(origin)
    data = (output - y).square().mean()
    divergence = _divergence(f, output, origin, eps, generator)
    return SureTerms(data - sigma**2 + 2 * sigma**2 / y.numel() * divergence, data, divergence, output)


class SureLoss(nn.Module):
    """`sure_loss` as the loss of a denoising fit (loss=sure), with its settings: `sigma` in 0-255 units,
    as task.sigma (the images are in [0, 1]); the finite-difference step is eps = `eps_per_sigma` * sigma,
    or None for the exact vector-Jacobian product. The network must be fed the observation itself
    (prior.input_type=observation): the divergence is taken with respect to the network's input.

    The DIP-SURE authors' code (github.com/gistvision/DIP-denosing, loss.py and config_parser.py) does
    both: its `dip_sure` mode takes the finite difference at 0.5 sigma (`--epsilon 0.5`, a comment there
    says 1.6e-4), and its `eSURE_*` modes, those of every run in its exp_denoising.sh, the exact product.
    A large step smooths f, a bias for a curved f, but survives low precision; a small one matches the
    exact value in float32 but drowns in bf16's rounding under autocast (seen once on a GPU, in no
    benchmark file yet). The exact product has no knob, at the cost of a double backward.
    """

    overfits_noise = False  # an unbiased estimate of the error against the clean image
    data_term = SquaredError()  # its data part, which held-out validation measures where it is asked to
    limits = {"sigma": number(above=0), "eps_per_sigma": optional(number(above=0))}  # null: the exact product

    def __init__(self, sigma: float, eps_per_sigma: float | None):
        check_limits(self, "loss=sure: ", sigma=sigma, eps_per_sigma=eps_per_sigma)
        super().__init__()
        self.sigma = sigma / 255.0
        self.eps = None if eps_per_sigma is None else eps_per_sigma * self.sigma

    def forward(
        self,
        network: Network,
        observed: torch.Tensor,
        operator: nn.Module,
        generator: torch.Generator,
        weight: torch.Tensor | None = None,
    ):
        # (what it needs of the task, the input and the restarts is checked when the module is built)
        if weight is not None:
            raise InputError("loss=sure uses every pixel: it does not combine with stopping=validation")
        terms = sure_loss(lambda delta: network(delta).float(), observed, self.sigma, self.eps, generator)
        data = data_term(terms.output, observed, operator)
        return LossTerms(terms.total, data, {"divergence": terms.divergence}, terms.output)


def _origin(y: torch.Tensor, eps: float | None) -> torch.Tensor:
    """The zero perturbation: f(origin) is f(y); the exact divergence differentiates with respect to it."""
    if eps is not None and not eps > 0:
        raise InputError(f"eps must be > 0, or None for the exact divergence, got {eps}")
    return torch.zeros_like(y, requires_grad=eps is None)


def _divergence(
    f: Perturbed, output: torch.Tensor, origin: torch.Tensor, eps: float | None, generator: torch.Generator
) -> torch.Tensor:
    probe = torch.randn(origin.shape, generator=generator, device=generator.device, dtype=origin.dtype)
    probe = probe.to(origin.device)
    if eps is None:
        (transposed,) = torch.autograd.grad(output, origin, grad_outputs=probe.to(output.dtype), create_graph=True)
        return (probe * transposed).sum()  # b^T J^T b = b^T J b
    return (probe * (f(origin + eps * probe) - output)).sum() / eps
