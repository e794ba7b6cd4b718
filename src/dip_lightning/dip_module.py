"""The one LightningModule of every task: theta* = argmin E(A(x_theta); y) + R(x_theta), where x_theta is
the parametrisation (the deep prior f_theta(z), or the pixels), A and y come from the task's physics,
and E + R is the loss. Stopping early returns the restoration."""

import math
from collections.abc import Callable

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader

from dip_lightning.backtracking import Backtracking
from dip_lightning.errors import InputError
from dip_lightning.inputs import FixedInput
from dip_lightning.loss import Loss
from dip_lightning.metrics import psnr, psnr_from_mse, ssim
from dip_lightning.physics.physics import Physics
from dip_lightning.problem import make_problem

MAX_RESTORES_IN_A_ROW = 50  # backtracking steps undone one after another before the run counts as diverged


class DeepImagePrior(pl.LightningModule):
    """Fit the parametrisation `prior(channels)` to one observation.

    Give either `image` (a clean image that the physics degrades: a synthetic experiment with ground
    truth) or `observed` (an already corrupted image), optionally with its `ground_truth`, which is used
    for scoring only, never by the fit. The "dataset" is the prior's fixed input z, served once a step.

    What is logged and recorded, under the same names (results.json, the CSV, the progress bar):
    `psnr_observed` compares A(x) with y at every step; `psnr` / `ssim` score the restoration x (the
    parametrisation's output at that step, the one the step fitted) against the ground truth and
    `psnr_avg` / `ssim_avg` its exponential average, every `eval_every` steps and at the last.
    """

    def __init__(
        self,
        *,
        name: str,
        physics: Physics,
        prior: Callable[..., nn.Module],
        loss: Loss,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None,
        image: torch.Tensor | None = None,
        observed: torch.Tensor | None = None,
        ground_truth: torch.Tensor | None = None,
        num_iter: int,
        exp_weight: float | None,
        backtrack_db: float | None,
        eval_every: int,
        seed: int,
    ):
        super().__init__()
        self.save_hyperparameters("name", "num_iter", "exp_weight", "backtrack_db", "eval_every", "seed")
        if num_iter < 1 or eval_every < 1:
            raise InputError(f"num_iter and eval_every must be >= 1, got {num_iter} and {eval_every}")
        if exp_weight is not None and not 0 <= exp_weight < 1:
            raise InputError(f"exp_weight must be in [0, 1) or null, got {exp_weight}")
        self.automatic_optimization = False
        self.name = name
        self.physics, self.loss = physics, loss
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        channels = (image if image is not None else observed).shape[0]
        with torch.random.fork_rng(devices=[]):  # the initial weights depend on `seed` alone
            torch.manual_seed(seed)
            self.prior = prior(channels=channels)
        generator = torch.Generator().manual_seed(seed)  # the degradation, then z
        problem = make_problem(
            physics, image, observed, ground_truth, self.prior.total_stride, self.prior.min_input_size, generator
        )
        self.crop = problem.crop
        self.register_buffer("observed", problem.observed)
        self.register_buffer("ground_truth", problem.ground_truth)
        self.prior.prepare(*problem.restored_size, problem.crop, generator)
        self.num_params = sum(p.numel() for p in self.prior.parameters())
        self.register_buffer("output_avg", torch.zeros(1, channels, *problem.restored_size))
        self.output: torch.Tensor | None = None  # x at the last step: the restoration
        self.output_step = 0  # the step that made it (an undone step keeps the one before)
        self.backtracking = Backtracking(backtrack_db) if backtrack_db is not None else None
        self.noise_generator: torch.Generator | None = None
        self.resumed_state: dict | None = None
        # the best score against the ground truth seen so far, and its step: never used by the fit
        self.best = {name: (-math.inf, 0) for name in ("psnr", "psnr_avg")}

    # ----- the loop -------------------------------------------------------------------------------
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.prior(z)

    def on_fit_start(self) -> None:
        self.noise_generator = torch.Generator(device=self.device).manual_seed(self.hparams.seed + 1)
        if self.resumed_state is not None:  # a checkpoint was loaded: go on from its state
            self.noise_generator.set_state(self.resumed_state["noise_generator"])
            if self.resumed_state["output"] is not None:
                self.output = self.resumed_state["output"].to(self.device)
                self.output_step = self.resumed_state["output_step"]
            if self.backtracking is not None and self.backtracking.good is not None:
                self.backtracking.good = [p.to(self.device) for p in self.backtracking.good]
            self.resumed_state = None

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """What a resumed run needs beyond the weights, buffers, optimizer and loops that Lightning saves."""
        checkpoint["dip"] = {
            "noise_generator": self.noise_generator.get_state(),
            "output": self.output,
            "output_step": self.output_step,
            "best": {name: list(value) for name, value in self.best.items()},
            "backtracking": self.backtracking.state_dict() if self.backtracking is not None else None,
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["dip"]
        self.best = {name: tuple(value) for name, value in state["best"].items()}
        if self.backtracking is not None and state["backtracking"] is not None:
            self.backtracking.load_state_dict(state["backtracking"])
        self.resumed_state = state

    def train_dataloader(self) -> DataLoader:
        return DataLoader(FixedInput(self.prior.input, self.hparams.num_iter), batch_size=None)

    def training_step(self, z: torch.Tensor, batch_idx: int) -> dict[str, torch.Tensor] | None:
        optimizer = self.optimizers()
        step = {}

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            x = self.prior(z, self.noise_generator)
            terms = self.loss(x, self.observed, self.physics.operator)
            self.manual_backward(terms.total)
            values = torch.stack([t.detach() for t in terms if t is not None]).tolist()  # the one host sync
            finite = all(math.isfinite(value) for value in values)
            restored = self.backtracking is not None and self.backtracking.check(
                values[1] if finite else math.nan, list(self.prior.parameters())
            )
            if not finite and not restored:
                raise FloatingPointError(
                    f"the loss became {values[0]} at step {self.global_step + 1}: lower the learning rate, "
                    "use trainer.precision=32-true, or set task.backtrack_db to recover automatically"
                )
            step.update(output=x.detach(), values=values, restored=restored)
            return terms.total

        optimizer.step(closure=closure)
        if (scheduler := self.lr_schedulers()) is not None:
            scheduler.step()
        if step["restored"]:  # an undone step is no result: keep the last good output and average
            if self.backtracking.in_a_row >= MAX_RESTORES_IN_A_ROW:
                raise FloatingPointError(
                    f"diverged: backtracking undid {MAX_RESTORES_IN_A_ROW} steps in a row (up to step "
                    f"{self.global_step}): lower the learning rate (optimizer.lr)"
                )
            return None

        first = self.output is None
        self.output, self.output_step = step["output"].float(), self.global_step
        if self.hparams.exp_weight is not None:
            if first:
                self.output_avg.copy_(self.output)
            else:
                self.output_avg.lerp_(self.output, 1 - self.hparams.exp_weight)
        self.log_step(step["values"])
        return {"output": self.output, "output_avg": self.output_avg}

    def log_step(self, values: list[float]) -> None:
        last = self.global_step >= self.trainer.max_steps
        if last:
            self.trainer.should_stop = True  # so that the loggers write the last step, whatever its number
        self.log("step", float(self.global_step))  # the loggers' step column: steps done, as results.json
        self.log("loss", values[0])
        if len(values) > 2:
            self.log("loss_data", values[1])
            self.log("loss_regularizer", values[2])
        self.log("psnr_observed", psnr_from_mse(values[1]), prog_bar=True)
        if self.ground_truth is not None and (self.global_step % self.hparams.eval_every == 0 or last):
            for name, value in self.scores().items():
                self.log(name, value, prog_bar=name.startswith("psnr"))

    def scores(self) -> dict[str, float]:
        """The restoration (and its average) against the ground truth; the best of them so far is kept."""
        scores = {"psnr": psnr(self.output, self.ground_truth), "ssim": ssim(self.output, self.ground_truth)}
        if self.hparams.exp_weight is not None:
            scores["psnr_avg"] = psnr(self.output_avg, self.ground_truth)
            scores["ssim_avg"] = ssim(self.output_avg, self.ground_truth)
        for name, (value, _) in self.best.items():
            if name in scores and scores[name] > value:
                self.best[name] = (scores[name], self.output_step)
        return scores

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.prior.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer)}

    # ----- what a run reports ---------------------------------------------------------------------
    def restoration(self) -> dict[str, torch.Tensor]:
        """The restoration so far: x at the last step, and the exponential average of x when it is on."""
        if self.output is None:
            return {}
        images = {"restored": self.output.clamp(0, 1)}
        if self.hparams.exp_weight is not None:
            images["restored_avg"] = self.output_avg
        return images

    def fixed_images(self) -> dict[str, torch.Tensor]:
        """The images that do not change while the run fits: observation, ground truth, mask, input."""
        images = {"observation": self.observed, **self.physics.operator.images(), **self.prior.images()}
        if self.ground_truth is not None:
            images["ground_truth"] = self.ground_truth
        return images

    def record(self) -> dict:
        """The facts of this run for results.json (the scores are the results writer's)."""
        height, width = self.output_avg.shape[-2:]
        return {
            "task": self.name,
            "num_params": self.num_params,
            "steps": self.global_step,
            "num_iter": self.hparams.num_iter,
            "size": [height, width],
            "crop": self.crop.as_dict(),
            "backtracks": self.backtracking.restores if self.backtracking is not None else None,
        }

    def best_scores(self) -> dict[str, float | int | None]:
        """best_psnr, best_psnr_step, best_psnr_avg, best_psnr_avg_step: the highest score against the
        ground truth among the evaluated steps (every eval_every), or null without ground truth."""
        scores = {}
        for name, (value, step) in self.best.items():
            seen = self.ground_truth is not None and step > 0
            scores[f"best_{name}"] = value if seen else None
            scores[f"best_{name}_step"] = step if seen else None
        return scores
