"""Running statistics of a stopping rule, per fit: plain classes on (N,) tensors (N fits batched, one
value each per step), with no host synchronisation, and a state a resumed run continues bit for bit."""

import torch


class SmoothedValue:
    """An exponential smoothing of a value per fit: s <- s + `smoothing` * (value - s), from s = the first
    value, in float64."""

    def __init__(self, smoothing: float):
        self.smoothing = smoothing
        self.value: torch.Tensor | None = None  # (N,) float64, None before the first update

    def update(self, value: torch.Tensor) -> torch.Tensor:
        """Take this step's value (N,); return the smoothed one (N,) float64."""
        value = value.double()
        if self.value is None:
            self.value = value.clone()
        else:
            if self.value.device != value.device:  # resumed from a checkpoint read onto the CPU
                self.value = self.value.to(value.device)
            self.value += self.smoothing * (value - self.value)
        return self.value

    def state_dict(self) -> dict:
        return {"value": copy_or_none(self.value)}

    def load_state_dict(self, state: dict) -> None:
        self.value = copy_or_none(state["value"])


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


def copy_or_none(value: torch.Tensor | None) -> torch.Tensor | None:
    return None if value is None else value.clone()
