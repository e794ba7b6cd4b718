"""SURE for known-sigma denoising: the Monte Carlo divergence is unbiased (against a known trace), SURE's
mean is the true MSE (identity and linear shrinkage denoisers), and the terms train a network."""

import pytest
import torch
import torch.nn.functional as F

from dip_lightning.build import build_module
from dip_lightning.errors import InputError
from dip_lightning.losses.sure import SureLoss, mc_divergence, sure_loss
from dip_lightning.nets.skip import Skip
from dip_lightning.physics.operator import Identity

EPS = [None, 1e-3]  # the exact vector-Jacobian product, and a finite difference


def within_standard_errors(samples: torch.Tensor, expected: float, errors: float = 4.0) -> bool:
    standard_error = samples.std().item() / len(samples) ** 0.5
    return abs(samples.mean().item() - expected) <= errors * standard_error


@pytest.mark.parametrize("eps", EPS)
def test_divergence_estimate_is_b_transpose_a_b_and_unbiased_for_a_linear_map(eps):
    matrix = torch.randn(12, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)  # not symmetric
    y = torch.rand(1, 2, 2, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    def f(delta):
        return (matrix @ (y + delta).flatten()).view(y.shape)

    generator, replay = torch.Generator().manual_seed(2), torch.Generator().manual_seed(2)
    estimates = []
    for _ in range(3000):
        estimate = mc_divergence(f, y, eps, generator)
        probe = torch.randn(y.shape, generator=replay, dtype=torch.float64).flatten()
        assert estimate.item() == pytest.approx((probe @ matrix @ probe).item(), rel=1e-9, abs=1e-9)
        estimates.append(estimate.detach())
    estimates = torch.stack(estimates)
    assert within_standard_errors(estimates, matrix.trace().item())
    assert estimates.std().item() > 1  # one probe per call: a noisy estimate whose mean is the trace


@pytest.mark.parametrize("eps", EPS)
def test_sure_of_the_identity_is_sigma_squared_its_true_mse(eps):
    """f(y) = y: the data term is 0, the divergence N, so SURE = -sigma^2 + 2 sigma^2 = sigma^2 on average."""
    sigma, clean = 0.1, torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    noise_generator, probe_generator = torch.Generator().manual_seed(4), torch.Generator().manual_seed(5)
    sures, mses = [], []
    for _ in range(2000):
        y = clean + sigma * torch.randn(clean.shape, generator=noise_generator, dtype=torch.float64)
        terms = sure_loss(lambda delta, y=y: y + delta, y, sigma, eps, probe_generator)
        assert terms.data.item() == pytest.approx(0, abs=1e-20)
        sures.append(terms.total.detach())
        mses.append(F.mse_loss(y, clean))
    assert within_standard_errors(torch.stack(sures), sigma**2)
    assert within_standard_errors(torch.stack(mses), sigma**2)


@pytest.mark.parametrize("eps", EPS)
def test_mean_sure_is_the_true_mse_of_a_linear_shrinkage(eps):
    """f(y) = c y: E[SURE] = E[(1/N) ||c y - x||^2] = (1 - c)^2 ||x||^2 / N + c^2 sigma^2."""
    sigma, shrink = 0.1, 0.7
    clean = torch.rand(1, 1, 20, 25, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    noise_generator, probe_generator = torch.Generator().manual_seed(7), torch.Generator().manual_seed(8)
    sures, mses = [], []
    for _ in range(1000):
        y = clean + sigma * torch.randn(clean.shape, generator=noise_generator, dtype=torch.float64)
        terms = sure_loss(lambda delta, y=y: shrink * (y + delta), y, sigma, eps, probe_generator)
        sures.append(terms.total.detach())
        mses.append(F.mse_loss(shrink * y, clean))
    sures, mses = torch.stack(sures), torch.stack(mses)
    assert within_standard_errors(sures - mses, 0.0)  # paired: the same noise, SURE against the truth
    expected = (1 - shrink) ** 2 * clean.square().mean().item() + shrink**2 * sigma**2
    assert within_standard_errors(sures, expected)
    assert not within_standard_errors(sures, expected + 0.1 * sigma**2)  # the test can tell a small bias


@pytest.mark.parametrize("eps_per_sigma", [None, 0.5])
def test_sure_trains_a_dip_network_fed_with_the_noisy_image(eps_per_sigma):
    """The DIP-SURE set-up: the skip network (BatchNorm, reflection padding, bilinear upsampling,
    sigmoid) fed y itself; both divergence modes give finite gradients to every weight."""
    torch.manual_seed(0)
    net = Skip(
        num_input_channels=3,
        num_output_channels=3,
        num_channels_down=[4, 4],
        num_channels_up=[4, 4],
        num_channels_skip=[2, 2],
        filter_size_down=3,
        filter_size_up=3,
        filter_skip_size=1,
        need_sigmoid=True,
        need_bias=True,
        pad="reflection",
        upsample_mode="bilinear",
        downsample_mode="stride",
        act_fun="LeakyReLU",
        need1x1_up=True,
    )
    y = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(9))
    input_noise = 0.05 * torch.randn(y.shape, generator=torch.Generator().manual_seed(10))  # drawn once a step
    loss = SureLoss(sigma=25, eps_per_sigma=eps_per_sigma)

    def network(delta):
        return net(y + input_noise if delta is None else y + input_noise + delta)

    terms = loss(network, y, Identity(), torch.Generator().manual_seed(11))
    assert terms.data.item() == pytest.approx(F.mse_loss(net(y + input_noise), y).item(), rel=1e-5)
    sigma = 25 / 255
    expected = terms.data - sigma**2 + 2 * sigma**2 / y.numel() * terms.parts["divergence"]
    assert terms.total.item() == pytest.approx(expected.item(), rel=1e-6)
    terms.total.backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and g.isfinite().all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0


def test_bad_settings_are_refused():
    with pytest.raises(InputError):
        SureLoss(sigma=0, eps_per_sigma=0.5)  # SURE needs the noise level
    with pytest.raises(InputError):
        SureLoss(sigma=25, eps_per_sigma=0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["task=deblur"], "loss=sure is for denoising"),  # noise of a known sigma, but a blur
        (["prior.input_type=noise"], "set prior.input_type=observation"),
        (["restarts=2"], "does not combine with restarts"),
    ],
)
def test_sure_refuses_what_it_cannot_score_before_the_fit(configure, overrides, message):
    with pytest.raises(InputError, match=message):
        build_module(configure("experiment=denoise_sure", *overrides))
