"""Held-out pixels: a few observed pixels the fit never sees, to measure its error without ground truth.

For noise independent across pixels (Noise2Self, Batson & Royer 2019; the validation split of ZS-SSL,
Yaman et al. 2022), the mean squared difference between a restoration's A(x) and the observation at
pixels the fit did not use is, in expectation, the restoration's own error there plus the noise
variance: E||A(x) - y||^2 = E||A(x) - A(x_true)||^2 + sigma^2, because the noise at those pixels is
independent of x. Its minimum over the steps of a fit is therefore at the minimum of the true error.
JPEG's errors are correlated within its 8 x 8 blocks, so there whole blocks are held out (`block=auto`
takes the noise model's `correlation_block`: 8 for JPEG, 1 for noise independent across pixels).
"""

import torch

from dip_lightning.errors import InputError
from dip_lightning.limits import check_limits, integer, number, one_of
from dip_lightning.physics.contract import Noise
from dip_lightning.stopping.criterion import Fit
from dip_lightning.stopping.statistics import ResolvedMinimum, RunningMinimum, SmoothedValue, copy_or_none

AUTO_POSITIONS = 300  # fraction=auto holds out about this many positions (blocks), ...
AUTO_FRACTIONS = (0.02, 0.05)  # ... as a fraction of them within these bounds


def auto_fraction(positions: int) -> float:
    """`fraction=auto`: about AUTO_POSITIONS held-out positions, at least 2 % and at most 5 % of `positions`.
    Holding pixels out costs the fit (the network never sees them: 0.1-0.3 dB of peak at 5 %); too few
    make the held-out error too noisy to stop by. On the tune half of experiments/stopping_all_pixels.md,
    2 % stopped as well as 5 % on 128 px photos (328 pixels) and lost the held-out cost with it, but failed
    on a 64 px photo (82 pixels: -0.65 dB) and on JPEG at 128 px (5 blocks of 8 x 8: -2 dB); 5 % held
    there (205 pixels, 13 blocks). So: 5 % up to 6,000 positions (a 77 px photo), 2 % from 15,000."""
    low, high = AUTO_FRACTIONS
    return min(high, max(low, AUTO_POSITIONS / positions))


