"""Stopping rules for a DIP fit, as Lightning callbacks chosen by `stopping=...`:

- `EarlyStopping`: ES-WMV / ES-EMV, without ground truth: the output's variance over recent steps is
  lowest near the peak of quality; the output at that step (and its average a little later) is the
  run's result, and the run stops once no lower variance has come for `patience` steps. Each restart is
  watched on its own.
- `ValidationStopping`: without ground truth: a few observed pixels are left out of the fit, and the
  error on them, which estimates the restoration's own error plus the noise variance, is lowest at the
  peak of quality; the output and its average are kept at their lowest errors.
- `OracleStopping`: for research only, it reads the ground truth: the result is the output at the best
  PSNR against it (a bound on what any stopping rule could reach, not a restoration)."""

from collections.abc import Callable

import pytorch_lightning as pl
import torch

from dip_lightning.errors import InputError
from dip_lightning.fitting.metrics import psnr, psnr_from_mse
from dip_lightning.stopping.detectors import VarianceStopping
from dip_lightning.stopping.held_out import HeldOutPixels, held_out_error
from dip_lightning.stopping.validation import HeldOutGate, HeldOutMinimum


def stop(trainer: pl.Trainer, module, reason: str) -> None:
    """End the fit at this step; `reason` becomes results.json's stop_reason."""
    module.outputs.stop_reason = reason
    trainer.should_stop = True


def withhold_pixels(module, held_out: HeldOutPixels, seed: int) -> torch.Tensor:
    """Draw `held_out` positions of the observation (from `seed`) and leave them out of the fit's data term;
    return them, (1, 1, h, w) bool. Before the optimiser and the first step: the fit must never see them."""
    operator, restored = module.physics.operator, module.outputs.output_avg
    with torch.no_grad():
        support = operator(torch.ones_like(restored[:1])).abs().sum(1, keepdim=True) > 0
    held = held_out.draw(support, torch.Generator().manual_seed(seed + 3))
    module.withhold(held)
    return held


def held_out_errors(module, held: torch.Tensor, *images: torch.Tensor) -> list[torch.Tensor]:
    """Each image's error on the held-out positions, per fit."""
    operator, observed = module.physics.operator, module.observed
    with torch.no_grad():
        return [held_out_error(operator(image) - observed, held) for image in images]


def auto_average_lag(exp_weight: float | None) -> int:
    """stopping.average_lag=auto: 3 / (1 - exp_weight) steps (300 at 0.99), when the average's memory has
    mostly turned over; 0 without averaging."""
    return 0 if exp_weight is None else round(3 / (1 - exp_weight))


