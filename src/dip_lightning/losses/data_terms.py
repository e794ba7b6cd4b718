"""Data terms matched to a noise model: the per-value error of a prediction f = A(x) against the
observation y, `pointwise(prediction, observed)` (same shape; f float32), that the fit averages over the
pixels it uses and the held-out statistic over the pixels it does not.

Each is a proper scoring rule for its noise: where y is drawn from the matched noise around the clean
value x, the expectation E[pointwise(f, y)] as a function of f is lowest at f = x (the expectation is
written in each class). So a restoration's mean pointwise value on held-out pixels is, up to a term free
of it, the expected error of its prediction, and its minimum over a fit's steps is where the prediction
is nearest the clean image (stopping/held_out.py's argument, for the squared error and Gaussian noise).

    noise (physics/noise.py)        data term
    GaussianNoise                   SquaredError
    ImpulseNoise                    AbsoluteError
    PoissonNoise                    PoissonLikelihood (SquaredError is proper too: the noise is of mean x)
    PoissonGaussianNoise            AnscombeSquaredError
    SpeckleNoise                    GammaLikelihood

The squared error, the Poisson and the Gamma terms are proper for every noise of mean x (they are Bregman
divergences to the mean); the absolute error for every noise whose median is x."""

from typing import Protocol, runtime_checkable

import torch

from dip_lightning.limits import check_limits, number


@runtime_checkable
class DataTerm(Protocol):
    """What a loss needs of a data term (loss.py: `Loss(data_term=...)`; conf/loss/<name>.yaml)."""

    name: str  # logged as loss_<name> where it is not the squared error

    def pointwise(self, prediction: torch.Tensor, observed: torch.Tensor) -> torch.Tensor: ...


