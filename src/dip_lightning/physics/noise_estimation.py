"""The noise of one photo, estimated from the photo alone: Gaussian noise's sigma, Poisson noise's peak,
and Poisson-Gaussian noise's gain and sigma (the parameters of noise.py's GaussianNoise, PoissonNoise and
PoissonGaussianNoise, in the same units).

The method is Foi, Trimeche, Katkovnik & Egiazarian's (2008, "Practical Poissonian-Gaussian noise
modeling and fitting for single-image raw-data", IEEE TIP 17(10)), simplified:

1. Local estimates. At every position (every channel on its own), a local noise variance from the
   high-pass part of the 3 x 3 neighbourhood, and a local level from the neighbourhood's mean. Foi et al.
   take the finest wavelet detail band and approximation; here the detail is the 3 of the 3 x 3 DCT's 9
   components that vanish on every quadratic (the second difference in x times that in y, Immerkaer's
   1996 "Fast noise variance estimation" mask, and the first difference in one direction times the second
   in the other), each of unit norm, so that the mean of their squares is the noise variance wherever the
   image is locally quadratic: ramps, curvature, and edges along the rows or the columns, which all
   cancel, give no false noise. Three components in place of one make the estimate about 1.5 times as
   precise; only components of the highest frequencies are used, where photos hold little texture.
2. Level sets. The positions are grouped by their level into up to 64 sets of equal size (Foi et al.
   segment the smooth part of the image into level sets too). The level that groups them is the mean of
   an 11 x 11 ring around the 3 x 3 neighbourhood, pixels the local estimates do not use: selected by
   pixels independent of theirs, a set's mean level and mean variance are unbiased estimates of its true
   mean and of the variance there, with no regression to the mean, so sets may be narrow. Each set gives
   a mean level y_i and a mean local variance v_i. Foi et al. in addition detect and leave out edges; here
   the quadratic-free detail does much of that, and the fit is by all positions (simplified).
3. The fit. The variance function var(y) = gain * y + s^2 (Poisson-Gaussian; gain 0 for Gaussian noise,
   s 0 for Poisson noise) is fitted to the (y_i, v_i) by least squares weighted by n_i / var(y_i)^2, the
   inverse variance of v_i for near-Gaussian local estimates, iterated (Foi et al. maximise the likelihood
   of the same pairs). Clipping (Foi et al. model it): where the photo is clipped at 0 or 1 (values of
   exactly 0 and no negative ones; values of exactly 1 and none above), the level sets within 2.5 noise
   standard deviations of the clipped bound are left out, where clipping lowers the variance (clipping
   at 0 is not looked for in Poisson noise: its counts are never below 0, and its exact zeros are no sign
   of clipping).

Accuracy, measured on synthetic colour photos with gradients, flat regions, edges and textured parts
(tests/physics/test_noise_estimation.py), over 20 draws of each case at 128 x 128 and 256 x 256: Gaussian
sigma 10, 25 and 50 (clipped or not) and the Poisson peak 10, 30 and 100 within 6 %; Poisson-Gaussian
noise's gain within 4 %, and its sigma, which rests on the photo's darkest parts, with a standard
deviation of 8 % at 128 x 128 (the worst of 80 draws 20 % off) and 5 % at 256 x 256 (the worst 12 %).
Where a Poisson-Gaussian photo is clipped at 0, its sigma is not to be trusted: the dark parts that show
it are the clipped ones. Fine texture at the noise's frequencies is taken for noise (as by every such
method), and so are corners and curved edges, a little: a clean photo shows a sigma of about 2 (0-255).
About 0.15 s for a 256 x 256 colour photo on one CPU core."""

import math

import torch
import torch.nn.functional as F

from dip_lightning.errors import InputError