class EarlyStopping(pl.Callback):
    """The raw output is kept at the detected step. The exponential average of the outputs trails them by
    about 1 / (1 - exp_weight) steps and keeps improving after the raw output's best, so the average is
    kept `average_lag` steps after the detected step (a newer detection starts a new wait; a fit that
    stops or runs out of budget first keeps the average it has then; until then a saved result holds the
    current average). experiments/stopping_benchmark.md measures what the lag gains.

    With `held_out` pixels (the default of stopping=wmv), a few observed pixels are left out of the fit and
    gate the rule: a lower variance moves the kept step only if the smoothed error on those pixels is no
    higher than at the kept step (HeldOutGate). Without them the variance alone decides, as the paper's."""

    def __init__(
        self,
        name: str,
        detector: Callable[..., VarianceStopping],
        seed: int,
        average_lag: int | str = "auto",
        held_out: HeldOutPixels | None = None,
        smoothing: float = 0.1,
    ):
        """detector: the detector's settings (a partial); `seed` draws its pixel subset, if any;
        average_lag: steps, or "auto": 3 / (1 - exp_weight) (300 at 0.99), 0 without averaging;
        held_out: the pixels that gate the rule (None: no gate), their error smoothed by `smoothing`."""
        if average_lag != "auto" and (not isinstance(average_lag, int) or average_lag < 0):
            raise InputError(f"stopping.average_lag must be a number of steps >= 0 or auto, got {average_lag!r}")
        self.name, self.average_lag, self.held_out, self.seed = name, average_lag, held_out, seed
        self.detector = detector(generator=torch.Generator().manual_seed(seed + 2))
        self.gate = None if held_out is None else HeldOutGate(smoothing)
        self.held: torch.Tensor | None = None  # (1, 1, h, w) bool: the held-out positions, with a gate
        self.due: torch.Tensor | None = None  # per fit: the step to keep its average at, -1 when none waits

    def setup(self, trainer: pl.Trainer, module, stage: str) -> None:
        if self.held_out is not None:
            self.held = withhold_pixels(module, self.held_out, self.seed)

    def on_train_start(self, trainer: pl.Trainer, module) -> None:
        module.outputs.rule = self.name
        if self.held is not None:
            self.held = self.held.to(module.device)
            module.outputs.rule = f"{self.name}, gated by held-out pixels"
        if self.average_lag == "auto":
            self.average_lag = auto_average_lag(module.hparams.exp_weight)

    def on_train_batch_end(self, trainer: pl.Trainer, module, outputs, batch, batch_idx: int) -> None:
        if outputs is None or not any(outputs["valid"]):  # an undone step brings no new output
            return
        step, allowed, logged = module.outputs.step, None, {}
        if self.gate is not None:
            (error,) = held_out_errors(module, self.held, outputs["output"])
            allowed = self.gate.allows(error)
            logged["psnr_held_out"] = error.mean()
        new_best = self.detector.update(outputs["output"], step, allowed)
        if self.gate is not None:
            self.gate.kept(new_best)
        if self.due is None:
            self.due = torch.full_like(new_best, -1, dtype=torch.int64)
        self.due = torch.where(new_best, step + self.average_lag, self.due)
        ended = self.detector.stopped | trainer.should_stop  # a fit that ends keeps the average it has
        ripe = (self.due >= 0) & ((self.due <= step) | ended)
        self.due = self.due.masked_fill(ripe, -1)
        flags = [new_best.any(), ripe.any(), self.detector.stopped.all()]
        if self.detector.variance is not None:  # None until the window is full
            logged["output_variance"] = self.detector.variance.mean()
        values = torch.stack([value.double() for value in (*flags, *logged.values())])
        chosen, any_ripe, done, *statistics = values.tolist()  # one host sync
        for name, value in zip(logged, statistics, strict=True):  # why it stops, in every logger and on curves.png
            module.log(name, psnr_from_mse(value) if name == "psnr_held_out" else value)
        if chosen:
            module.outputs.keep(new_best, ("output",), average_waits=self.average_lag > 0)
        if any_ripe:
            module.outputs.keep(ripe, ("output_avg",))
        if done:
            steps = ", ".join(str(step) for step in self.detector.best_step.tolist())
            stop(
                trainer,
                module,
                f"{self.name}: the output's variance was lowest at step {steps}"
                + (" (of the steps whose held-out error was no higher)" if self.gate is not None else "")
                + f" and not lower in the {self.detector.patience} steps after",
            )

    def state_dict(self) -> dict:
        gate = None if self.gate is None else self.gate.state_dict()
        return {"detector": self.detector.state_dict(), "average_lag": self.average_lag, "due": self.due, "gate": gate}

    def load_state_dict(self, state_dict: dict) -> None:
        self.detector.load_state_dict(state_dict["detector"])
        self.average_lag, self.due = state_dict["average_lag"], state_dict["due"]
        if self.gate is not None and state_dict.get("gate") is not None:
            self.gate.load_state_dict(state_dict["gate"])


