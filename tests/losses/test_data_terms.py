"""The data terms matched to each noise model (losses/data_terms.py): their values and gradients on small
cases worked out by hand, the squared error identical to loss.py's data term, and that each is proper:
over observations drawn from its noise around a clean value x, its mean is lowest at the prediction f = x."""

import pytest
import torch

from dip_lightning.errors import InputError
from dip_lightning.losses.data_terms import (
    AbsoluteError,
    AnscombeSquaredError,
    GammaLikelihood,
    PoissonLikelihood,
    SquaredError,
)
from dip_lightning.losses.loss import data_term
from dip_lightning.physics.noise import GaussianNoise, ImpulseNoise, PoissonGaussianNoise, PoissonNoise, SpeckleNoise

F = [0.5, 0.2]  # predictions f
Y = [0.3, 0.6]  # observations y


def value_and_gradient(term, prediction, observed):
    f = torch.tensor(prediction, requires_grad=True)
    value = term.pointwise(f, torch.tensor(observed))
    value.sum().backward()
    return value.detach().tolist(), f.grad.tolist()


def test_squared_error_by_hand():
    # (0.5 - 0.3)^2 = 0.04, (0.2 - 0.6)^2 = 0.16; d/df = 2 (f - y) = 0.4, -0.8
    value, gradient = value_and_gradient(SquaredError(), F, Y)
    assert value == pytest.approx([0.04, 0.16], rel=1e-6) and gradient == pytest.approx([0.4, -0.8], rel=1e-6)


def test_absolute_error_by_hand():
    # |0.5 - 0.3| = 0.2, |0.2 - 0.6| = 0.4; d/df = sign(f - y) = 1, -1; at f = y the gradient is 0
    value, gradient = value_and_gradient(AbsoluteError(), F + [0.7], Y + [0.7])
    assert value == pytest.approx([0.2, 0.4, 0], abs=1e-7) and gradient == [1, -1, 0]


def test_poisson_likelihood_by_hand():
    # f - y log f: 0.5 - 0.3 ln 0.5 = 0.5 + 0.3 * 0.693147 = 0.707944; 0.2 - 0.6 ln 0.2 = 0.2 + 0.6 * 1.609438
    # = 1.165663; at f = 0, clamped to eps = 1e-3: 0.001 - 0.3 ln 0.001 = 0.001 + 0.3 * 6.907755 = 2.073327.
    # d/df = 1 - y / f: 1 - 0.3 / 0.5 = 0.4, 1 - 0.6 / 0.2 = -2; below eps, 0 (the clamp is flat)
    value, gradient = value_and_gradient(PoissonLikelihood(), F + [0.0], Y + [0.3])
    assert value == pytest.approx([0.707944, 1.165663, 2.073327], rel=1e-5)
    assert gradient == pytest.approx([0.4, -2, 0], rel=1e-5)


def test_gamma_likelihood_by_hand():
    # log f + y / f: ln 0.5 + 0.3 / 0.5 = -0.693147 + 0.6 = -0.093147; ln 0.2 + 0.6 / 0.2 = -1.609438 + 3
    # = 1.390562; at f = 0, clamped to 1e-3: ln 0.001 + 0.3 / 0.001 = -6.907755 + 300 = 293.092245.
    # d/df = 1/f - y/f^2: 2 - 0.3 / 0.25 = 0.8, 5 - 0.6 / 0.04 = -10; below eps, 0
    value, gradient = value_and_gradient(GammaLikelihood(), F + [0.0], Y + [0.3])
    assert value == pytest.approx([-0.093147, 1.390562, 293.092245], rel=1e-5)
    assert gradient == pytest.approx([0.8, -10, 0], rel=1e-5)


def test_anscombe_squared_error_by_hand_at_many_photons():
    """gain 0.01, sigma 0, f = 0.5 (50 photons, past the table: m(f) = (2/gain) sqrt(gain f + gain^2/8)):
    m = 200 sqrt(0.005 + 0.0000125) = 200 * 0.0707990 = 14.159802; y = 0.36:
    GAT = 200 sqrt(0.0036 + 3/8 * 0.0001) = 200 sqrt(0.0036375) = 200 * 0.0603117 = 12.062338;
    (14.159802 - 12.062338)^2 = 2.097464^2 = 4.399356; d/df = 2 (m - GAT) m'(f), m'(f) = 1 / sqrt(gain f +
    gain^2/8) = 1 / 0.0707990 = 14.124491: 2 * 2.097464 * 14.124491 = 59.251228."""
    value, gradient = value_and_gradient(AnscombeSquaredError(0.01, 0), [0.5], [0.36])
    assert value == pytest.approx([4.399356], rel=1e-5) and gradient == pytest.approx([59.251228], rel=1e-4)


def test_anscombe_squared_error_by_hand_at_no_photon():
    """gain 0.1, sigma 0, f = 0 (no photon: y = 0 surely, so m(0) = GAT(0) = 2 sqrt(3/8) = 1.224745); y one
    photon, 0.1: GAT = 2 sqrt(1 + 3/8) = 2.345208; (1.224745 - 2.345208)^2 = 1.120463^2 = 1.255437.
    m'(0) = (GAT(1 photon) - GAT(0)) / gain = 1.120463 / 0.1 = 11.20463 (d/dlambda of sum_k P(k) GAT(k) at
    lambda = 0); the table's first step, 0.02 photons, has the slope 11.1665 (e^-0.02 (1.224745 + 0.02 *
    2.345208 + 0.0002 * 3.082207) = 1.247078: (1.247078 - 1.224745) / 0.002), 0.3 % lower: so the gradient
    is 2 * -1.120463 * 11.1665 = -25.0234."""
    value, gradient = value_and_gradient(AnscombeSquaredError(0.1, 0), [0.0], [0.1])
    assert value == pytest.approx([1.255437], rel=1e-5) and gradient == pytest.approx([-25.0234], rel=1e-3)