class SquaredError:
    """(f - y)^2, the data term of loss.py bit for bit. E[(f - y)^2] = (f - x)^2 + Var[y | x] where
    E[y | x] = x: lowest at f = x."""

    name = "squared_error"
    limits = {}

    def pointwise(self, prediction: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        return (prediction.float() - observed).square()


class AbsoluteError:
    """|f - y|, matched to impulse noise (ImpulseNoise(p): y = x with probability 1 - p, else 0 or 1 with
    equal chance): for f in [0, 1], E|f - y| = (1 - p) |f - x| + p/2 (f + (1 - f)) = (1 - p) |f - x| + p/2,
    lowest at f = x for p < 1. Its gradient is sign(f - y) (0 at f = y): every value pulls equally, so the
    replaced ones do not dominate the fit as they do the squared error's."""

    name = "absolute_error"
    limits = {}

    def pointwise(self, prediction: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        return (prediction.float() - observed).abs()


class PoissonLikelihood:
    """The negative log-likelihood of photon counts, y * peak ~ Poisson(peak * f), without the terms free
    of f, divided by the peak (photons at white): f - y log f, free of the peak. Divided, its scale does
    not grow with the photon count: near f = x it is (f - x)^2 / (2 x) plus a constant, about the squared
    error's at mid-grey, so a learning rate tuned on the squared error carries over; the likelihood itself
    is peak times this plus terms free of f. E[f - y log f] = f - x log f, whose derivative 1 - x / f is 0
    at f = x (for any noise of mean x, not only Poisson).

    f is clamped below at `eps` = 1e-3 (a quarter of an 8-bit grey level): log 0 is -inf, and a network's
    output can be 0; above it the gradient 1 - y / f is at most y / eps in size. Below eps the term is flat
    (no gradient), and a clean value under eps is restored as eps, an error far below 8-bit quantisation."""

    name = "poisson_likelihood"
    eps = 1e-3

    def pointwise(self, prediction: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        f = prediction.float().clamp_min(self.eps)
        return f - observed * f.log()


class GammaLikelihood:
    """Speckle's negative log-likelihood (SpeckleNoise(looks): y = x n, n ~ Gamma(looks, 1/looks), so
    y ~ Gamma(looks, f / looks) given f) without the terms free of f, divided by the number of looks:
    log f + y / f, free of it.
    Divided, as PoissonLikelihood, its scale does not depend on the number of looks: near f = x it is
    (f - x)^2 / (2 x^2) plus a constant; the likelihood itself is looks times this plus terms free of f.
    E[log f + y / f] = log f + x / f, whose derivative 1/f - x/f^2 is 0 at f = x (for any noise of mean x).

    f is clamped below at `eps` = 1e-3, as PoissonLikelihood's: log 0 and y / 0 are infinite; the gradient
    1/f - y/f^2 is then at most y / eps^2 in size."""

    name = "gamma_likelihood"
    eps = 1e-3

    def pointwise(self, prediction: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        f = prediction.float().clamp_min(self.eps)
        return f.log() + observed / f


class AnscombeSquaredError:
    """The squared error after the generalised Anscombe transform, which makes Poisson-Gaussian noise
    (PoissonGaussianNoise(gain, sigma)) about Gaussian of variance 1 (Murtagh, Starck & Bijaoui 1995,
    "Image restoration with noise suppression using a multiresolution support"; Makitalo & Foi 2013,
    "Optimal inversion of the generalized Anscombe transformation for Poisson-Gaussian noise"):

        GAT(v) = (2 / gain) sqrt(max(gain v + 3/8 gain^2 + s^2, 0)),  s = sigma / 255;

    pointwise(f, y) = (m(f) - GAT(y))^2, with m(f) = E[GAT(y) | x = f], the transform's exact expectation
    under the noise. Then E[(m(f) - GAT(y))^2] = (m(f) - m(x))^2 + Var[GAT(y) | x], lowest at m(f) = m(x),
    that is at f = x (m increases). The transform applied to both, GAT(f) in place of m(f), would not be
    proper: E[GAT(y)] is below GAT(x), by about a quarter of a photon (to second order E[GAT(y) | x] =
    (2 / gain) sqrt(gain x + 1/8 gain^2 + s^2)), so its minimum is near x - gain / 4, 25 % low at one
    photon; m is the map whose inverse is Makitalo & Foi's exact unbiased inverse.

    m is tabulated at construction, for photon counts f / gain from 0 to 30 in steps of 0.02 (the sum over
    the Poisson counts of E[GAT(gain k + s z)] over the read-out noise z), and interpolated linearly; from
    30 photons on, the second-order form above is within 3e-5 of it (in the transform's units, where the
    noise's standard deviation is 1). Below 0 (a prediction under black), m is extended linearly, so its
    gradient is finite everywhere: the prediction never meets the square root's infinite slope at 0
    (GAT(y) does, clamped at 0, but y takes no gradient). The term's scale is the transform's, about 1 per
    value at the noise's level, not the squared error's sigma^2."""

    name = "anscombe_squared_error"
    limits = {"gain": number(above=0), "sigma": number(0)}
    counts_tabulated, count_step = 30.0, 0.02

    def __init__(self, gain: float, sigma: float):
        check_limits(self, gain=gain, sigma=sigma)
        self.gain, self.sigma = gain, sigma
        self.table = self._expected_transform_table()  # float64, m at counts 0, count_step, ..., 30
        self._on_device: dict[torch.device, torch.Tensor] = {}

    def transform(self, values: torch.Tensor) -> torch.Tensor:
        """GAT(values), the generalised Anscombe transform (no gradient intended: it has none at 0)."""
        s = self.sigma / 255.0
        inside = self.gain * values + 3 / 8 * self.gain**2 + s * s
        return (2 / self.gain) * inside.clamp_min(0).sqrt()

    def expected_transform(self, prediction: torch.Tensor) -> torch.Tensor:
        """m(f) = E[GAT(y) | x = f], differentiable in f (float32)."""
        f = prediction.float()
        table = self._table_on(f.device)
        position = f / (self.gain * self.count_step)
        index = position.detach().floor().clamp(0, len(table) - 2)
        low = table[index.long()]
        tabulated = low + (position - index) * (table[index.long() + 1] - low)  # linear below 0 too
        s = self.sigma / 255.0
        above = f.clamp_min(self.counts_tabulated * self.gain)  # the unused branch stays finite
        asymptotic = (2 / self.gain) * (self.gain * above + self.gain**2 / 8 + s * s).sqrt()
        return torch.where(f < self.counts_tabulated * self.gain, tabulated, asymptotic)

    def pointwise(self, prediction: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        return (self.expected_transform(prediction) - self.transform(observed.float())).square()

    def _table_on(self, device: torch.device) -> torch.Tensor:
        if device not in self._on_device:
            self._on_device[device] = self.table.to(device=device, dtype=torch.float32)
        return self._on_device[device]

    def _expected_transform_table(self) -> torch.Tensor:
        """E[GAT(gain k + s z)] with k ~ Poisson(lambda), z ~ N(0, 1), at lambda = 0, step, ..., 30:
        first E_z for each count k (the normal density on 321 points of [-8, 8]: GAT's kink at 0 needs no
        smoothness), then the sum over k <= 140 weighted by the Poisson probabilities (the mass above 140
        at lambda = 30 is below 1e-40)."""
        z = torch.linspace(-8, 8, 321, dtype=torch.float64)
        density = torch.exp(-z * z / 2)
        density /= density.sum()
        counts = torch.arange(141, dtype=torch.float64)
        per_count = (self.transform(self.gain * counts[:, None] + self.sigma / 255.0 * z) * density).sum(1)
        steps = round(self.counts_tabulated / self.count_step)
        rates = torch.arange(steps + 1, dtype=torch.float64) * self.count_step
        log_probability = counts * rates[:, None].clamp_min(1e-300).log() - rates[:, None] - torch.lgamma(counts + 1)
        probability = log_probability.exp()
        probability[0] = (counts == 0).double()  # rate 0: no photon
        return probability @ per_count