_FIRST = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
_SECOND = torch.tensor([1.0, -2.0, 1.0], dtype=torch.float64)
# rows x columns: the 3 x 3 DCT components that vanish on every quadratic, each of unit norm
_DETAIL = torch.stack(
    [torch.outer(rows, columns) for rows, columns in [(_SECOND, _SECOND), (_FIRST, _SECOND), (_SECOND, _FIRST)]]
)
_DETAIL = (_DETAIL / _DETAIL.flatten(1).norm(dim=1)[:, None, None])[:, None]
_RING = 11  # the side of the ring whose mean groups the positions into level sets
_MAX_SETS, _MIN_PER_SET = 64, 200
_CLIPPED_MARGIN = 2.5  # noise standard deviations from a clipped bound


def estimate_gaussian_sigma(image: torch.Tensor) -> float:
    """The standard deviation of additive white Gaussian noise in `image` ((C, h, w) or (1, C, h, w), in
    [0, 1], clipped or not), in 0-255 units as GaussianNoise's `sigma`. (The fit of the module's
    docstring with gain 0: the pooled mean of the local variances over the level sets, with Immerkaer's
    1996 mask among its components.)"""
    _, offset = _fit_variance_function(image, gain=False, offset=True)
    return 255.0 * math.sqrt(offset)


def estimate_poisson_peak(image: torch.Tensor) -> float:
    """The photon count at white of Poisson noise in `image` (PoissonNoise's `peak`): 1 / gain of the fit
    with no Gaussian part (sigma fixed at 0); inf where the fit finds no signal-dependent noise."""
    gain, _ = _fit_variance_function(image, gain=True, offset=False)
    return 1.0 / gain if gain > 0 else math.inf


def estimate_poisson_gaussian(image: torch.Tensor) -> tuple[float, float]:
    """(gain, sigma) of Poisson-Gaussian noise in `image` (PoissonGaussianNoise's: gain in [0, 1] image
    units per photon, sigma in 0-255 units): var(y) = gain * y + (sigma / 255)^2, fitted as the module's
    docstring says. A part the photo shows no evidence of comes back as 0 (the fit is constrained to
    gain >= 0 and sigma >= 0)."""
    gain, offset = _fit_variance_function(image, gain=True, offset=True)
    return gain, 255.0 * math.sqrt(offset)


def _fit_variance_function(image: torch.Tensor, gain: bool, offset: bool) -> tuple[float, float]:
    """(a, b) of var(y) = a y + b, a (b) held at 0 where `gain` (`offset`) is False."""
    channels = _as_channels(image)
    variance, level, grouping = _local_statistics(channels)
    levels, variances, counts = _level_sets(variance, level, grouping)
    a, b = _weighted_fit(levels, variances, counts, gain, offset)
    low, high = _clipped(channels)
    low &= offset  # Poisson counts are never below 0: clipping them at 0 changes nothing
    if low or high:
        for _ in range(3):
            deviation = (a * levels + b).clamp_min(1e-20).sqrt()
            distance = torch.full_like(levels, math.inf)  # from a clipped bound, in noise standard deviations
            if low:
                distance = torch.minimum(distance, levels / deviation)
            if high:
                distance = torch.minimum(distance, (1 - levels) / deviation)
            kept = distance >= _CLIPPED_MARGIN
            if kept.sum() < 3:  # too noisy to keep clear of the bounds: the 3 sets farthest from them
                kept = distance >= distance.topk(min(3, len(distance))).values[-1]
            a, b = _weighted_fit(levels[kept], variances[kept], counts[kept], gain, offset)
    return a, b


def _as_channels(image: torch.Tensor) -> torch.Tensor:
    """(C, h, w) float64 from (C, h, w) or (1, C, h, w)."""
    if image.dim() == 4 and image.shape[0] == 1:
        image = image[0]
    if image.dim() != 3:
        raise InputError(f"noise estimation takes one image, (C, h, w) or (1, C, h, w); got {tuple(image.shape)}")
    height, width = image.shape[-2:]
    if min(height, width) < 2 * _RING:
        raise InputError(
            f"noise estimation needs an image of at least {2 * _RING} x {2 * _RING}; got {width} x {height}"
        )
    image = image.detach().to(device="cpu", dtype=torch.float64)
    if not torch.isfinite(image).all():
        raise InputError("noise estimation needs finite pixel values")
    return image