def test_anscombe_expectation_is_the_transforms_mean_under_the_noise():
    """m(f) against a Monte Carlo mean of GAT(y) (1e6 draws: standard error 1e-3, the transform's noise
    having a standard deviation of about 1), from below one photon to many; m is finite and increasing
    everywhere, below black too."""
    term, noise = AnscombeSquaredError(0.05, 10), PoissonGaussianNoise(0.05, 10)
    generator = torch.Generator().manual_seed(0)
    for x in [0.01, 0.05, 0.3, 2.0]:  # 0.2, 1, 6 and 40 photons (the last beyond the table)
        mean = term.transform(noise(torch.full((1_000_000,), x), generator)).mean().item()
        assert term.expected_transform(torch.tensor(x)).item() == pytest.approx(mean, abs=5e-3)
    f = torch.linspace(-0.2, 3, 3201, requires_grad=True)
    m = term.expected_transform(f)
    m.sum().backward()
    assert (m.diff() > 0).all() and torch.isfinite(f.grad).all() and (f.grad > 0).all()


def test_squared_error_is_the_data_term_bit_for_bit():
    generator = torch.Generator().manual_seed(0)
    operator = torch.nn.Conv2d(3, 3, 3, padding=1, bias=False)  # any A; in half precision too
    for dtype in (torch.float32, torch.float16):
        output = torch.rand(2, 3, 9, 11, generator=generator)
        observed = torch.rand(2, 3, 9, 11, generator=generator)
        with torch.no_grad():
            pointwise = SquaredError().pointwise(operator.to(dtype)(output.to(dtype)), observed)
            assert torch.equal(pointwise.flatten(1).mean(1), data_term(output.to(dtype), observed, operator))
            assert torch.equal(pointwise, (operator(output.to(dtype)).float() - observed).square())


def test_every_term_is_finite_where_the_prediction_is_0_or_below():
    prediction = torch.tensor([-0.1, 0.0, 1e-5, 0.5], requires_grad=True)
    observed = torch.tensor([0.0, 0.2, -0.05, 1.3])
    for term in (
        SquaredError(),
        AbsoluteError(),
        PoissonLikelihood(),
        GammaLikelihood(),
        AnscombeSquaredError(0.02, 5),
    ):
        prediction.grad = None
        value = term.pointwise(prediction, observed)
        value.sum().backward()
        assert torch.isfinite(value).all() and torch.isfinite(prediction.grad).all(), term.name


# data term, its noise; the noise's parameters from a camera at its worst (0.5 and 1 photon at x = 0.05)
MATCHED = {
    "squared_error": (SquaredError(), GaussianNoise(25)),
    "absolute_error": (AbsoluteError(), ImpulseNoise(0.3)),
    "poisson_likelihood": (PoissonLikelihood(), PoissonNoise(10)),
    "anscombe_squared_error": (AnscombeSquaredError(0.05, 10), PoissonGaussianNoise(0.05, 10)),
    "gamma_likelihood": (GammaLikelihood(), SpeckleNoise(2)),
}


@pytest.mark.parametrize("name", MATCHED)
@pytest.mark.parametrize("clean", [0.05, 0.3, 0.7])
def test_each_term_is_lowest_at_the_clean_value(name, clean):
    """The mean over 200000 draws y of the noise around x (one set of draws for every f), on the grid
    f = x - 0.05, ..., x + 0.05 in steps of 0.01, is lowest at f = x. (Gaussian noise is clipped, as the
    model is: at x = 0.05 its observations are of mean 0.069, and the squared error's minimum moves there.)"""
    term, noise = MATCHED[name]
    observed = noise(torch.full((200_000,), clean), torch.Generator().manual_seed(0))
    grid = [clean + 0.01 * step for step in range(-5, 6)]
    means = [term.pointwise(torch.full_like(observed, f), observed).double().mean().item() for f in grid]
    lowest = min(range(len(grid)), key=means.__getitem__)
    expected = 5 if not (name == "squared_error" and clean == 0.05) else 7  # E[clip(y)] = 0.069: f = 0.07
    assert lowest == expected, [round(mean, 6) for mean in means]


def test_the_transform_of_both_would_not_be_proper():
    """GAT(f) in place of m(f): at one photon (x = 0.05, gain 0.05, sigma 10) the minimum is near
    x - gain / 4 = 0.0375 (0.038 computed exactly), so on the grid of 0.01 at f = 0.04: why m is used."""
    term, noise = MATCHED["anscombe_squared_error"]
    observed = term.transform(noise(torch.full((200_000,), 0.05), torch.Generator().manual_seed(0)))
    grid = [0.05 + 0.01 * step for step in range(-5, 6)]
    means = [(term.transform(torch.tensor(f)) - observed).square().mean().item() for f in grid]
    assert min(range(len(grid)), key=means.__getitem__) == 4


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: AnscombeSquaredError(-0.1, -5),
            "gain must be a finite number > 0, got -0.1; sigma must be a finite number >= 0, got -5",
        ),
    ],
)
def test_bad_data_term_parameters_are_named(make, message):
    with pytest.raises(InputError) as error:
        make()
    assert str(error.value) == message


def test_names():
    assert [term.name for term, _ in MATCHED.values()] == list(MATCHED)
