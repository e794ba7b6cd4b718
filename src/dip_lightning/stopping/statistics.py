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


class ResolvedMinimum:
    """The lowest mean of a sample of values per fit (a held-out error: the mean over the held-out values),
    moved only by a difference its own sampling error resolves: a later step replaces the kept one if the
    mean of their paired differences d = values(step) - values(kept) is below -`resolution` standard errors
    of that mean (std(d) / sqrt(K), K values). Paired, the noise the two steps share cancels: what is left
    is the change of the error itself. resolution 0: any lower mean moves it (RunningMinimum's rule)."""

    def __init__(self, resolution: float):
        self.resolution = resolution
        self.kept: torch.Tensor | None = None  # (N, K) float64: the values at the kept step
        self.best_step: torch.Tensor | None = None  # (N,) int64 (0 before the first update)
        self.waited: torch.Tensor | None = None  # (N,) int64

    def update(self, values: torch.Tensor, step: int, frozen: torch.Tensor) -> torch.Tensor:
        """Take this step's values (N, K) of the fits that are not `frozen`; return which moved their kept step."""
        values = values.double()
        if self.kept is None:
            self.kept = values.clone()
            self.best_step = torch.full(values.shape[:1], step, dtype=torch.int64, device=values.device)
            self.waited = torch.zeros_like(self.best_step)
            return ~frozen
        if self.kept.device != values.device:  # resumed from a checkpoint read onto the CPU
            self.kept, self.best_step, self.waited = (
                x.to(values.device) for x in (self.kept, self.best_step, self.waited)
            )
        change, error = paired_change(values, self.kept)
        moved = ~frozen & (change < -self.resolution * error)
        self.kept = torch.where(moved[:, None], values, self.kept)
        self.best_step.masked_fill_(moved, step)
        self.waited.add_(~frozen).masked_fill_(moved, 0)
        return moved

    def risen(self, values: torch.Tensor, confirm: float) -> torch.Tensor:
        """Which fits' values (N, K) lie above the kept step's by more than `confirm` standard errors of their
        mean paired difference: a rise the sample resolves, (N,) bool."""
        change, error = paired_change(values.double(), self.kept)
        return change > confirm * error

    def state_dict(self) -> dict:
        return {name: copy_or_none(getattr(self, name)) for name in ("kept", "best_step", "waited")}

    def load_state_dict(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, copy_or_none(value))


def paired_change(values: torch.Tensor, before: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean change from `before` to `values` ((N, K) each, the same K samples) and its standard error,
    std(d) / sqrt(K) of the paired differences d (0 with a single sample): (N,) each."""
    difference = values - before
    count = difference.shape[1]
    if count < 2:
        return difference.mean(1), torch.zeros_like(difference[:, 0])
    return difference.mean(1), difference.std(1) / count**0.5


def copy_or_none(value: torch.Tensor | None) -> torch.Tensor | None:
    return None if value is None else value.clone()