def _box_sum(channels: torch.Tensor, size: int) -> torch.Tensor:
    """The sum over each size x size window (valid positions): (C, h, w) -> (C, h - size + 1, ...)."""
    return F.conv2d(channels[:, None], torch.ones(1, 1, size, size, dtype=channels.dtype))[:, 0]


def _local_statistics(channels: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """At each position whose 11 x 11 window fits in the image, flattened over channels: the local noise
    variance (the mean square of the quadratic-free 3 x 3 components), the 3 x 3 mean, and the mean of
    the ring, the 11 x 11 window less that 3 x 3 neighbourhood."""
    variance = F.conv2d(channels[:, None], _DETAIL).square().mean(1)
    sum3 = _box_sum(channels, 3)
    ring = _box_sum(channels, _RING)
    border = (_RING - 3) // 2
    height, width = ring.shape[-2:]
    sum3, variance = (part[:, border : border + height, border : border + width] for part in (sum3, variance))
    grouping = (ring - sum3) / (_RING**2 - 9)
    return variance.flatten(), (sum3 / 9).flatten(), grouping.flatten()


def _level_sets(variance: torch.Tensor, level: torch.Tensor, grouping: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Positions in up to 64 sets of equal size by `grouping`; per set: the mean level, the mean local
    variance, the count."""
    sets = max(2, min(_MAX_SETS, len(grouping) // _MIN_PER_SET))
    order = torch.argsort(grouping)
    members = torch.tensor_split(order, sets)
    levels = torch.stack([level[indices].mean() for indices in members])
    variances = torch.stack([variance[indices].mean() for indices in members])
    counts = torch.tensor([len(indices) for indices in members], dtype=torch.float64)
    return levels, variances, counts


def _weighted_fit(
    levels: torch.Tensor, variances: torch.Tensor, counts: torch.Tensor, gain: bool, offset: bool
) -> tuple[float, float]:
    """var = a y + b by least squares weighted by n / var(y)^2, reweighted from the fit 8 times; a and b
    kept >= 0 (a part fitted below 0 is fitted again held at 0)."""
    a, b = 0.0, max(variances.mean().item(), 1e-20)
    for _ in range(8):
        weights = counts / (a * levels + b).clamp_min(1e-20).square()
        a, b = _least_squares(levels, variances, weights, gain, offset)
        if gain and offset and (a < 0 or b < 0):
            a, b = _least_squares(levels, variances, weights, a >= 0, b >= 0)
        a, b = max(a, 0.0), max(b, 0.0)
    return a, b


def _least_squares(
    levels: torch.Tensor, variances: torch.Tensor, weights: torch.Tensor, gain: bool, offset: bool
) -> tuple[float, float]:
    if gain and offset:
        design = torch.stack([levels, torch.ones_like(levels)], 1)
        normal = design.T @ (weights[:, None] * design)
        if torch.linalg.det(normal).abs() < 1e-12 * normal.diagonal().prod():  # one level: no slope to see
            return 0.0, ((weights * variances).sum() / weights.sum()).item()
        a, b = torch.linalg.solve(normal, design.T @ (weights * variances)).tolist()
        return a, b
    if gain:
        return ((weights * levels * variances).sum() / (weights * levels.square()).sum().clamp_min(1e-300)).item(), 0.0
    if offset:
        return 0.0, ((weights * variances).sum() / weights.sum()).item()
    return 0.0, 0.0


def _clipped(channels: torch.Tensor) -> tuple[bool, bool]:
    """Whether the photo is clipped at 0 (at least 0.1 % of its values exactly 0, none below) and at 1."""
    share = 1e-3 * channels.numel()
    low = bool((channels == 0).sum() >= share and channels.min() >= 0)
    high = bool((channels == 1).sum() >= share and channels.max() <= 1)
    return low, high
