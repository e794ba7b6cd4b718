"""The one LightningModule of every task: theta* = argmin E(A(x_theta); y) + R(x_theta), where x_theta is
the parametrisation (the deep prior f_theta(z), or the pixels), A and y come from the task's physics,
and E + R is the loss. Stopping early returns the restoration."""

import math
from collections.abc import Callable
from dataclasses import replace

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader

from dip_lightning.data.photo import PhotoFormat
from dip_lightning.errors import InputError
from dip_lightning.fitting.backtracking import Backtracking
from dip_lightning.fitting.metrics import psnr, psnr_from_mse, ssim
from dip_lightning.fitting.outputs import FitOutputs
from dip_lightning.physics.physics import Physics
from dip_lightning.physics.problem import make_problem
from dip_lightning.priors.inputs import FixedInput, input_generator
from dip_lightning.priors.restarts import Restarts

MAX_RESTORES_IN_A_ROW = 50  # backtracking steps undone one after another before the run counts as diverged
CHECKPOINT_LAYOUT = 3  # 1: before FitOutputs; 2: before the one stopping callback (its state moved): not resumable


class DeepImagePrior(pl.LightningModule):
    """Fit the parametrisation `prior(channels)` to one observation.

    Give either `image` (a clean image that the physics degrades: a synthetic experiment with ground
    truth) or `observed` (an already corrupted image), optionally with its `ground_truth`, which is used
    for scoring only, never by the fit. The "dataset" is the prior's fixed input z, served once a step.
    With `restarts` N > 1, N independently initialised priors are fitted at once and the restoration is
    the mean of theirs (the paper's "averaged over runs"). The whole image is restored, whatever its size
    (the prior draws a canvas around it); `crop_to_stride` crops it as the reference does instead.
    `photo_format` is how the picture was stored (its mode, depth, alpha, ICC profile): the fit never reads
    it, the record writes the restoration back so.

    What is logged, under the same names as results.json (the CSV, the progress bar): `psnr_observed`
    compares A(x) with y at every step; `psnr` / `ssim` score x, the output of that step, against the
    ground truth and `psnr_avg` / `ssim_avg` its exponential average, every `eval_every` steps and at the
    last. results.json scores the restoration the run returns: the output at the last step, or, when a
    stopping rule chose a step (`keep`), the output and average at that step.
    """

    def __init__(
        self,
        *,
        name: str,
        physics: Physics,
        prior: Callable[..., nn.Module],
        loss: nn.Module,
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
        restarts: int,
        restarts_batched: bool,
        crop_to_stride: bool = False,
        photo_format: PhotoFormat | None = None,
    ):
        super().__init__()
        self.save_hyperparameters("name", "num_iter", "exp_weight", "backtrack_db", "eval_every", "seed", "restarts")
        if num_iter < 1 or eval_every < 1 or restarts < 1:
            raise InputError(
                f"num_iter, eval_every and restarts must be >= 1, got {num_iter}, {eval_every} and {restarts}"
            )
        if exp_weight is not None and not 0 <= exp_weight < 1:
            raise InputError(f"exp_weight must be in [0, 1) or null, got {exp_weight}")
        self.automatic_optimization = False
        self.name = name
        self.physics, self.loss = physics, loss
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        channels = (image if image is not None else observed).shape[0]
        with torch.random.fork_rng(devices=[]):  # the initial weights depend on `seed` alone
            torch.manual_seed(seed)
            priors = [prior(channels=channels) for _ in range(restarts)]
        self.prior = priors[0] if restarts == 1 else Restarts(priors, batched=restarts_batched)
        generator = torch.Generator().manual_seed(seed)  # the degradation (z has its own: input_generator)
        problem = make_problem(
            physics,
            image,
            observed,
            ground_truth,
            self.prior.total_stride,
            self.prior.min_input_size,
            generator,
            crop_to_stride,
        )
        self.crop = problem.crop
        alpha = photo_format.alpha if photo_format is not None else None
        self.photo_format = photo_format if alpha is None else replace(photo_format, alpha=problem.crop(alpha))
        self.register_buffer("observed", problem.observed)
        self.register_buffer("ground_truth", problem.ground_truth)
        self.prior.prepare(*problem.restored_size, problem.crop, input_generator(seed), problem.observed)
        self.num_params = sum(p.numel() for p in self.prior.parameters())
        self.outputs = FitOutputs(restarts, channels, *problem.restored_size, exp_weight)
        self.register_buffer("fit_weight", None, persistent=False)  # see withhold
        self.backtracking = [Backtracking(backtrack_db) for _ in range(restarts)] if backtrack_db is not None else None
        self.noise_generator: torch.Generator | None = None
        self.resumed_state: dict | None = None
        # the best score against the ground truth seen so far, and its step: never used by the fit
        self.best = {name: (-math.inf, 0) for name in ("psnr", "psnr_avg")}
        self.scored_step = -1  # the last step whose scores were logged

    @property
    def budget(self) -> int:
        """The steps the fit may run: its trainer's max_steps (the task's num_iter)."""
        return self.trainer.max_steps

    # ----- the loop -------------------------------------------------------------------------------
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.prior(z)

    def on_fit_start(self) -> None:
        self.noise_generator = torch.Generator(device=self.device).manual_seed(self.hparams.seed + 1)
        if self.resumed_state is not None:  # a checkpoint was loaded: go on from its state
            self.noise_generator.set_state(self.resumed_state["noise_generator"])
            for guard in self.backtracking or []:
                if guard.good is not None:
                    guard.good = [p.to(self.device) for p in guard.good]
            self.resumed_state = None

    def train_dataloader(self) -> DataLoader:
        return DataLoader(FixedInput(self.prior.input, self.hparams.num_iter), batch_size=None)

    def training_step(self, z: torch.Tensor, batch_idx: int) -> dict[str, torch.Tensor] | None:
        optimizer = self.optimizers()
        step = {}

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            z_step = self.prior.perturb(z, self.noise_generator)  # drawn once: every evaluation sees the same

            def network(delta: torch.Tensor | None) -> torch.Tensor:  # delta: a perturbation of the observation fed
                return self.prior.render(z_step if delta is None else z_step + self.prior.place(delta))  # (SURE)

            terms = self.loss(network, self.observed, self.physics.operator, self.noise_generator, self.fit_weight)
            self.manual_backward(terms.total)
            parts = [terms.total[None], terms.data, *(part[None] for part in terms.parts.values())]
            values = torch.cat([part.detach().float() for part in parts]).tolist()  # the one host sync
            step.update(output=terms.output.detach(), values=values, parts=list(terms.parts))
            step["valid"] = self.check_step(values[0], values[1 : 1 + len(terms.data)])
            return terms.total

        optimizer.step(closure=closure)
        if (scheduler := self.lr_schedulers()) is not None:
            scheduler.step()
        valid = step["valid"]
        if any(valid):
            self.outputs.update(step["output"].float(), valid, self.global_step)
        self.log_step(step["values"], step["parts"], all(valid))
        return {"output": self.outputs.output, "output_avg": self.outputs.output_avg, "valid": valid}

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.trainer.should_stop:  # a stopping rule ended the fit here: the curves include its last step
            self.score_step()

    def check_step(self, total: float, data: list[float]) -> list[bool]:
        """Which fits' outputs of this step count; backtracking undoes a fit whose PSNR against the
        observation dropped (or whose loss is not finite); a non-finite step nothing can undo stops the run.
        A fit is judged on its own data term; a non-finite total whose data terms are all finite (a
        regulariser's NaN) counts against every fit."""
        finite = math.isfinite(total)
        blame_all = not finite and all(math.isfinite(value) for value in data)
        if self.backtracking is None:
            if not finite:
                raise FloatingPointError(
                    f"the loss became {total} at step {self.global_step + 1}: lower the learning rate, "
                    "use trainer.precision=32-true, or set task.backtrack_db to recover automatically"
                )
            return [True] * len(data)
        groups = self.prior.restart_parameters()
        valid = []
        for guard, value, parameters in zip(self.backtracking, data, groups, strict=True):
            restored = guard.check(math.nan if blame_all else value, parameters)
            if not restored and (blame_all or not math.isfinite(value)):
                raise FloatingPointError(
                    f"the loss became {total} at step {self.global_step + 1} before any good step to go back to: "
                    "lower the learning rate"
                )
            if guard.in_a_row >= MAX_RESTORES_IN_A_ROW:
                raise FloatingPointError(
                    f"diverged: backtracking undid {MAX_RESTORES_IN_A_ROW} steps in a row (up to step "
                    f"{self.global_step + 1}): lower the learning rate (optimizer.lr)"
                )
            valid.append(not restored)
        if not finite:  # stacked restarts share gradient tensors: zero the slices of the undone fits
            for parameter in self.prior.parameters():
                if parameter.grad is not None:
                    torch.nan_to_num_(parameter.grad, nan=0.0, posinf=0.0, neginf=0.0)
        return valid

    def log_step(self, values: list[float], parts: list[str], valid: bool) -> None:
        last = self.global_step >= self.trainer.max_steps
        if last:
            self.trainer.should_stop = True  # so that the loggers write the last step, whatever its number
        self.log("step", float(self.global_step))  # the loggers' step column: steps done, as results.json
        if valid:  # an undone step's loss is not a result (it may be NaN)
            data = values[1 : len(values) - len(parts)]
            self.log("loss", values[0])
            for name, value in zip(parts, values[len(values) - len(parts) :], strict=True):
                self.log(f"loss_{name}", value)
            if parts:
                self.log("loss_data", sum(data) / len(data))
            self.log("psnr_observed", psnr_from_mse(sum(data) / len(data)), prog_bar=True)
        if self.global_step % self.hparams.eval_every == 0 or last or self.trainer.should_stop:
            self.score_step()

    def score_step(self) -> None:
        """Log this step's scores against the ground truth (once a step), and note the best ones."""
        outputs = self.outputs
        if self.ground_truth is None or outputs.output is None or self.scored_step == self.global_step:
            return
        self.scored_step = self.global_step
        for name, value in self.scores(outputs.output, outputs.output_avg).items():
            self.log(name, value, prog_bar=name.startswith("psnr"))
            if name in self.best and value > self.best[name][0]:
                self.best[name] = (value, outputs.step)

    def scores(self, output: torch.Tensor, output_avg: torch.Tensor) -> dict[str, float]:
        """The restoration (the mean over the fits) and its average against the ground truth."""
        restored = output.mean(0, keepdim=True)
        scores = {"psnr": psnr(restored, self.ground_truth), "ssim": ssim(restored, self.ground_truth)}
        if self.hparams.exp_weight is not None:
            averaged = output_avg.mean(0, keepdim=True)
            scores["psnr_avg"] = psnr(averaged, self.ground_truth)
            scores["ssim_avg"] = ssim(averaged, self.ground_truth)
        return scores

    def withhold(self, held: torch.Tensor) -> None:
        """Leave the observation's `held` positions ((1, 1, h, w) bool) out of the data term: a stopping
        rule measures the fit's error there. Called before the fit starts, and again with fewer (or none) to
        give them back (a tensor on the fit's device: no host synchronisation)."""
        self.fit_weight = (~held).float().to(self.observed.device)

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.prior.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer)}

    # ----- what a run reports ---------------------------------------------------------------------
    def restoration(self) -> dict[str, torch.Tensor]:
        """The restoration the run returns (the mean over its fits), and its exponential average."""
        result = self.outputs.result()
        if result is None:
            return {}
        images = {"restored": result[0].mean(0, keepdim=True).clamp(0, 1)}
        if self.hparams.exp_weight is not None:
            images["restored_avg"] = result[1].mean(0, keepdim=True)
        return images

    def fixed_images(self) -> dict[str, torch.Tensor]:
        """The images that do not change while the run fits: observation, ground truth, mask, input."""
        images = {"observation": self.observed, **self.physics.operator.images(), **self.prior.images()}
        if self.ground_truth is not None:
            images["ground_truth"] = self.ground_truth
        return images

    def record(self) -> dict:
        """The facts of this run for results.json (the scores are the results writer's)."""
        height, width = self.outputs.output_avg.shape[-2:]
        record = {
            "task": self.name,
            "num_params": self.num_params,
            "steps": self.global_step,
            "num_iter": self.hparams.num_iter,
            "restarts": self.hparams.restarts,
            "size": [height, width],
            "crop": self.crop.as_dict(),
            "backtracks": sum(guard.restores for guard in self.backtracking) if self.backtracking else None,
            "stopping": self.outputs.rule,  # the stopping rule, or null: the task's budget
        }
        if (kept := self.outputs.kept_steps()) is not None:
            steps, steps_avg = kept
            record["stop_step"] = steps[0] if len(steps) == 1 else steps
            if self.hparams.exp_weight is not None:
                record["stop_step_avg"] = steps_avg[0] if len(steps_avg) == 1 else steps_avg
            no_stop = f"{self.outputs.rule}: no stop in the {self.global_step} of {self.hparams.num_iter} steps run"
            record["stop_reason"] = self.outputs.stop_reason or no_stop
        return record

    def best_scores(self) -> dict[str, float | int | None]:
        """best_psnr, best_psnr_step, best_psnr_avg, best_psnr_avg_step: the highest score against the
        ground truth among the evaluated steps (every eval_every), or null without ground truth."""
        scores = {}
        for name, (value, step) in self.best.items():
            seen = self.ground_truth is not None and step > 0
            scores[f"best_{name}"] = value if seen else None
            scores[f"best_{name}_step"] = step if seen else None
        return scores

    # ----- checkpoints ----------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """What a resumed run needs beyond the weights, buffers, optimizer and loops that Lightning saves."""
        checkpoint["dip"] = {
            "layout": CHECKPOINT_LAYOUT,
            "noise_generator": self.noise_generator.get_state(),
            "best": {name: list(value) for name, value in self.best.items()},
            "backtracking": [guard.state_dict() for guard in self.backtracking] if self.backtracking else None,
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["dip"]
        if state.get("layout") != CHECKPOINT_LAYOUT:
            raise InputError(
                f"this checkpoint was written by an older dip-lightning (layout {state.get('layout', 1)}, this one "
                f"reads {CHECKPOINT_LAYOUT}) and cannot be resumed: "
                "start the run again"
            )
        self.best = {name: tuple(value) for name, value in state["best"].items()}
        for guard, guard_state in zip(self.backtracking or [], state["backtracking"] or [], strict=True):
            guard.load_state_dict(guard_state)
        self.resumed_state = state
