"""Stopping rules for a DIP fit, as Lightning callbacks chosen by `stopping=...`:

- `EarlyStopping`: ES-WMV / ES-EMV, without ground truth: the output's variance over recent steps is
  lowest near the peak of quality; the output (and its average) at that step is the run's result, and
  the run stops once no lower variance has come for `patience` steps. Each restart is watched on its own.
- `OracleStopping`: for research only, it reads the ground truth: the result is the output at the best
  PSNR against it (a bound on what any stopping rule could reach, not a restoration)."""

from collections.abc import Callable

import pytorch_lightning as pl
import torch

from dip_lightning.errors import InputError
from dip_lightning.metrics import psnr
from dip_lightning.stopping import VarianceStopping


class EarlyStopping(pl.Callback):
    def __init__(self, name: str, detector: Callable[..., VarianceStopping], seed: int):
        """detector: the detector's settings (a partial); `seed` draws its pixel subset, if any."""
        self.name = name
        self.detector = detector(generator=torch.Generator().manual_seed(seed + 2))

    def on_train_start(self, trainer: pl.Trainer, module) -> None:
        module.stop_rule = self.name

    def on_train_batch_end(self, trainer: pl.Trainer, module, outputs, batch, batch_idx: int) -> None:
        if outputs is None or not any(outputs["valid"]):  # an undone step brings no new output
            return
        new_best = self.detector.update(outputs["output"])
        chosen, done = torch.stack([new_best.any(), self.detector.stopped.all()]).tolist()  # one host sync
        if chosen:
            module.keep(new_best)
        if done:
            steps = ", ".join(str(step) for step in self.detector.best_step.tolist())
            module.stopped(
                f"{self.name}: the output's variance was lowest at step {steps} and not lower in the "
                f"{self.detector.patience} steps after"
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
        module.stop_rule = "oracle (reads the ground truth: a bound, not a restoration)"

    def on_train_batch_end(self, trainer: pl.Trainer, module, outputs, batch, batch_idx: int) -> None:
        step = trainer.global_step
        if outputs is None or step % self.every:
            return
        images = outputs["output_avg"] if self.metric == "psnr_avg" else outputs["output"]
        score = psnr(images.mean(0, keepdim=True), module.ground_truth)
        if score > self.best:
            self.best, self.best_step = score, step
            module.keep(torch.ones(len(images), dtype=torch.bool))
        if self.patience is not None and step - self.best_step >= self.patience:
            module.stopped(
                f"{module.stop_rule}: best {self.metric} {self.best:.2f} dB at step {self.best_step}, none "
                f"better in the {self.patience} steps after"
            )

    def state_dict(self) -> dict:
        return {"best": self.best, "best_step": self.best_step}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best, self.best_step = state_dict["best"], state_dict["best_step"]