class HeldOutPixels:
    """A fixed random set of `fraction` of the informative positions of the observation (where A of an
    all-ones image is not zero: every pixel, or the known ones of an inpainting mask), drawn in blocks of
    `block` x `block` pixels (1: single pixels; auto: the noise model's correlation_block), all channels of
    a position together. `fraction=auto`: by the number of positions (blocks), auto_fraction."""

    limits = {"fraction": number(above=0, below=0.5) | one_of("auto"), "block": integer(1) | one_of("auto")}

    def __init__(self, fraction: float | str, block: int | str = "auto"):
        check_limits(self, "stopping.held_out.", fraction=fraction, block=block)
        self.fraction, self.block = fraction, block

    def draw(self, support: torch.Tensor, generator: torch.Generator, noise: Noise | None = None) -> torch.Tensor:
        """support: (1, 1, h, w) bool, the informative positions; `noise`: the physics' noise model (None:
        none), whose correlation_block `block=auto` takes. Returns the held-out ones, (1, 1, h, w) bool: about
        `fraction` of the support (its blocks), and on a small image at least one position held out and at
        least one fitted."""
        block = self.block if self.block != "auto" else noise.correlation_block if noise is not None else 1
        height, width = support.shape[-2:]
        if support.sum() < 2:
            raise InputError(
                f"held-out validation needs at least 2 observed pixels, one to hold out and one to fit; this "
                f"{width}x{height} image has {int(support.sum())}: use stopping=none or a larger image"
            )
        rows, cols = -(-height // block), -(-width // block)
        fraction = self.fraction if self.fraction != "auto" else auto_fraction(int(support.sum()) // block**2 or 1)
        chosen = torch.rand(rows, cols, generator=generator) < fraction
        held = chosen.repeat_interleave(block, 0).repeat_interleave(block, 1)[:height, :width]
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


def held_out_mean(values: torch.Tensor, held: torch.Tensor) -> torch.Tensor:
    """The mean of `values` over the held-out positions and all channels, per fit: (N, C, h, w) -> (N,)."""
    count = held.sum() * values.shape[1]
    return (values * held).flatten(1).sum(1) / count


def held_out_error(residual: torch.Tensor, held: torch.Tensor) -> torch.Tensor:
    """The mean of residual^2 over the held-out positions and all channels, per fit: (N, C, h, w) -> (N,)."""
    return held_out_mean(residual.float().square(), held)


class HeldOutSet:
    """The held-out positions of one run's observation and the error of images on them: drawn from `seed`
    and left out of the fit's data term at `withhold` (before the optimiser and the first step: the fit
    must never see them), measured by `errors` once `start` has put them on the fit's device."""

    def __init__(self, pixels: HeldOutPixels, seed: int):
        self.pixels, self.seed = pixels, seed
        self.held: torch.Tensor | None = None  # (1, 1, h, w) bool
        self.positions: torch.Tensor | None = None  # the held-out positions' flat indices, from `start`
        self.fit: Fit | None = None

    def withhold(self, fit: Fit) -> None:
        operator = fit.physics.operator
        with torch.no_grad():
            support = operator(torch.ones_like(fit.outputs.output_avg[:1])).abs().sum(1, keepdim=True) > 0
        generator = torch.Generator().manual_seed(self.seed + 3)
        self.held = self.pixels.draw(support, generator, fit.physics.noise)
        fit.withhold(self.held)

    def start(self, fit: Fit) -> None:
        self.fit, self.held = fit, self.held.to(fit.device)
        self.positions = self.held.flatten().nonzero().flatten()  # once: the values below need no host sync

    def errors(self, *images: torch.Tensor) -> list[torch.Tensor]:
        """Each image's error on the held-out positions, per fit: (N, C, H, W) -> (N,): the mean of the data
        term the fit minimises (the squared error, or the likelihood matched to the noise: proper for it, so
        lowest, in expectation, at the clean image: losses/data_terms.py)."""
        operator, observed, term = self.fit.physics.operator, self.fit.observed, self.fit.loss.data_term
        with torch.no_grad():
            return [held_out_mean(term.pointwise(operator(image), observed), self.held) for image in images]

    def values(self, image: torch.Tensor) -> torch.Tensor:
        """The image's data term at each held-out value (every held-out position, every channel), per fit:
        (N, C, H, W) -> (N, K), whose mean is `errors`' (up to rounding)."""
        operator, observed, term = self.fit.physics.operator, self.fit.observed, self.fit.loss.data_term
        with torch.no_grad():
            return term.pointwise(operator(image), observed).flatten(2)[:, :, self.positions].flatten(1)


SMOOTHING = number(above=0, high=1)  # the weight of the newest error (1: no smoothing)


class HeldOutMinimum:
    """Tracks the held-out error of the output (smoothed: e <- e + `smoothing` * (error - e)) and of its
    average, per fit; a fit is `stopped` once both have waited `patience` updates.

    The fit's output is kept at the lowest error of its exponential smoothing (the raw output's error jumps
    with the per-step input noise), and its exponential average at the lowest error of the average itself
    (the average is smooth, and its minimum comes later than the output's: no lag to guess). With
    `resolution` > 0 the average's kept step moves only by a lower error that many standard errors of the
    paired difference below the kept one's (statistics.ResolvedMinimum): near a high, flat peak a few
    thousand held-out values cannot tell the steps apart, and a drift within their sampling error must not
    carry the average past its peak. Its updates then take the average's held-out values, (N, K).
    `patience_growth` g > 0: each waits max(patience, g x the step of its lowest error), so that a fit whose
    curve changes slowly, its lowest error late, waits in proportion (a plateau of a hundred steps at step
    1,000 is not yet its peak); measured over three seeds of experiments/stopping_all_pixels.md, off.
    `confirm` c > 0: a fit that waited also needs its average's held-out error to have risen above the kept
    step's by c standard errors of the paired difference before it stops: a plateau the held-out values
    cannot tell from a slow rise of quality does not end the fit (a fit without an average stops on its
    patience alone). The average's updates then take its held-out values, (N, K), as with `resolution`."""

    limits = {
        "patience": integer(1),
        "smoothing": SMOOTHING,
        "resolution": number(0),
        "patience_growth": number(0),
        "confirm": number(0),
    }

    def __init__(
        self,
        patience: int,
        smoothing: float,
        resolution: float = 0.0,
        patience_growth: float = 0.0,
        confirm: float = 0.0,
    ):
        check_limits(
            self,
            "stopping.",
            patience=patience,
            smoothing=smoothing,
            resolution=resolution,
            patience_growth=patience_growth,
            confirm=confirm,
        )
        self.patience, self.patience_growth, self.confirm = patience, patience_growth, confirm
        self.smoothed = SmoothedValue(smoothing)  # the output's error
        self.output = RunningMinimum()
        self.resolves = resolution > 0 or confirm > 0  # the average's values: their paired standard errors
        self.average = ResolvedMinimum(resolution) if self.resolves else RunningMinimum()
        self.stopped: torch.Tensor | None = None  # (N,) bool

    @torch.no_grad()
    def update(
        self, error: torch.Tensor, error_avg: torch.Tensor | None, step: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Take this step's held-out errors of the outputs (N,) and of their averages (None: no averaging;
        their values (N, K) where the detector `resolves`); return which fits' output, and which fits'
        average, reached a new kept step."""
        smoothed = self.smoothed.update(error)
        if self.stopped is None:
            self.stopped = torch.zeros(error.shape, dtype=torch.bool, device=error.device)
        new_output = self.output.update(smoothed, step, self.stopped)
        new_average = None if error_avg is None else self.average.update(error_avg.double(), step, self.stopped)
        done = self.waited_out()
        if new_average is not None and self.confirm:
            done &= self.average.risen(error_avg, self.confirm)
        self.stopped |= done
        return new_output, new_average

    def waited_out(self) -> torch.Tensor:
        """(N,) bool: the fits whose output and average (if any) both waited their patience after their kept
        steps (with `confirm`, such a fit may still be running: its rise not resolved)."""
        done = self._waited_out(self.output)
        if self.average.best_step is not None:
            done &= self._waited_out(self.average)
        return done

    def _waited_out(self, minimum: RunningMinimum | ResolvedMinimum) -> torch.Tensor:
        """(N,) bool: the fits that waited their patience after this minimum's kept step."""
        return minimum.waited >= self.patience_after(minimum.best_step)

    def patience_after(self, best_step: torch.Tensor) -> torch.Tensor:
        """The steps a fit waits after its lowest error at `best_step` (N,): patience, or more with growth."""
        return torch.clamp(torch.ceil(best_step * self.patience_growth), min=self.patience).long()

    def state_dict(self) -> dict:
        return {
            "smoothed": self.smoothed.state_dict(),
            "stopped": copy_or_none(self.stopped),
            "output": self.output.state_dict(),
            "average": self.average.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.smoothed.load_state_dict(state["smoothed"])
        self.stopped = copy_or_none(state["stopped"])
        self.output.load_state_dict(state["output"])
        self.average.load_state_dict(state["average"])


class HeldOutGate:
    """ES-WMV's guard against an overfitted end: a later step may replace the kept one only if its smoothed
    held-out error is no higher than the kept step's. A variance that keeps falling while the network
    memorises the noise then moves the kept step no further than the peak of quality."""

    limits = {"smoothing": SMOOTHING}

    def __init__(self, smoothing: float):
        check_limits(self, "stopping.", smoothing=smoothing)
        self.smoothed = SmoothedValue(smoothing)  # the output's held-out error
        self.at_kept: torch.Tensor | None = None  # (N,) float64: its value at the kept step (inf before one)

    @torch.no_grad()
    def allows(self, error: torch.Tensor) -> torch.Tensor:
        """Take this step's held-out errors (N,); return which fits may keep this step (N,) bool."""
        smoothed = self.smoothed.update(error)
        if self.at_kept is None:
            self.at_kept = torch.full_like(smoothed, torch.inf)
        elif self.at_kept.device != smoothed.device:  # resumed from a checkpoint read onto the CPU
            self.at_kept = self.at_kept.to(smoothed.device)
        return smoothed <= self.at_kept

    def kept(self, chosen: torch.Tensor) -> None:
        """The fits in `chosen` (N,) bool kept this step."""
        self.at_kept = torch.where(chosen, self.smoothed.value, self.at_kept)

    def state_dict(self) -> dict:
        return {"smoothed": self.smoothed.state_dict(), "at_kept": copy_or_none(self.at_kept)}

    def load_state_dict(self, state: dict) -> None:
        self.smoothed.load_state_dict(state["smoothed"])
        self.at_kept = copy_or_none(state["at_kept"])
