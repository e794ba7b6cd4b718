"""What a fit has produced: each fit's output and its exponential average, and what a stopping rule kept
of them. One object with one state, so that the module, the stopping rules and the run's record read and
write it through the same few methods, and a checkpoint saves it whole (`get_extra_state`)."""

import torch
from torch import nn

PARTS = ("output", "output_avg")  # what a rule can keep of a step
STATE = ("output", "output_avg", "kept_output", "kept_output_avg", "kept_step", "kept_step_avg", "avg_waits")


class FitOutputs(nn.Module):
    """For N fits of C x H x W images: `output`, x at the last good step ((N, C, H, W), None before the
    first), and `output_avg`, its exponential average with weight `exp_weight` (None: no averaging).

    A stopping rule `keep`s a step's output or average per fit. Until a rule has kept anything, the result
    is the current output and average. While a kept output waits for the average that goes with it (ES-WMV
    keeps the average some steps after the output), the result's average is the current one: a run that
    is saved or interrupted then returns the best estimate it has, never a stale one.
    """

    def __init__(self, restarts: int, channels: int, height: int, width: int, exp_weight: float | None):
        super().__init__()
        self.exp_weight = exp_weight
        self.register_buffer("output_avg", torch.zeros(restarts, channels, height, width), persistent=False)
        self.register_buffer("output", None, persistent=False)
        for name in STATE[2:]:  # what a rule kept: None until it keeps something
            self.register_buffer(name, None, persistent=False)
        self.step = 0  # the step that made `output` (an undone step keeps the one before)
        self.rule: str | None = None  # the stopping rule that keeps the result, if any
        self.stop_reason: str | None = None  # why the rule ended the fit, once it has

    @property
    def averaging(self) -> bool:
        return self.exp_weight is not None

    def update(self, output: torch.Tensor, valid: list[bool], step: int) -> None:
        """Take this step's output of the valid fits, and fold it into their exponential averages."""
        first, weight = self.output is None, 1 - (self.exp_weight or 0.0)
        if all(valid) or first:
            self.output = output
        else:  # some restarts' steps were undone: only the others move
            mask = torch.tensor(valid, device=output.device)[:, None, None, None]
            self.output = torch.where(mask, output, self.output)
            weight = weight * mask.to(output.dtype)
        self.step = step
        if not self.averaging:
            return
        if first:
            self.output_avg.copy_(self.output)
        else:
            self.output_avg.lerp_(self.output, weight)

    def keep(self, chosen: torch.Tensor, parts: tuple[str, ...] = PARTS, average_waits: bool = False) -> None:
        """Keep this step's `parts` of the fits in `chosen` ((N,) bool) as their result. The first call
        keeps both parts of every fit (what holds until a rule chooses). With `average_waits`, the kept
        outputs' averages are to be kept later: until `keep` takes one, the current average stands in."""
        where = chosen.to(self.output.device)
        step = torch.full((len(chosen),), self.step, device=self.output.device)
        if self.kept_output is None:
            self.kept_output, self.kept_output_avg = self.output.clone(), self.output_avg.clone()
            self.kept_step, self.kept_step_avg = step.clone(), step.clone()
            self.avg_waits = torch.zeros_like(where)
        if "output" in parts:
            self.kept_output = torch.where(where[:, None, None, None], self.output, self.kept_output)
            self.kept_step = torch.where(where, step, self.kept_step)
        if "output_avg" in parts:
            self.kept_output_avg = torch.where(where[:, None, None, None], self.output_avg, self.kept_output_avg)
            self.kept_step_avg = torch.where(where, step, self.kept_step_avg)
            self.avg_waits = self.avg_waits & ~where
        if average_waits:
            self.avg_waits = self.avg_waits | where

    def result(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Each fit's output and average that the run returns now: those a rule kept, or the current ones."""
        if self.kept_output is None:
            return None if self.output is None else (self.output, self.output_avg)
        waits = self.avg_waits[:, None, None, None]
        return self.kept_output, torch.where(waits, self.output_avg, self.kept_output_avg)

    def kept_steps(self) -> tuple[list[int], list[int]] | None:
        """The steps of the kept outputs and of their averages (the current step for one still waiting)."""
        if self.kept_step is None:
            return None
        average = torch.where(self.avg_waits, torch.full_like(self.kept_step_avg, self.step), self.kept_step_avg)
        return self.kept_step.tolist(), average.tolist()

    def get_extra_state(self) -> dict:
        return {**{name: getattr(self, name) for name in STATE}, "step": self.step, "stop_reason": self.stop_reason}

    def set_extra_state(self, state: dict) -> None:
        device = self.output_avg.device  # the module's: a checkpoint is read onto the CPU
        for name in STATE:
            setattr(self, name, None if state[name] is None else state[name].to(device))
        self.step, self.stop_reason = state["step"], state["stop_reason"]
