"""ES-WMV and ES-EMV (stopping=wmv, stopping=emv): keep the output where its variance over recent steps
is lowest, without ground truth (Wang, Li, Zhuang, Chen, Liang, Sun, "Early Stopping for Deep Image
Prior", TMLR 2023); optionally gated by held-out pixels."""

from collections.abc import Callable

import torch

from dip_lightning.limits import TEXT, check_limits, integer, one_of
from dip_lightning.stopping.criterion import Decision, Fit, StoppingCriterion
from dip_lightning.stopping.detectors import VarianceDetector
from dip_lightning.stopping.held_out import HeldOutGate, HeldOutPixels, HeldOutSet


def auto_average_lag(exp_weight: float | None) -> int:
    """stopping.average_lag=auto: 3 / (1 - exp_weight) steps (300 at 0.99), when the average's memory has
    mostly turned over; 0 without averaging."""
    return 0 if exp_weight is None else round(3 / (1 - exp_weight))


class LowestVariance(StoppingCriterion):
    """The raw output is kept at the step of lowest variance (the detector's). The exponential average of
    the outputs trails them by about 1 / (1 - exp_weight) steps and keeps improving after the raw output's
    best, so the average is kept `average_lag` steps after the detected step (a newer detection starts a
    new wait; a fit that stops or runs out of budget first keeps the average it has then).
    experiments/stopping_benchmark.md measures what the lag gains.

    With `held_out` pixels (the default of stopping=wmv), a few observed pixels are left out of the fit and
    gate the rule: a lower variance moves the kept step only if the smoothed error on those pixels is no
    higher than at the kept step (HeldOutGate). Without them the variance alone decides, as the paper's."""

    limits = {"name": TEXT, "average_lag": one_of("auto") | integer(0), **HeldOutGate.limits}

    def __init__(
        self,
        name: str,
        detector: Callable[..., VarianceDetector],
        seed: int,
        average_lag: int | str = "auto",
        held_out: HeldOutPixels | None = None,
        smoothing: float = 0.1,
    ):
        """detector: the detector's settings (a partial); `seed` draws its pixel subset and the held-out
        pixels; average_lag: steps, or "auto": 3 / (1 - exp_weight) (300 at 0.99), 0 without averaging;
        held_out: the pixels that gate the rule (None: no gate), their error smoothed by `smoothing`."""
        check_limits(self, "stopping.", name=name, average_lag=average_lag, smoothing=smoothing)
        self.name, self.average_lag = name, average_lag
        self.detector = detector(generator=torch.Generator().manual_seed(seed + 2))
        self.held_out = None if held_out is None else HeldOutSet(held_out, seed)
        self.gate = None if held_out is None else HeldOutGate(smoothing)
        self.due: torch.Tensor | None = None  # per fit: the step to keep its average at, -1 when none waits

    def setup(self, fit: Fit) -> None:
        if self.held_out is not None:
            self.held_out.withhold(fit)

    def start(self, fit: Fit) -> str:
        if self.average_lag == "auto":
            self.average_lag = auto_average_lag(fit.outputs.exp_weight)
        if self.held_out is None:
            return self.name
        self.held_out.start(fit)
        return f"{self.name}, gated by held-out pixels"

    def decide(self, step: int, output: torch.Tensor, output_avg: torch.Tensor, ending: bool) -> Decision:
        allowed, errors = None, {}
        if self.gate is not None:
            (error,) = self.held_out.errors(output)
            allowed = self.gate.allows(error)
            errors["psnr_held_out"] = error.mean()
        new_best = self.detector.update(output, step, allowed)
        if self.gate is not None:
            self.gate.kept(new_best)
        if self.due is None:
            self.due = torch.full_like(new_best, -1, dtype=torch.int64)
        self.due = torch.where(new_best, step + self.average_lag, self.due)
        ended = self.detector.stopped | ending  # a fit that ends keeps the average it has
        ripe = (self.due >= 0) & ((self.due <= step) | ended)
        self.due = self.due.masked_fill(ripe, -1)
        values = {} if self.detector.variance is None else {"output_variance": self.detector.variance.mean()}
        return Decision(
            keep_output=new_best,
            average_waits=self.average_lag > 0,
            keep_average=ripe,
            stop=self.detector.stopped.all(),
            errors=errors,
            values=values,
        )

    def reason(self) -> str:
        steps = ", ".join(str(step) for step in self.detector.best_step.tolist())
        gated = " (of the steps whose held-out error was no higher)" if self.gate is not None else ""
        return (
            f"{self.name}: the output's variance was lowest at step {steps}{gated} and not lower in the "
            f"{self.detector.patience} steps after"
        )

    def state_dict(self) -> dict:
        gate = None if self.gate is None else self.gate.state_dict()
        return {"detector": self.detector.state_dict(), "average_lag": self.average_lag, "due": self.due, "gate": gate}

    def load_state_dict(self, state: dict) -> None:
        self.detector.load_state_dict(state["detector"])
        self.average_lag, self.due = state["average_lag"], state["due"]
        if self.gate is not None and state.get("gate") is not None:
            self.gate.load_state_dict(state["gate"])
