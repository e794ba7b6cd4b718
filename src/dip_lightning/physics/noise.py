"""Noise models: how an observation departs from A(x) in a synthetic experiment.

Gaussian, Poisson, Poisson-Gaussian and speckle noise are of mean A(x) (Gaussian ignoring its clipping at
0 and 1): the expected error of a restoration against the observation at pixels the fit did not use is
then its error against A(x) plus a term that does not depend on it (stopping/held_out.py), for the
squared error and for the data terms of losses/data_terms.py matched to the noise. Impulse noise, JPEG
and the paper's fig. 2 corruptions are not; for impulse noise the matched data term (the absolute error)
still has its minimum at the clean value.

The camera-like models (Poisson, Poisson-Gaussian, speckle) are not clipped: their likelihoods need the
counts, and a clipped observation is no longer of mean A(x) near 0 and 1.

Each says in `correlation_block` the size of the blocks within which its errors are correlated (1: they
are independent from pixel to pixel; JPEG: 8): held-out validation holds out whole blocks of that size."""

import io
import math

import torch
from PIL import Image

from dip_lightning.data.images import pil_to_tensor, to_pil
from dip_lightning.errors import InputError
from dip_lightning.limits import check_limits, integer, number, one_of
from dip_lightning.physics.noise_estimation import estimate_poisson_gaussian, estimate_poisson_peak

ESTIMATED = "auto"  # a parameter to estimate from a photo of yours (observed=): build.estimate_noise sets it first


def _refuse_unestimated(model: object, **values) -> None:
    """A parameter still `auto` when the model is built: there was no photo to estimate it from."""
    for name, value in values.items():
        if value == ESTIMATED:
            raise InputError(
                f"noise.{name}=auto estimates {type(model).__name__}'s {name} from a photo of yours (observed=PATH): "
                "a synthetic run needs a number"
            )


