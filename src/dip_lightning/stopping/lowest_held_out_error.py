"""Held-out validation (stopping=validation, the default on a user's photo): keep the output and its
average where their error on a few observed pixels left out of the fit is lowest, without ground truth
(the validation split of ZS-SSL, Yaman et al. 2022; Noise2Self's blind spots; see stopping/held_out.py)."""

import torch

from dip_lightning.limits import TEXT, check_limits
from dip_lightning.stopping.criterion import Decision, Fit, StoppingCriterion
from dip_lightning.stopping.held_out import HeldOutMinimum, HeldOutPixels, HeldOutSet


class LowestHeldOutError(StoppingCriterion):
    """Withholds `held_out` pixels of the observation from the data term (drawn from `seed`) and keeps each
    fit's output at the lowest smoothed error on them, its average at the average's lowest error (moved only
    by a difference of `resolution` standard errors: HeldOutMinimum); the fit stops once neither improved
    for `patience` steps. Logged: psnr_held_out and psnr_held_out_avg, the errors as PSNRs against the
    observation (higher is better)."""

    limits = {"name": TEXT, **HeldOutMinimum.limits}

    def __init__(
        self, name: str, held_out: HeldOutPixels, patience: int, smoothing: float, seed: int, resolution: float = 0.0
    ):
        check_limits(self, "stopping.", name=name)
        self.name = name
        self.held_out = HeldOutSet(held_out, seed)
        self.detector = HeldOutMinimum(patience, smoothing, resolution)
        self.averaging = False

    def setup(self, fit: Fit) -> None:
        self.held_out.withhold(fit)

    def start(self, fit: Fit) -> str:
        self.held_out.start(fit)
        self.averaging = fit.outputs.exp_weight is not None
        return self.name

    def decide(self, step: int, output: torch.Tensor, output_avg: torch.Tensor, ending: bool) -> Decision:
        if not self.averaging:
            (error,), error_avg, average = self.held_out.errors(output), None, None
        elif self.detector.resolves:  # the average's held-out values, once: their mean is its error
            (error,), average = self.held_out.errors(output), self.held_out.values(output_avg)
            error_avg = average.mean(1)
        else:
            error, error_avg = self.held_out.errors(output, output_avg)
            average = error_avg
        new_output, new_average = self.detector.update(error, average, step)
        errors = {"psnr_held_out": error.mean()}
        if error_avg is not None:
            errors["psnr_held_out_avg"] = error_avg.mean()
        return Decision(
            keep_output=new_output, keep_average=new_average, stop=self.detector.stopped.all(), errors=errors
        )

    def reason(self) -> str:
        steps = ", ".join(str(step) for step in self.detector.output.best_step.tolist())
        return (
            f"{self.name}: the held-out pixels' error was lowest at step {steps} and not lower in the "
            f"{self.detector.patience} steps after"
        )

    def state_dict(self) -> dict:
        return {"detector": self.detector.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.detector.load_state_dict(state["detector"])
