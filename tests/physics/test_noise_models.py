"""The camera-like noise models (physics/noise.py): the mean and variance of their draws against their
formulas, on a constant and on a ramp; drawn from the seed alone; their limits; impulse noise's fraction.

Tolerances come from the sample size: a sample mean is checked to within 5 of its standard errors,
sqrt(variance / n), and a sample variance to within 5 of its own, sqrt((m4 - m2^2) / n) with m2 and m4
the sample's central moments (the distribution-free standard error of a variance). Every draw is seeded,
so a test gives one answer; 5 standard errors would be missed by chance once in about 2 million draws."""

import math

import pytest
import torch

from dip_lightning.errors import InputError
from dip_lightning.physics.noise import (
    GaussianNoise,
    ImpulseNoise,
    PoissonGaussianNoise,
    PoissonNoise,
    SpeckleNoise,
    standard_gamma,
)

S = 10 / 255  # GaussianNoise(10)'s and PoissonGaussianNoise(., 10)'s sigma in [0, 1] units

# model, E[y | x], Var[y | x]
MODELS = {
    "gaussian": (lambda: GaussianNoise(10), lambda x: x, lambda x: S**2 + 0 * x),
    "poisson": (lambda: PoissonNoise(30), lambda x: x, lambda x: x / 30),
    "poisson_real_peak": (lambda: PoissonNoise(7.5), lambda x: x, lambda x: x / 7.5),
    "poisson_gaussian": (lambda: PoissonGaussianNoise(0.02, 10), lambda x: x, lambda x: 0.02 * x + S**2),
    "speckle": (lambda: SpeckleNoise(4), lambda x: x, lambda x: x**2 / 4),
    "speckle_fractional_looks": (lambda: SpeckleNoise(0.6), lambda x: x, lambda x: x**2 / 0.6),
    # E y = (1 - p) x + p / 2; E y^2 = (1 - p) x^2 + p / 2 (half the replaced values are 1)
    "impulse": (
        lambda: ImpulseNoise(0.2),
        lambda x: 0.8 * x + 0.1,
        lambda x: 0.8 * x**2 + 0.1 - (0.8 * x + 0.1) ** 2,
    ),
}


def moments_agree(samples: torch.Tensor, mean: float, variance: float) -> tuple[bool, bool]:
    """Whether the sample's mean and variance are within 5 standard errors of `mean` and `variance`."""
    samples = samples.double().flatten()
    n = samples.numel()
    centred = samples - samples.mean()
    m2, m4 = centred.square().mean().item(), centred.pow(4).mean().item()
    mean_ok = abs(samples.mean().item() - mean) <= 5 * math.sqrt(variance / n)
    variance_ok = abs(m2 - variance) <= 5 * math.sqrt(max(m4 - m2**2, 0) / n)
    return mean_ok, variance_ok


@pytest.mark.parametrize("name", MODELS)
def test_mean_and_variance_on_a_constant(name):
    make, mean, variance = MODELS[name]
    clean = torch.full((4, 3, 64, 64), 0.4)  # 49152 values of x = 0.4
    noisy = make()(clean, torch.Generator().manual_seed(0))
    assert noisy.shape == clean.shape and noisy.dtype == clean.dtype
    assert moments_agree(noisy, mean(0.4), variance(0.4)) == (True, True)


@pytest.mark.parametrize("name", MODELS)
def test_mean_and_variance_along_a_ramp(name):
    """Each of 7 columns, x from 0.2 to 0.8 (away from GaussianNoise's clipping: 5 sigmas), 3072 draws each."""
    make, mean, variance = MODELS[name]
    levels = torch.linspace(0.2, 0.8, 7)
    clean = levels.expand(4, 3, 256, 7).contiguous()
    noisy = make()(clean, torch.Generator().manual_seed(1))
    for column, x in enumerate(levels.tolist()):
        assert moments_agree(noisy[..., column], mean(x), variance(x)) == (True, True), f"x = {x:.1f}"


@pytest.mark.parametrize("name", MODELS)
def test_a_draw_is_the_seeds(name):
    noise = MODELS[name][0]()
    clean = torch.rand(2, 3, 16, 24, generator=torch.Generator().manual_seed(0))
    first, again = (noise(clean, torch.Generator().manual_seed(7)) for _ in range(2))
    other = noise(clean, torch.Generator().manual_seed(8))
    assert torch.equal(first, again) and not torch.equal(first, other) and not torch.equal(first, clean)


