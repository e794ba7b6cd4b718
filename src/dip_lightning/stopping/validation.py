"""When to stop by the error on held-out pixels (stopping=validation): a plain class on tensors, batched
over restarts like the variance detectors (x is (N, C, H, W); every state tensor is (N,)), with no host
synchronisation in `update`.

The fit's output is kept at the lowest error of its exponential smoothing (the raw output's error jumps
with the per-step input noise), and its exponential average at the lowest error of the average itself
(the average is smooth, and its minimum comes later than the output's: no lag to guess). A fit stops once
neither has reached a new lowest error for `patience` updates.
"""

import torch

from dip_lightning.errors import InputError
from dip_lightning.stopping.detectors import copy_or_none


class RunningMinimum:
    """The lowest value of a statistic per fit, the step it came at, and the updates since."""

    def __init__(self):
        self.best: torch.Tensor | None = None  # (N,) float64, inf before the first update
        self.best_step: torch.Tensor | None = None  # (N,) int64
        self.waited: torch.Tensor | None = None  # (N,) int64

    def update(self, value: torch.Tensor, step: int, frozen: torch.Tensor) -> torch.Tensor:
        """Take this step's value (N,) of the fits that are not `frozen`; return which reached a new low."""
        if self.best is None:
            self.best = torch.full_like(value, torch.inf, dtype=torch.float64)
            self.best_step = torch.zeros(value.shape, dtype=torch.int64, device=value.device)
            self.waited = torch.zeros_like(self.best_step)
        new_best = ~frozen & (value < self.best)
        self.best = torch.where(new_best, value.double(), self.best)
        self.best_step.masked_fill_(new_best, step)
        self.waited.add_(~frozen).masked_fill_(new_best, 0)
        return new_best

    def state_dict(self) -> dict:
        return {name: copy_or_none(getattr(self, name)) for name in ("best", "best_step", "waited")}

    def load_state_dict(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, copy_or_none(value))


class HeldOutMinimum:
    """Tracks the held-out error of the output (smoothed: e <- e + `smoothing` * (error - e)) and of its
    average, per fit; a fit is `stopped` once both have waited `patience` updates."""

    def __init__(self, patience: int, smoothing: float):
        if not isinstance(patience, int) or patience < 1:
            raise InputError(f"stopping.patience must be an integer >= 1 steps, got {patience!r}")
        if not 0 < smoothing <= 1:
            raise InputError(f"stopping.smoothing must be in (0, 1], got {smoothing}")
        self.patience, self.smoothing = patience, smoothing
        self.smoothed: torch.Tensor | None = None  # (N,) float64: the output's smoothed error
        self.output, self.average = RunningMinimum(), RunningMinimum()
        self.stopped: torch.Tensor | None = None  # (N,) bool

    @torch.no_grad()
    def update(
        self, error: torch.Tensor, error_avg: torch.Tensor | None, step: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Take this step's held-out errors of the outputs and of their averages (None: no averaging);
        return which fits' output, and which fits' average, reached a new lowest error."""
        error = error.double()
        if self.smoothed is None:
            self.smoothed = error.clone()
            self.stopped = torch.zeros(error.shape, dtype=torch.bool, device=error.device)
        else:
            self.smoothed += self.smoothing * (error - self.smoothed)
        new_output = self.output.update(self.smoothed, step, self.stopped)
        new_average = None if error_avg is None else self.average.update(error_avg.double(), step, self.stopped)
        waited = self.output.waited if new_average is None else torch.minimum(self.output.waited, self.average.waited)
        self.stopped |= waited >= self.patience
        return new_output, new_average

    def state_dict(self) -> dict:
        return {
            "smoothed": copy_or_none(self.smoothed),
            "stopped": copy_or_none(self.stopped),
            "output": self.output.state_dict(),
            "average": self.average.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.smoothed, self.stopped = copy_or_none(state["smoothed"]), copy_or_none(state["stopped"])
        self.output.load_state_dict(state["output"])
        self.average.load_state_dict(state["average"])


class HeldOutGate:
    """ES-WMV's guard against an overfitted end: a later step may replace the kept one only if its smoothed
    held-out error is no higher than the kept step's. A variance that keeps falling while the network
    memorises the noise then moves the kept step no further than the peak of quality."""

    def __init__(self, smoothing: float):
        if not 0 < smoothing <= 1:
            raise InputError(f"stopping.smoothing must be in (0, 1], got {smoothing}")
        self.smoothing = smoothing
        self.smoothed: torch.Tensor | None = None  # (N,) float64: the output's smoothed held-out error
        self.at_kept: torch.Tensor | None = None  # (N,) float64: its value at the kept step (inf before one)

    @torch.no_grad()
    def allows(self, error: torch.Tensor) -> torch.Tensor:
        """Take this step's held-out errors (N,); return which fits may keep this step (N,) bool."""
        error = error.double()
        if self.smoothed is None:
            self.smoothed, self.at_kept = error.clone(), torch.full_like(error, torch.inf)
        else:
            if self.smoothed.device != error.device:  # resumed from a checkpoint read onto the CPU
                self.smoothed, self.at_kept = self.smoothed.to(error.device), self.at_kept.to(error.device)
            self.smoothed += self.smoothing * (error - self.smoothed)
        return self.smoothed <= self.at_kept

    def kept(self, chosen: torch.Tensor) -> None:
        """The fits in `chosen` (N,) bool kept this step."""
        self.at_kept = torch.where(chosen, self.smoothed, self.at_kept)

    def state_dict(self) -> dict:
        return {"smoothed": copy_or_none(self.smoothed), "at_kept": copy_or_none(self.at_kept)}

    def load_state_dict(self, state: dict) -> None:
        self.smoothed, self.at_kept = copy_or_none(state["smoothed"]), copy_or_none(state["at_kept"])