class ValidationStopping(pl.Callback):
    """Withholds `held_out` pixels of the observation from the data term (drawn from `seed`) and keeps each
    fit's output at the lowest smoothed error on them, its average at the average's lowest error; the fit
    stops once neither improved for `patience` steps. Logged: psnr_held_out and psnr_held_out_avg, the
    errors as PSNRs against the observation (higher is better)."""

    def __init__(self, name: str, held_out: HeldOutPixels, patience: int, smoothing: float, seed: int):
        self.name, self.held_out, self.seed = name, held_out, seed
        self.detector = HeldOutMinimum(patience, smoothing)
        self.held: torch.Tensor | None = None  # (1, 1, h, w) bool: the held-out positions of the observation

    def setup(self, trainer: pl.Trainer, module, stage: str) -> None:
        self.held = withhold_pixels(module, self.held_out, self.seed)

    def on_train_start(self, trainer: pl.Trainer, module) -> None:
        module.outputs.rule = self.name
        self.held = self.held.to(module.device)

    def on_train_batch_end(self, trainer: pl.Trainer, module, outputs, batch, batch_idx: int) -> None:
        if outputs is None or not any(outputs["valid"]):  # an undone step brings no new output
            return
        if module.hparams.exp_weight is None:
            (error,), error_avg = held_out_errors(module, self.held, outputs["output"]), None
        else:
            error, error_avg = held_out_errors(module, self.held, outputs["output"], outputs["output_avg"])
        new_output, new_average = self.detector.update(error, error_avg, module.outputs.step)
        errors = [error.mean()] + ([] if error_avg is None else [error_avg.mean()])
        flags = [new_output.any(), torch.zeros((), dtype=torch.bool) if new_average is None else new_average.any()]
        flags.append(self.detector.stopped.all())
        values = torch.cat([torch.stack([flag.to(error.device) for flag in flags]).double(), torch.stack(errors)])
        any_output, any_average, done, *means = values.tolist()  # one host sync
        for name, value in zip(("psnr_held_out", "psnr_held_out_avg"), means, strict=False):
            module.log(name, psnr_from_mse(value))
        if any_output:
            module.outputs.keep(new_output, ("output",))
        if any_average:
            module.outputs.keep(new_average, ("output_avg",))
        if done:
            steps = ", ".join(str(step) for step in self.detector.output.best_step.tolist())
            stop(
                trainer,
                module,
                f"{self.name}: the held-out pixels' error was lowest at step {steps} and not lower in the "
                f"{self.detector.patience} steps after",
            )

    def state_dict(self) -> dict:
        return {"detector": self.detector.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.detector.load_state_dict(state_dict["detector"])


class OracleStopping(pl.Callback):
    """Keeps the output at the best `metric` against the ground truth (checked every `every` steps) and
    stops after `patience` steps without a better one (null: runs the whole budget)."""

    def __init__(self, metric: str, every: int, patience: int | None):
        if metric not in ("psnr", "psnr_avg"):
            raise InputError(f"the oracle watches psnr or psnr_avg, not {metric!r}")
        self.metric, self.every, self.patience = metric, every, patience
        self.best, self.best_step = -float("inf"), 0

    def on_train_start(self, trainer: pl.Trainer, module) -> None:
        if module.ground_truth is None:
            raise InputError("stopping=oracle needs a ground truth: a synthetic run, or ground_truth=PATH")
        if self.metric == "psnr_avg" and module.hparams.exp_weight is None:
            raise InputError("stopping.metric=psnr_avg needs output averaging (task.exp_weight)")
        module.outputs.rule = "oracle (reads the ground truth: a bound, not a restoration)"

    def on_train_batch_end(self, trainer: pl.Trainer, module, outputs, batch, batch_idx: int) -> None:
        step = trainer.global_step
        if outputs is None or step % self.every:
            return
        images = outputs["output_avg"] if self.metric == "psnr_avg" else outputs["output"]
        score = psnr(images.mean(0, keepdim=True), module.ground_truth)
        if score > self.best:
            self.best, self.best_step = score, step
            module.outputs.keep(torch.ones(len(images), dtype=torch.bool))
        if self.patience is not None and step - self.best_step >= self.patience:
            stop(
                trainer,
                module,
                f"{module.outputs.rule}: best {self.metric} {self.best:.2f} dB at step {self.best_step}, none "
                f"better in the {self.patience} steps after",
            )

    def state_dict(self) -> dict:
        return {"best": self.best, "best_step": self.best_step}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best, self.best_step = state_dict["best"], state_dict["best_step"]