def test_the_camera_models_are_not_clipped():
    """Their likelihoods need the counts: a bright pixel's draw goes above 1, a dark one's Gaussian part below 0."""
    generator = torch.Generator().manual_seed(0)
    bright, dark = torch.full((1, 1, 64, 64), 0.95), torch.full((1, 1, 64, 64), 0.01)
    assert PoissonNoise(30)(bright, generator).max() > 1
    assert SpeckleNoise(4)(bright, generator).max() > 1
    assert PoissonGaussianNoise(0.02, 10)(bright, generator).max() > 1
    assert PoissonGaussianNoise(0.02, 10)(dark, generator).min() < 0
    counts = PoissonNoise(30)(bright, generator) * 30  # whole photons
    assert torch.allclose(counts, counts.round(), atol=1e-4)


def test_impulse_noise_replaces_its_fraction_of_values_by_0_and_1_equally():
    """Each value on its own (not each pixel's channels together): a binomial count, 5 standard errors."""
    clean = torch.full((4, 3, 128, 128), 0.4)  # n = 196608 values, none of them 0 or 1
    noisy = ImpulseNoise(0.3)(clean, torch.Generator().manual_seed(0))
    n = clean.numel()
    changed, salt = (noisy != clean), (noisy == 1)
    assert torch.equal(changed, salt | (noisy == 0))  # a changed value is 0 or 1, an unchanged one is x
    assert abs(changed.double().mean().item() - 0.3) <= 5 * math.sqrt(0.3 * 0.7 / n)
    assert abs(salt.double().mean().item() - 0.15) <= 5 * math.sqrt(0.15 * 0.85 / n)
    # the channels of a pixel are replaced independently: all three together only about 0.3^3 of the time
    together = changed.all(1).double().mean().item()
    assert abs(together - 0.3**3) <= 5 * math.sqrt(0.3**3 * (1 - 0.3**3) / (n / 3))
    assert torch.equal(ImpulseNoise(0)(clean, torch.Generator().manual_seed(0)), clean)


@pytest.mark.parametrize("shape", [0.3, 1.0, 4.3])
def test_gamma_variates_from_the_generator(shape):
    """Gamma(a, 1): mean a, variance a (below 1 the boost U^(1/a) of Marsaglia & Tsang 2000)."""
    draw = standard_gamma(shape, (200_000,), torch.Generator().manual_seed(0))
    assert draw.dtype == torch.float64 and (draw >= 0).all()
    assert moments_agree(draw, shape, shape) == (True, True)
    assert torch.equal(draw[:10], standard_gamma(shape, (200_000,), torch.Generator().manual_seed(0))[:10])
    assert standard_gamma(shape, (2, 3), torch.Generator().manual_seed(0)).shape == (2, 3)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: PoissonNoise(0), "peak must be a finite number > 0, got 0"),
        (lambda: PoissonNoise(float("inf")), "peak must be a finite number > 0, got inf"),
        (
            lambda: PoissonGaussianNoise(0, -1),
            "gain must be a finite number > 0, got 0; sigma must be a finite number >= 0, got -1",
        ),
        (lambda: PoissonGaussianNoise(0.01, float("nan")), "sigma must be a finite number >= 0, got nan"),
        (lambda: SpeckleNoise(-2), "looks must be a finite number > 0, got -2"),
        (lambda: SpeckleNoise("4"), "looks must be a finite number > 0, got '4'"),
        (lambda: ImpulseNoise(1), "fraction must be a finite number in [0, 1), got 1"),
        (lambda: ImpulseNoise(-0.1), "fraction must be a finite number in [0, 1), got -0.1"),
    ],
)
def test_bad_noise_parameters_are_named(make, message):
    """In the words of the schema, from the limits the class declares (dip_lightning/limits.py)."""
    with pytest.raises(InputError) as error:
        make()
    # a parameter that may be estimated from a photo (noise.peak=auto) allows "auto" too: said the same
    assert str(error.value).replace(" or auto", "") == message