class GaussianNoise:
    """clip(y + N(0, (sigma / 255)^2), 0, 1): clipped but not quantised, as the reference."""

    limits = {"sigma": number(0)}  # 0-255 units
    correlation_block = 1

    def __init__(self, sigma: float):
        check_limits(self, sigma=sigma)
        self.sigma = sigma

    def __call__(self, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(y.shape, generator=generator) * (self.sigma / 255.0)
        return (y + noise).clamp(0, 1)


class JpegCompression:
    """The image saved as a JPEG of `quality` (1-100) and read back: blocks, ringing, lost colour."""

    limits = {"quality": integer(1, 100)}
    correlation_block = 8  # its errors are correlated within its 8 x 8 blocks

    def __init__(self, quality: int):
        check_limits(self, "JPEG ", quality=quality)
        self.quality = quality

    def __call__(self, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return torch.stack([self._compress(image) for image in y])

    def _compress(self, image: torch.Tensor) -> torch.Tensor:
        buffer = io.BytesIO()
        to_pil(image).save(buffer, format="JPEG", quality=self.quality)
        with Image.open(buffer) as compressed:
            return pil_to_tensor(compressed)


class ShuffledPixels:
    """The image's pixels (all channels together) in a random order: its statistics without its
    structure (the paper's fig. 2, "pixel shuffle")."""

    correlation_block = 1

    def __call__(self, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        order = torch.randperm(y.shape[-2] * y.shape[-1], generator=generator)
        return y.flatten(-2)[..., order].reshape(y.shape)


class UniformNoise:
    """U(0, 1) noise in place of the image (the paper's fig. 2, "U(0, 1) noise")."""

    correlation_block = 1

    def __call__(self, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return torch.rand(y.shape, generator=generator)


class PoissonNoise:
    """Photon (shot) noise: y = Poisson(peak * x) / peak, `peak` the expected photon count at white (> 0).
    Mean x, variance x / peak; not clipped (the likelihood needs the counts: y * peak is an integer)."""

    limits = {"peak": number(above=0) | one_of(ESTIMATED)}
    correlation_block = 1

    def __init__(self, peak: float):
        check_limits(self, peak=peak)
        _refuse_unestimated(self, peak=peak)
        self.peak = peak

    @staticmethod
    def estimate(observed: torch.Tensor) -> dict[str, float]:
        """`peak` estimated from a photo with this noise (noise_estimation.py)."""
        peak = estimate_poisson_peak(observed)
        if not math.isfinite(peak):
            raise InputError("noise.peak=auto: the photo shows no noise that grows with the signal; give noise.peak=N")
        return {"peak": peak}

    def __call__(self, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        counts = torch.poisson(y.clamp_min(0) * self.peak, generator=generator)
        return counts / self.peak


class PoissonGaussianNoise:
    """A raw sensor's noise, the model of Foi, Trimeche, Katkovnik & Egiazarian (2008, "Practical
    Poissonian-Gaussian noise modeling and fitting for single-image raw-data"): y = gain * Poisson(x / gain)
    + N(0, (sigma / 255)^2): photon noise of `gain` (> 0, in [0, 1] image units per photon: 1 / the count at
    white) and signal-independent read-out noise of `sigma` (0-255 units, as GaussianNoise's). Mean x,
    variance gain * x + (sigma / 255)^2; not clipped."""

    limits = {"gain": number(above=0) | one_of(ESTIMATED), "sigma": number(0) | one_of(ESTIMATED)}
    correlation_block = 1

    def __init__(self, gain: float, sigma: float):
        check_limits(self, gain=gain, sigma=sigma)
        _refuse_unestimated(self, gain=gain, sigma=sigma)
        self.gain, self.sigma = gain, sigma

    @staticmethod
    def estimate(observed: torch.Tensor) -> dict[str, float]:
        """`gain` and `sigma` estimated from a photo with this noise (noise_estimation.py)."""
        gain, sigma = estimate_poisson_gaussian(observed)
        if gain <= 0:
            raise InputError("noise.gain=auto: the photo shows no noise that grows with the signal; give noise.gain=G")
        return {"gain": gain, "sigma": sigma}

    def __call__(self, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        photons = torch.poisson(y.clamp_min(0) / self.gain, generator=generator)
        readout = torch.randn(y.shape, generator=generator, dtype=y.dtype) * (self.sigma / 255.0)
        return photons * self.gain + readout


class SpeckleNoise:
    """Multiplicative speckle of a coherent imager (SAR, ultrasound, laser) averaged over `looks`
    independent looks (> 0, real-valued allowed): y = x * n, n ~ Gamma(shape=looks, scale=1/looks).
    Mean x, variance x^2 / looks; not clipped. The Gamma variates are drawn from the run's generator
    (standard_gamma: torch's own sampler takes no generator)."""

    limits = {"looks": number(above=0)}
    correlation_block = 1

    def __init__(self, looks: float):
        check_limits(self, looks=looks)
        self.looks = looks

    def __call__(self, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        speckle = standard_gamma(self.looks, y.shape, generator) / self.looks
        return y * speckle.to(y.dtype)


class ImpulseNoise:
    """Salt and pepper: each value (each channel of each pixel on its own, the classical definition, as
    scikit-image's random_noise(mode="s&p")) replaced with probability `fraction` by 0 or by 1, with
    equal chance; the others kept. Not of mean x (E[y | x] = (1 - fraction) * x + fraction / 2): its
    matched data term is the absolute error, whose expectation (1 - fraction) |f - x| + fraction / 2 is
    lowest at f = x."""

    limits = {"fraction": number(0, below=1)}
    correlation_block = 1

    def __init__(self, fraction: float):
        check_limits(self, fraction=fraction)
        self.fraction = fraction

    def __call__(self, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        draw = torch.rand(y.shape, generator=generator)  # one uniform per value: < fraction / 2 pepper, ...
        pepper, salt = draw < self.fraction / 2, draw < self.fraction  # ... in [fraction / 2, fraction) salt
        return torch.where(pepper, 0.0, torch.where(salt, 1.0, y)).to(y.dtype)


def standard_gamma(shape: float, size: torch.Size | tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Gamma(shape, scale=1) variates (float64) from `generator` alone, by Marsaglia & Tsang (2000, "A
    simple method for generating gamma variables", ACM TOMS 26(3)): for shape a >= 1, with d = a - 1/3 and
    c = 1 / sqrt(9 d), draw z ~ N(0, 1), u ~ U(0, 1), v = (1 + c z)^3 and accept d * v where v > 0 and
    log u < z^2 / 2 + d - d v + d log v (over 95 % are accepted); the rejected are drawn again, in rounds,
    so the draw depends on the generator's state alone. For a < 1, their boost: Gamma(a) =
    Gamma(a + 1) * U^(1 / a)."""
    count = math.prod(size)
    boosted = shape < 1
    d = (shape + 1 if boosted else shape) - 1 / 3
    c = 1 / math.sqrt(9 * d)
    values = torch.empty(count, dtype=torch.float64)
    pending = torch.arange(count)
    while pending.numel():
        z = torch.randn(pending.numel(), generator=generator, dtype=torch.float64)
        u = torch.rand(pending.numel(), generator=generator, dtype=torch.float64)
        v = (1 + c * z) ** 3
        accepted = (v > 0) & (u.log() < z * z / 2 + d - d * v + d * v.clamp_min(1e-300).log())
        values[pending[accepted]] = d * v[accepted]
        pending = pending[~accepted]
    if boosted:
        values *= torch.rand(count, generator=generator, dtype=torch.float64) ** (1 / shape)
    return values.view(tuple(size))
