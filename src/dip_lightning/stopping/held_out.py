"""Held-out pixels: a few observed pixels the fit never sees, to measure its error without ground truth.

For noise independent across pixels (Noise2Self, Batson & Royer 2019; the validation split of ZS-SSL,
Yaman et al. 2022), the mean squared difference between a restoration's A(x) and the observation at
pixels the fit did not use is, in expectation, the restoration's own error there plus the noise
variance: E||A(x) - y||^2 = E||A(x) - A(x_true)||^2 + sigma^2, because the noise at those pixels is
independent of x. Its minimum over the steps of a fit is therefore at the minimum of the true error.
JPEG's errors are correlated within its 8 x 8 blocks, so there whole blocks are held out (`block=8`).
"""

import torch

from dip_lightning.errors import InputError


class HeldOutPixels:
    """A fixed random set of `fraction` of the informative positions of the observation (where A of an
    all-ones image is not zero: every pixel, or the known ones of an inpainting mask), drawn in blocks of
    `block` x `block` pixels (1: single pixels), all channels of a position together."""

    def __init__(self, fraction: float, block: int):
        if not 0 < fraction < 0.5:
            raise InputError(f"stopping.held_out.fraction must be in (0, 0.5), got {fraction}")
        if not isinstance(block, int) or block < 1:
            raise InputError(f"stopping.held_out.block must be an integer >= 1 pixels, got {block!r}")
        self.fraction, self.block = fraction, block

    def draw(self, support: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """support: (1, 1, h, w) bool, the informative positions. Returns the held-out ones, (1, 1, h, w)
        bool: about `fraction` of the support, never all of it."""
        height, width = support.shape[-2:]
        rows, cols = -(-height // self.block), -(-width // self.block)
        chosen = torch.rand(rows, cols, generator=generator) < self.fraction
        held = chosen.repeat_interleave(self.block, 0).repeat_interleave(self.block, 1)[:height, :width]
        held = held.to(support.device)[None, None] & support
        if not held.any() or held.sum() == support.sum():
            raise InputError(
                f"holding out {self.fraction:.0%} of the observation in {self.block}-pixel blocks leaves "
                f"nothing to hold out or nothing to fit on this {width}x{height} image: change "
                "stopping.held_out.fraction or use a larger image"
            )
        return held


def held_out_error(residual: torch.Tensor, held: torch.Tensor) -> torch.Tensor:
    """The mean of residual^2 over the held-out positions and all channels, per fit: (N, C, h, w) -> (N,)."""
    count = held.sum() * residual.shape[1]
    return (residual.float().square() * held).flatten(1).sum(1) / count
