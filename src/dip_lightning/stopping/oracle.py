"""The oracle (stopping=oracle), for research only: it reads the ground truth, so its result is a bound on
what any stopping rule could reach, not a restoration."""

import torch

from dip_lightning.errors import InputError
from dip_lightning.fitting.metrics import psnr
from dip_lightning.limits import check_limits, integer, one_of, optional
from dip_lightning.stopping.criterion import Decision, Fit, StoppingCriterion

LABEL = "oracle (reads the ground truth: a bound, not a restoration)"


class BestAgainstGroundTruth(StoppingCriterion):
    """Keeps the output and its average at the best `metric` against the ground truth (checked every
    `every` steps) and stops after `patience` steps without a better one (None: runs the whole budget)."""

    limits = {"metric": one_of("psnr_avg", "psnr"), "every": integer(1), "patience": optional(integer(1))}

    def __init__(self, metric: str, every: int, patience: int | None):
        check_limits(self, "stopping.", metric=metric, every=every, patience=patience)
        self.metric, self.every, self.patience = metric, every, patience
        self.best, self.best_step = -float("inf"), 0
        self.ground_truth: torch.Tensor | None = None

    def start(self, fit: Fit) -> str:
        if fit.ground_truth is None:
            raise InputError("stopping=oracle needs a ground truth: a synthetic run, or ground_truth=PATH")
        if self.metric == "psnr_avg" and fit.outputs.exp_weight is None:
            raise InputError("stopping.metric=psnr_avg needs output averaging (task.exp_weight)")
        self.ground_truth = fit.ground_truth
        return LABEL

    def decide(self, step: int, output: torch.Tensor, output_avg: torch.Tensor, ending: bool) -> Decision:
        if step % self.every:
            return Decision()
        images = output_avg if self.metric == "psnr_avg" else output
        score = psnr(images.mean(0, keepdim=True), self.ground_truth)  # a host sync: the oracle is research only
        decision = Decision()
        if score > self.best:
            self.best, self.best_step = score, step
            everyone = torch.ones(len(images), dtype=torch.bool, device=images.device)
            decision = Decision(keep_output=everyone, keep_average=everyone)
        decision.stop = self.patience is not None and step - self.best_step >= self.patience
        return decision

    def reason(self) -> str:
        return (
            f"{LABEL}: best {self.metric} {self.best:.2f} dB at step {self.best_step}, none better in the "
            f"{self.patience} steps after"
        )

    def state_dict(self) -> dict:
        return {"best": self.best, "best_step": self.best_step}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_step = state["best"], state["best_step"]
