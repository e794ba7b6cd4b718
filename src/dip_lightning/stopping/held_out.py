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
        bool: about `fraction` of the support, and on a small image at least one position held out and at
        least one fitted."""
        height, width = support.shape[-2:]
        if support.sum() < 2:
            raise InputError(
                f"held-out validation needs at least 2 observed pixels, one to hold out and one to fit; this "
                f"{width}x{height} image has {int(support.sum())}: use stopping=none or a larger image"
            )
        rows, cols = -(-height // self.block), -(-width // self.block)
        chosen = torch.rand(rows, cols, generator=generator) < self.fraction
        held = chosen.repeat_interleave(self.block, 0).repeat_interleave(self.block, 1)[:height, :width]
        held = held.to(support.device)[None, None] & support
        if not held.any():  # a small image whose draw missed: hold out one position at random
            held = _flip_one(held, support, generator)
        elif held.sum() == support.sum():  # ... or whose draw took all: fit one
            held = ~_flip_one(~held, support, generator)
        return held


def _flip_one(flags: torch.Tensor, within: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """`flags` with one more position of `within` set, chosen at random."""
    positions = within.flatten().nonzero().flatten()
    chosen = positions[torch.randint(len(positions), (1,), generator=generator)]
    flags = flags.flatten().clone()
    flags[chosen.to(flags.device)] = True
    return flags.view(within.shape)


def held_out_error(residual: torch.Tensor, held: torch.Tensor) -> torch.Tensor:
    """The mean of residual^2 over the held-out positions and all channels, per fit: (N, C, h, w) -> (N,)."""
    count = held.sum() * residual.shape[1]
    return (residual.float().square() * held).flatten(1).sum(1) / count
