"""Held-out validation (stopping=validation, the default on a user's photo): keep the output and its
average where their error on a few observed pixels left out of the fit is lowest, without ground truth
(the validation split of ZS-SSL, Yaman et al. 2022; Noise2Self's blind spots; see stopping/held_out.py)."""

import torch

from dip_lightning.limits import TEXT, check_limits, integer
from dip_lightning.stopping.criterion import Decision, Fit, StoppingCriterion
from dip_lightning.stopping.held_out import HeldOutMinimum, HeldOutPixels, HeldOutSet
from dip_lightning.stopping.statistics import copy_or_none


class LowestHeldOutError(StoppingCriterion):
    """Withholds `held_out` pixels of the observation from the data term (drawn from `seed`) and keeps each
    fit's output at the lowest smoothed error on them, its average at the average's lowest error (moved only
    by a difference of `resolution` standard errors: HeldOutMinimum); the fit stops once neither improved
    for `patience` steps (or `patience_growth` times the step of its lowest error, if more; with `confirm`,
    once the average's error has also risen by that many standard errors: HeldOutMinimum). Logged:
    psnr_held_out and psnr_held_out_avg, the errors as PSNRs against the observation (higher is better).

    `hand_back` > 0: a fit still improving within its patience `hand_back` steps before the budget's end
    will be cut by the budget anyway; the held-out pixels then go back into the data term for those last
    steps, and its result is the last step's output and average, as the budget's (what holding pixels out
    cost such a fit is won back: experiments/stopping_all_pixels.md). A fit that waited its patience and
    runs on only because its rise is not resolved (`confirm`) keeps its kept step and stops there. The
    held-out error is no longer logged then: the fit sees those pixels. A budget of `hand_back` steps or
    fewer is all in its last steps: no pixel is held out, and the run is the budget's."""

    limits = {"name": TEXT, "hand_back": integer(0), **HeldOutMinimum.limits}

    def __init__(
        self,
        name: str,
        held_out: HeldOutPixels,
        patience: int,
        smoothing: float,
        seed: int,
        resolution: float = 0.0,
        hand_back: int = 0,
        patience_growth: float = 0.0,
        confirm: float = 0.0,
    ):
        check_limits(self, "stopping.", name=name, hand_back=hand_back)
        self.name, self.hand_back = name, hand_back
        self.held_out = HeldOutSet(held_out, seed)
        self.detector = HeldOutMinimum(patience, smoothing, resolution, patience_growth, confirm)
        self.averaging = False
        self.hand_back_step: int | None = None  # the step the held-out pixels go back at (None: never)
        self.handed_back: torch.Tensor | None = None  # (N,) bool: the fits that got them back, once they did

    def setup(self, fit: Fit) -> None:
        self.held_out.withhold(fit)
        if self.hand_back and fit.budget <= self.hand_back:  # every step is in the last R: no pixel held out
            self.handed_back = torch.ones(len(fit.outputs.output_avg), dtype=torch.bool)
            self._give_back(fit)

    def start(self, fit: Fit) -> str:
        self.held_out.start(fit)
        self.averaging = fit.outputs.exp_weight is not None
        if self.hand_back:
            self.hand_back_step = max(fit.budget - self.hand_back, 1)
        if self.handed_back is not None:  # resumed after the hand-back: the data term has every pixel again
            self._give_back(fit)
        return self.name

    def _give_back(self, fit: Fit) -> None:
        """The held-out pixels back into the data term, if any fit got them back (decided on the device)."""
        self.handed_back = self.handed_back.to(fit.device)
        fit.withhold(self.held_out.held & ~self.handed_back.any())

    def _improving(self, fits: int) -> torch.Tensor:
        """(N,) bool: the fits still improving within their patience (all of them before a first update)."""
        if self.detector.stopped is None:
            return torch.ones(fits, dtype=torch.bool)
        return ~self.detector.stopped & ~self.detector.waited_out()

    def decide(self, step: int, output: torch.Tensor, output_avg: torch.Tensor, ending: bool) -> Decision:
        if self.hand_back_step is not None and step >= self.hand_back_step:
            if self.handed_back is None:  # (a resumed fit got them back in `start`)
                self.handed_back = self._improving(len(output))
                self._give_back(self.held_out.fit)
            stop = ~self.handed_back.any()  # (a fit not handed back keeps its kept step: nothing to run for)
            return Decision(keep_output=self.handed_back, keep_average=self.handed_back, stop=stop)
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
        best = self.detector.output.best_step
        waits = self.detector.patience_after(best).tolist()
        steps, waited = ", ".join(map(str, best.tolist())), ", ".join(map(str, dict.fromkeys(waits)))
        return (
            f"{self.name}: the held-out pixels' error was lowest at step {steps} and not lower in the {waited} "
            "steps after"
        )

    def state_dict(self) -> dict:
        return {"detector": self.detector.state_dict(), "handed_back": copy_or_none(self.handed_back)}

    def load_state_dict(self, state: dict) -> None:
        self.detector.load_state_dict(state["detector"])
        self.handed_back = copy_or_none(state.get("handed_back"))
